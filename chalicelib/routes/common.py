"""What every route module shares: the Routes blueprint (request helpers, the services app.py gives it,
the one place errors become JSON answers) and the JSON responses."""

from __future__ import annotations

import functools
import json
import time
import traceback
from typing import TYPE_CHECKING, Callable

from chalice import Blueprint, Chalice, Response

from chalicelib.access.auth import authenticate
from chalicelib.access.principal import STATS, Principal
from chalicelib.core.deadline import within
from chalicelib.core.errors import answer_for
from chalicelib.core.log import log, set_context

if TYPE_CHECKING:
    from chalicelib.services import Services

JSON = "application/json"
# GET routes take any Content-Type: Chalice would answer a GET with an odd one by its own 415.
ANY_CONTENT = ["*/*"]


def json_response(status_code: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status_code, headers={"Content-Type": JSON, **(headers or {})})


def answer(status_code: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    # Serialised here, inside answers_json: a body Chalice could not serialise would be its own 500.
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status_code,
                    headers={"Content-Type": JSON, **(headers or {})})


def now_ms() -> int:
    return int(time.time() * 1000)


class Routes(Blueprint):
    """A blueprint whose routes reach the request and the services through it. Its current_request
    exists only once registered: app.py calls register_with(app, get_services) at import."""

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self._get_services: Callable[[], Services] | None = None

    def register_with(self, app: Chalice, get_services: Callable[[], Services]) -> None:
        self._get_services = get_services
        app.register_blueprint(self)

    def services(self) -> Services:
        if self._get_services is None:
            raise RuntimeError(f"routes of {self._import_name} used before app.py registered them")
        return self._get_services()

    def header(self, name: str) -> str | None:
        return self.current_request.headers.get(name)

    def query(self) -> dict[str, list[str]]:
        """Every query parameter with all its values, so a repeated one is seen (and refused)."""
        query = self.current_request.query_params
        return {name: query.getlist(name) for name in query} if query else {}

    def caller(self, scope: str = STATS) -> Principal:
        """Who sends the request (a 401 if no one we know), with `scope` on some site (else a 403); the
        route then asks caller.require(site, scope) of the site it reads, before it reads."""
        services = self.services()
        principal = authenticate(self.header("authorization"), services.settings.api_token, services.access_store,
                                 now_ms())
        return principal.require_scope(scope)

    def answers_json(self, view):
        """The one place a route's errors become answers, always in LiveInsight's JSON error shape: an
        ApiError its own, StoreUnavailable a 503 with Retry-After, anything else a logged 500."""

        @functools.wraps(view)
        def run(**path_parameters) -> Response:
            try:
                set_context(request_id=(self.current_request.context or {}).get("requestId", ""))
                # Reads share the request deadline too: a stalled DynamoDB is a 503, never a gateway 504.
                with within(self.services().settings.request_deadline_seconds):
                    result = view(**path_parameters)
                return result if isinstance(result, Response) else answer(200, result)
            except Exception as exc:  # noqa: BLE001 - every failure must answer in our JSON shape
                error = answer_for(exc)
                if error.status_code >= 500:
                    log("ERROR", f"{view.__name__} not answered: {error.code}", error=type(exc).__name__,
                        detail=str(exc)[:500],
                        trace=traceback.format_exc(limit=5) if error.status_code == 500 else "")
                return answer(error.status_code, error.body(), error.headers)

        return run

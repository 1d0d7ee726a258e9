"""The edges of POST /api/v2/query: the request's JSON, Plausible's error shape, and a lake answer's
error as the 400 or 503 it maps to."""

from __future__ import annotations

import json

from chalicelib.core.errors import ApiError

# Lake request fields -> the Plausible field a lake error is about.
_LAKE_FIELDS = {"site": "site_id", "time_range_ms": "date_range", "date_range": "date_range", "limit":
                "pagination", "offset": "pagination"}


def invalid(part: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{part}: {message}", field=part)


def checked(answer: dict) -> dict:
    """A lake answer, or the ApiError its error maps to (400 stays 400, an engine failure is a 503)."""
    status = answer.get("status")
    if status is None:
        return answer
    error = answer.get("error") or {}
    if status == 400:
        part = _LAKE_FIELDS.get(error.get("field"), error.get("field") or "query")
        message = error.get("message", "invalid query")
        lake_field = error.get("field") or ""
        if lake_field and message.startswith(f"{lake_field}:"):
            message = message[len(lake_field) + 1:].strip()
        raise invalid(part, message)
    raise ApiError(503, error.get("code", "engine_failed"), "the query could not be answered; try again shortly",
                   headers={"Retry-After": "5"})


def request_body(raw: bytes | str | None) -> object:
    """The request's JSON (any Content-Type: clients differ), or a 400 saying what is wrong with it."""
    if not raw:
        raise invalid("query", "the request body is empty: send the query as JSON")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("query", f"the request body is not JSON: {exc}") from None


def error_body(error: ApiError) -> dict:
    """Plausible's error shape ({"error": "<message>"}: its clients show the string), with LiveInsight's
    code and the offending field beside it."""
    body: dict = {"error": error.message, "code": error.code}
    if error.field is not None:
        body["field"] = error.field
    return body

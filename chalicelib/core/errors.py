"""Errors that become HTTP answers. Each carries a machine-readable code and names the field;
a site or origin missing from the configuration also says where to add it."""

from __future__ import annotations

import json


class ApiError(Exception):
    """A request-level failure: nothing of the request was stored."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class InvalidEvent(Exception):
    """One event is invalid; its neighbours in a batch are still processed."""

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.code = code
        self.reason = reason


class StoreUnavailable(Exception):
    """DynamoDB could not answer after the retries: the affected events were not stored."""


RETRY_AFTER_SECONDS = 2


def answer_for(exc: Exception) -> ApiError:
    """What any exception of a route answers: an ApiError itself, DynamoDB's unavailability a 503
    to retry, anything else a 500 that says only that it is a bug (the log has the rest)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, StoreUnavailable):
        return ApiError(503, "store_unavailable", "try again shortly",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return ApiError(500, "internal_error", "LiveInsight failed to answer this request; the error is logged")


# What to change when a site or an origin is missing: the answer must reach the page's developer
# with the fix, not only the refusal. It names the request's own values, never the configured list.
def where_sites_are_configured(stage: str) -> str:
    if stage == "local":
        return ("LIVEINSIGHT_SITES (exported in the shell, or the local stage of .chalice/config.json), "
                "then restart make local")
    return f"sites_json in terraform/environments/{stage}.tfvars, then make deploy STAGE={stage}"


def forbidden_origin(origin: str, site: str, stage: str) -> ApiError:
    return ApiError(403, "forbidden_origin",
                    f"origin {origin!r} may not send events for site {site!r}: add {json.dumps(origin)} to "
                    f"the \"origins\" of site {site!r} in {where_sites_are_configured(stage)}",
                    field="Origin")


def unknown_site_reason(site: str, origin: str | None, stage: str) -> str:
    example = json.dumps({site: {"origins": [origin or "https://www.example.com"]}})[1:-1]
    return (f"site {site!r} is not configured: add {example} to {where_sites_are_configured(stage)} "
            "(GET /stats/sites with the API token lists the configured sites)")

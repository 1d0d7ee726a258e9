"""Errors that become HTTP answers. Each carries a machine-readable code and names the field."""

from __future__ import annotations


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

"""The event model: decoding a request body and validating each event a website sends.

Validation is strict (unknown fields are rejected, never stored) and every failure names its field,
so a developer integrating LiveInsight sees exactly what to fix.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError, InvalidEvent
from .settings import Settings

MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS_PER_REQUEST = 100
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain")

PAGE_VIEW = "page_view"
EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_URL_CHARS = 2048
MAX_USER_ID_CHARS = 128
MAX_TITLE_CHARS = 512
MAX_PROPERTIES = 30
PROPERTY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_PROPERTY_VALUE_CHARS = 512
# Numbers DynamoDB stores exactly and JavaScript can represent.
MAX_PROPERTY_NUMBER = 2**53

KNOWN_FIELDS = frozenset(
    {"event_type", "page_url", "user_id", "event_id", "timestamp", "referrer", "title", "site",
     "properties"}
)


@dataclass(frozen=True)
class Event:
    """An event as the client sent it, validated and normalised (before server enrichment)."""

    event_type: str
    site: str
    page_url: str | None = None
    user_id: str | None = None
    event_id: str | None = None  # None: the server makes one (and no de-duplication is possible)
    client_time_ms: int | None = None
    referrer: str | None = None
    title: str | None = None
    properties: dict[str, str | int | float | bool | None] = field(default_factory=dict)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_body(raw: bytes, content_type: str | None) -> tuple[list[Any], bool]:
    """Returns the raw events of a request and whether it used the `{"events": [...]}` envelope."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be application/json or text/plain, got {media_type or 'none'!r}",
                       field="Content-Type")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large",
                       f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes",
                       field="body")
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid UTF-8 JSON: {exc}", field="body") from None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_shape",
                       'body must be one event object or {"events": [...]}', field="body")
    if "events" not in document:
        return [document], False
    extra = sorted(set(document) - {"events"})
    if extra:
        raise ApiError(400, "unknown_field",
                       f"unknown field {extra[0]!r} beside 'events'; a batch holds only 'events'",
                       field=extra[0])
    events = document["events"]
    if not isinstance(events, list) or not events:
        raise ApiError(400, "invalid_shape", "events must be a non-empty list of event objects",
                       field="events")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise ApiError(400, "too_many_events",
                       f"events has {len(events)} items; at most {MAX_EVENTS_PER_REQUEST} per request",
                       field="events")
    return events, True


def _string(raw: dict, name: str, max_chars: int, required: bool = False) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise InvalidEvent(name, "missing", "is required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(name, "wrong_type", "must be a string")
    if len(value) > max_chars:
        raise InvalidEvent(name, "too_long", f"is {len(value)} characters; at most {max_chars}")
    if required and not value:
        raise InvalidEvent(name, "missing", "must not be empty")
    return value


def _absolute_url(raw: dict, name: str, schemes: tuple[str, ...], required: bool) -> str | None:
    value = _string(raw, name, MAX_URL_CHARS, required)
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or not parts.hostname:
        raise InvalidEvent(name, "invalid_url",
                           f"must be an absolute URL with scheme {' or '.join(schemes)}")
    return value


def _event_id(raw: dict) -> str | None:
    value = raw.get("event_id")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent("event_id", "wrong_type", "must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidEvent("event_id", "invalid_format",
                           "must be a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427") from None


def _client_time_ms(raw: dict) -> int | None:
    value = raw.get("timestamp")
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEvent("timestamp", "wrong_type", "must be epoch milliseconds or an ISO-8601 string")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise InvalidEvent("timestamp", "invalid_format", "must be non-negative epoch milliseconds")
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise InvalidEvent("timestamp", "invalid_format",
                               "must be ISO-8601 with a time zone, such as 2026-11-26T09:30:00Z")
        return int(parsed.timestamp() * 1000)
    raise InvalidEvent("timestamp", "wrong_type", "must be epoch milliseconds or an ISO-8601 string")


def _property_value(name: str, item: Any) -> None:
    if isinstance(item, str):
        if len(item) > MAX_PROPERTY_VALUE_CHARS:
            raise InvalidEvent(name, "too_long", f"is {len(item)} characters; at most {MAX_PROPERTY_VALUE_CHARS}")
    elif isinstance(item, (int, float)) and not isinstance(item, bool):
        if abs(item) > MAX_PROPERTY_NUMBER:
            raise InvalidEvent(name, "out_of_range", f"must be within ±{MAX_PROPERTY_NUMBER}")
    elif item is not None and not isinstance(item, bool):
        raise InvalidEvent(name, "wrong_type", "must be a string, number, boolean or null (properties are flat)")


def _properties(raw: dict) -> dict:
    value = raw.get("properties")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent("properties", "wrong_type", "must be an object of scalar values")
    if len(value) > MAX_PROPERTIES:
        raise InvalidEvent("properties", "too_many", f"has {len(value)} keys; at most {MAX_PROPERTIES}")
    for key, item in value.items():
        if not PROPERTY_KEY_PATTERN.match(key):
            raise InvalidEvent(f"properties.{key}", "invalid_format",
                               "keys are 1-64 letters, digits, '_', '.', ':' or '-'")
        _property_value(f"properties.{key}", item)
    return dict(value)


def validate_event(raw: Any, settings: Settings) -> Event:
    """Validates one event object; raises InvalidEvent naming the first field at fault."""
    if not isinstance(raw, dict):
        raise InvalidEvent("event", "wrong_type", "each event must be a JSON object")
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise InvalidEvent(unknown[0], "unknown_field",
                           f"is not a known field (known: {', '.join(sorted(KNOWN_FIELDS))})")
    event_type = _string(raw, "event_type", 64, required=True)
    assert event_type is not None
    if not EVENT_TYPE_PATTERN.match(event_type):
        raise InvalidEvent("event_type", "invalid_format",
                           "must be 1-64 letters, digits, '_', '-' or '.'")
    site = _string(raw, "site", 64) or settings.default_site_id
    if site not in settings.sites:
        raise InvalidEvent("site", "unknown_site", f"site {site!r} is not configured")
    user_id = _string(raw, "user_id", MAX_USER_ID_CHARS)
    return Event(
        event_type=event_type,
        site=site,
        page_url=_absolute_url(raw, "page_url", ("http", "https"), required=event_type == PAGE_VIEW),
        user_id=user_id or None,
        event_id=_event_id(raw),
        client_time_ms=_client_time_ms(raw),
        # Apps link from android-app:// referrers (Gmail, for one), so any scheme with a host is fine.
        referrer=_absolute_url(raw, "referrer", ("http", "https", "android-app"), required=False),
        title=_string(raw, "title", MAX_TITLE_CHARS) or None,
        properties=_properties(raw),
    )

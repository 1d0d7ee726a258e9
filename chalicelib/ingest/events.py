"""The event model: decoding a request body and validating each event a website sends.

Validation is strict (unknown fields are rejected, never stored) and every failure names its field,
so a developer integrating LiveInsight sees exactly what to fix.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from chalicelib.core.errors import ApiError, InvalidEvent
from chalicelib.core.goals import PROPERTY_KEY
from chalicelib.core.settings import Settings

MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS_PER_REQUEST = 100
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain")
# A valid body nests 4 levels ({"events": [{"properties": {...}}]}); a little more lets a nested
# property be named as the invalid field. Python's decoder recurses once per level, so deeper bodies
# are refused by a linear scan before it runs.
MAX_JSON_DEPTH = 8

PAGE_VIEW = "page_view"
EVENT_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # always fullmatch: "$" would allow a final "\n"
MAX_URL_CHARS = 2048
MAX_USER_ID_CHARS = 128
MAX_TITLE_CHARS = 512
MAX_PROPERTIES = 30
PROPERTY_KEY_PATTERN = PROPERTY_KEY  # core/goals.py: goals and the site settings name keys too
MAX_PROPERTY_VALUE_CHARS = 512
# Numbers DynamoDB stores exactly and JavaScript can represent; DynamoDB stores no non-zero number
# smaller than 1e-130 (chalicelib/store/storable.py has all its rules).
MAX_PROPERTY_NUMBER = 2**53
MIN_NUMBER_MAGNITUDE = 1e-130
# Epoch milliseconds from 1970 to the last millisecond of 9999, the years an ISO-8601 date can name.
MAX_TIMESTAMP_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Lone surrogate halves (JSON spells them "\ud800") are not characters: nothing can encode them, so
# DynamoDB cannot store them. Control characters belong in no URL or identifier (browsers
# percent-encode them); text people read keeps only tab, line feed and carriage return.
_NOT_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# A JSON string, escapes included; an unterminated one runs to the end (so the match never fails
# and retries: linear time).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = [1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)]

KNOWN_FIELDS = frozenset(
    {"event_type", "page_url", "user_id", "event_id", "timestamp", "referrer", "title", "site",
     "properties", "revenue"}
)
# Revenue as the lake keeps it (schema/lake.py: DECIMAL(18,4)): an ISO 4217 code and an amount below 10^14.
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAX_REVENUE_AMOUNT = Decimal(10) ** 14


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
    revenue: dict[str, str] | None = None  # {"amount": decimal text, "currency": ISO 4217}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    # Past 20 digits no field can hold an integer: read it as a float (inf if need be), which every
    # range check refuses, in linear time and never as a 4,300-digit int that the decoder refuses.
    return int(text) if len(text) <= 20 else float(text)


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, strings aside: one linear pass, no recursion."""
    structure = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, structure)), default=0)


class Body(NamedTuple):
    events: list[Any]
    enveloped: bool
    client_hints: Any  # validated by enrich.hints.from_body


def decode_body(raw: bytes, content_type: str | None) -> Body:
    """The raw events of a request, whether it used the `{"events": [...]}` envelope, and the
    envelope's `client_hints` (the SDK's navigator.userAgentData) if any."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type must be application/json or text/plain, got {media_type or 'none'!r}",
                       field="Content-Type")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large",
                       f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes",
                       field="body")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
                       field="body")
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid UTF-8 JSON: {exc}", field="body") from None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_shape",
                       'body must be one event object or {"events": [...]}', field="body")
    if "events" not in document:
        return Body([document], False, None)
    extra = sorted(set(document) - {"events", "client_hints"})
    if extra:
        raise ApiError(400, "unknown_field",
                       f"unknown field {extra[0]!r} beside 'events'; a batch holds only 'events' and 'client_hints'",
                       field=extra[0])
    events = document["events"]
    if not isinstance(events, list) or not events:
        raise ApiError(400, "invalid_shape", "events must be a non-empty list of event objects",
                       field="events")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise ApiError(400, "too_many_events",
                       f"events has {len(events)} items; at most {MAX_EVENTS_PER_REQUEST} per request",
                       field="events")
    return Body(events, True, document.get("client_hints"))


def _check_characters(name: str, value: str, forbidden: re.Pattern) -> None:
    found = forbidden.search(value)
    if found:
        code_point = ord(found.group())
        what = ("half of a UTF-16 surrogate pair alone, which is no character" if 0xD800 <= code_point <= 0xDFFF
                else "a control character")
        raise InvalidEvent(name, "invalid_character",
                           f"contains U+{code_point:04X} at position {found.start()}: {what}")


def _string(raw: dict, name: str, max_chars: int, required: bool = False, text: bool = False) -> str | None:
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
    _check_characters(name, value, _NOT_IN_TEXT if text else _NOT_IN_NAMES)
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
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidEvent("timestamp", "wrong_type", "must be epoch milliseconds or an ISO-8601 string")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # a lone surrogate is a ValueError too
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise InvalidEvent("timestamp", "invalid_format",
                               "must be ISO-8601 with a time zone, such as 2026-11-26T09:30:00Z")
        value = (parsed - _EPOCH) // timedelta(milliseconds=1)  # exact: a float loses the last digits
    # Compared before int(): a float such as 1e300 would become a 301-digit integer.
    if not 0 <= value < MAX_TIMESTAMP_MS + 1:  # NaN and inf fail this too
        raise InvalidEvent("timestamp", "out_of_range",
                           f"must be between 1970-01-01 and 9999-12-31 (epoch milliseconds 0 to {MAX_TIMESTAMP_MS})")
    return int(value)


def _property_value(name: str, item: Any) -> None:
    if isinstance(item, str):
        if len(item) > MAX_PROPERTY_VALUE_CHARS:
            raise InvalidEvent(name, "too_long", f"is {len(item)} characters; at most {MAX_PROPERTY_VALUE_CHARS}")
        _check_characters(name, item, _NOT_IN_TEXT)
    elif isinstance(item, (int, float)) and not isinstance(item, bool):
        if item != 0 and not MIN_NUMBER_MAGNITUDE <= abs(item) <= MAX_PROPERTY_NUMBER:  # NaN fails too
            raise InvalidEvent(name, "out_of_range",
                               f"must be 0 or between {MIN_NUMBER_MAGNITUDE} and {MAX_PROPERTY_NUMBER} in magnitude")
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
        if not PROPERTY_KEY_PATTERN.fullmatch(key):
            raise InvalidEvent(f"properties.{key}", "invalid_format",
                               "keys are 1-64 letters, digits, '_', '.', ':' or '-'")
        _property_value(f"properties.{key}", item)
    return dict(value)


LAKE_REVENUE_STEP = Decimal("0.0001")


def _revenue(raw: dict) -> dict[str, str] | None:
    """{amount, currency}: the amount a number or decimal text (kept as text, so 19.90 stays exact)."""
    value = raw.get("revenue")
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise InvalidEvent("revenue", "wrong_type", 'must be {"amount": number or decimal text, "currency": "EUR"}')
    currency, amount = value["currency"], value["amount"]
    if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
        raise InvalidEvent("revenue.currency", "invalid_format", "must be an ISO 4217 code such as USD or EUR")
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)) or len(str(amount)) > 32:
        raise InvalidEvent("revenue.amount", "wrong_type", "must be a number or decimal text such as 19.90")
    try:
        number = Decimal(amount.strip() if isinstance(amount, str) else repr(amount))
    except InvalidOperation:
        number = None
    # The lake keeps 4 decimals (DECIMAL(18,4)): an amount that rounds up to the bound would be stored
    # but could never become a lake row. `or` keeps quantize away from huge values (it would raise).
    if number is None or not number.is_finite() or abs(number) >= MAX_REVENUE_AMOUNT \
            or abs(number.quantize(LAKE_REVENUE_STEP)) >= MAX_REVENUE_AMOUNT:
        raise InvalidEvent("revenue.amount", "out_of_range", f"must be a finite amount below {MAX_REVENUE_AMOUNT:,}")
    return {"amount": format(number, "f"), "currency": currency}


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
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
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
        title=_string(raw, "title", MAX_TITLE_CHARS, text=True) or None,
        properties=_properties(raw),
        revenue=_revenue(raw),
    )

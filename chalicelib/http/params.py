"""Every route's request parameters, parsed strictly and once into a frozen query object.

What a handler passes on is already checked (ASCII digits, times in a sane window, names from fixed
sets, bounded cursors and ids); anything else is a 400 that names the parameter, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import unquote

from chalicelib.core.errors import ApiError
from chalicelib.core.settings import Settings
from chalicelib.ingest.events import MAX_USER_ID_CHARS
from chalicelib.stats.buckets import DAY, DIMENSIONS, HOUR, MINUTE

# Every value of each query parameter, as API Gateway passes them (multiValueQueryStringParameters).
RawQuery = Mapping[str, Sequence[str]]

DAY_MS = 86_400_000
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z: no LiveInsight data is older
FUTURE_SLACK_MS = DAY_MS  # a client clock a day fast is believed; further ahead is a mistake
MAX_EPOCH_DIGITS = 15
MAX_VALUE_CHARS = 256
NAME_CHARS_ECHOED = 64  # how much of an unknown parameter's name an error repeats as its `field`
# The longest range each interval may cover (its number of buckets stays small).
MAX_RANGE_MS = {MINUTE: 6 * 3_600_000, HOUR: 31 * DAY_MS, DAY: 400 * DAY_MS}
_RANGE_WORDS = {MINUTE: "6 hours", HOUR: "31 days", DAY: "400 days"}
DEFAULT_RANGE_MS = DAY_MS
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
DEFAULT_BREAKDOWN_LIMIT, MAX_BREAKDOWN_LIMIT = 10, 100
# GET /export: one file holds at most this many days (the query function builds it in its /tmp).
MAX_EXPORT_DAYS = 31
EXPORT_FORMATS = ("csv", "parquet")

# Patterns use [0-9], never \d or str.isdigit(): those accept "²" and "٣", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                       r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?")
_SESSION_ID = re.compile(r"[0-9a-f]{20}")  # sessions.session_id_for: 10 bytes of blake2b, in hex
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,200}")
# A cursor's sort key goes to DynamoDB as ExclusiveStartKey: non-empty and far below its 1 KB key limit.
_CURSOR_SK = re.compile(r"[0-9A-Za-z~_-]{1,64}")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def bad(code: str, message: str, field: str) -> ApiError:
    return ApiError(400, code, message, field=field)


class TimeRange(NamedTuple):
    from_ms: int
    to_ms: int
    interval: str


@dataclass(frozen=True)
class SessionQuery:
    session_id: str


@dataclass(frozen=True)
class VisitorSessionsQuery:
    site: str
    visitor_id: str
    limit: int
    after_sk: str | None  # the cursor's sort key: the page starts after it


@dataclass(frozen=True)
class RealtimeQuery:
    site: str
    now_ms: int


@dataclass(frozen=True)
class StatsQuery:
    site: str
    range: TimeRange


@dataclass(frozen=True)
class BreakdownQuery:
    site: str
    range: TimeRange
    by: str
    limit: int


@dataclass(frozen=True)
class SdkQuery:
    version: str | None


@dataclass(frozen=True)
class ExportQuery:
    site: str
    from_ms: int  # inclusive
    to_ms: int  # exclusive
    format: str  # one of EXPORT_FORMATS


# --- the query string ---

def only(raw: RawQuery | None, *allowed: str) -> dict[str, str]:
    """One value per allowed name. An unknown, repeated, empty or oversized parameter is a 400:
    nothing a client sends is silently ignored."""
    raw = raw or {}
    unknown = sorted(name for name in raw if name not in allowed)
    if unknown:
        name = unknown[0][:NAME_CHARS_ECHOED]
        known = ", ".join(allowed) or "none"
        raise bad("unknown_parameter", f"unknown query parameter {name!r} (this route takes: {known})", name)
    values = {}
    for name, given in raw.items():
        if len(given) != 1:
            raise bad("duplicate_parameter", f"{name} is given {len(given)} times; give it once", name)
        value = given[0]
        if not value:
            raise bad("empty_parameter", f"{name} is empty: leave it out for its default", name)
        if len(value) > MAX_VALUE_CHARS:
            raise bad("parameter_too_long", f"{name} is {len(value)} characters; at most {MAX_VALUE_CHARS}", name)
        values[name] = value
    return values


def _site(values: Mapping[str, str], settings: Settings) -> str:
    site = values.get("site", settings.default_site_id)
    if site not in settings.sites:
        raise bad("unknown_site", f"site {site!r} is not configured", "site")
    return site


def _whole_number(values: Mapping[str, str], name: str, default: int, largest: int) -> int:
    raw = values.get(name)
    if raw is None:
        return default
    if not (_DIGITS.fullmatch(raw) and len(raw) <= 6 and 1 <= int(raw) <= largest):
        raise bad(f"invalid_{name}", f"{name} must be a whole number from 1 to {largest}", name)
    return int(raw)


def _one_of(values: Mapping[str, str], name: str, choices: Sequence[str], code: str) -> str | None:
    value = values.get(name)
    if value is not None and value not in choices:
        raise bad(code, f"{name} must be one of {', '.join(choices)}; got {value!r}", name)
    return value


# --- times and ranges ---

def _time_ms(text: str) -> int | None:
    """The epoch milliseconds a value names, or None when it is no time at all."""
    if _DIGITS.fullmatch(text):
        digits = text.lstrip("0") or "0"
        if len(digits) > MAX_EPOCH_DIGITS:
            return 10 ** MAX_EPOCH_DIGITS  # past the year 33,000: out of range, and no int() of 5,000 digits
        return int(digits)
    if not _ISO_TIME.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # the right shape but no such time: 2026-02-30, 25:00, +99:00
        return None
    return (moment.replace(tzinfo=moment.tzinfo or timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


def parse_time(raw: str, name: str, now_ms: int) -> int:
    """Epoch milliseconds, an ISO-8601 time with a zone, or a date (midnight UTC), within
    2000-01-01 and a day from now."""
    time_ms = _time_ms(raw.replace(" ", "+"))  # a '+' in a query string arrives as ' '
    if time_ms is None:
        raise bad("invalid_time", f"{name} must be epoch milliseconds, an ISO-8601 time with a zone "
                                  "(2026-11-26T09:00:00Z) or a date (2026-11-26)", name)
    if not EARLIEST_MS <= time_ms <= now_ms + FUTURE_SLACK_MS:
        raise bad("time_out_of_range", f"{name} must be between 2000-01-01 and a day from now", name)
    return time_ms


def _longest_ms(interval: str, kept_days: int) -> tuple[int, str]:
    """The longest range of an interval, and its words: the interval's own cap or the data kept."""
    if kept_days * DAY_MS < MAX_RANGE_MS[interval]:
        return kept_days * DAY_MS, f"{kept_days} days (the data kept)"
    return MAX_RANGE_MS[interval], _RANGE_WORDS[interval]


def parse_range(values: Mapping[str, str], now_ms: int, kept_days: int = 400) -> TimeRange:
    to_ms = parse_time(values["to"], "to", now_ms) if "to" in values else now_ms
    from_ms = parse_time(values["from"], "from", now_ms) if "from" in values else to_ms - DEFAULT_RANGE_MS
    if from_ms >= to_ms:
        raise bad("invalid_range", "from must be before to", "from")
    span_ms, days = to_ms - from_ms, (to_ms - from_ms) / DAY_MS
    interval = _one_of(values, "interval", tuple(MAX_RANGE_MS), "invalid_interval")
    if interval is None:
        interval = next((i for i in MAX_RANGE_MS if span_ms <= _longest_ms(i, kept_days)[0]), None)
        if interval is None:
            raise bad("range_too_long", f"a range of {days:.1f} days is too long: at most "
                                        f"{_longest_ms(DAY, kept_days)[1]}", "from")
    longest_ms, words = _longest_ms(interval, kept_days)
    if span_ms > longest_ms:
        raise bad("range_too_long", f"a range of {days:.1f} days is too long for interval {interval}: "
                                    f"at most {words}", "interval")
    return TimeRange(from_ms, to_ms, interval)


# --- cursors and path parameters ---

def encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    invalid = bad("invalid_cursor", "cursor is not one this API returned", "cursor")
    if not _CURSOR.fullmatch(cursor):
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not (isinstance(data, dict) and set(data) == {"sk"} and isinstance(data["sk"], str)
            and _CURSOR_SK.fullmatch(data["sk"])):
        raise invalid
    return data["sk"]


def session_id(raw: str) -> str:
    if not _SESSION_ID.fullmatch(raw):
        raise bad("invalid_session_id", "session_id is 20 hexadecimal characters, as POST /events returned it",
                  "session_id")
    return raw


def visitor_id(raw: str) -> str:
    """API Gateway passes path parameters percent-encoded: decode strictly, then the same limit as
    POST /events puts on user_id."""
    invalid = bad("invalid_visitor_id", f"visitor_id must be 1-{MAX_USER_ID_CHARS} characters of "
                                        "percent-encoded UTF-8", "visitor_id")
    if _BAD_ESCAPE.search(raw):
        raise invalid
    try:
        value = unquote(raw, errors="strict")
        value.encode("utf-8")  # a lone surrogate cannot be stored or sent on
    except UnicodeError:
        raise invalid from None
    if not 1 <= len(value) <= MAX_USER_ID_CHARS:
        raise invalid
    return value


def page_name(raw: str, field: str) -> str:
    """A static page's or file's name in the path: anything else is not one of ours."""
    if not _PLAIN_NAME.fullmatch(raw):
        raise ApiError(404, "not_found", f"no such page: {raw[:NAME_CHARS_ECHOED]!r}", field=field)
    return raw


# --- one query object per route ---

def session_query(raw_id: str, raw: RawQuery | None) -> SessionQuery:
    only(raw)
    return SessionQuery(session_id(raw_id))


def visitor_sessions_query(raw_id: str, raw: RawQuery | None, settings: Settings) -> VisitorSessionsQuery:
    values = only(raw, "site", "limit", "cursor")
    return VisitorSessionsQuery(
        site=_site(values, settings), visitor_id=visitor_id(raw_id),
        limit=_whole_number(values, "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        after_sk=decode_cursor(values["cursor"]) if "cursor" in values else None)


def realtime_query(raw: RawQuery | None, settings: Settings, now_ms: int) -> RealtimeQuery:
    return RealtimeQuery(_site(only(raw, "site"), settings), now_ms)


def stats_query(raw: RawQuery | None, settings: Settings, now_ms: int) -> StatsQuery:
    values = only(raw, "site", "from", "to", "interval")
    return StatsQuery(_site(values, settings), parse_range(values, now_ms, settings.event_retention_days))


def breakdown_query(raw: RawQuery | None, settings: Settings, now_ms: int) -> BreakdownQuery:
    values = only(raw, "site", "from", "to", "interval", "by", "limit")
    if "by" not in values:
        raise bad("invalid_dimension", f"by is required: one of {', '.join(DIMENSIONS)}", "by")
    by = _one_of(values, "by", tuple(DIMENSIONS), "invalid_dimension")
    assert by is not None
    return BreakdownQuery(
        site=_site(values, settings), range=parse_range(values, now_ms, settings.event_retention_days), by=by,
        limit=_whole_number(values, "limit", DEFAULT_BREAKDOWN_LIMIT, MAX_BREAKDOWN_LIMIT))


def export_query(raw: RawQuery | None, settings: Settings, now_ms: int) -> ExportQuery:
    """GET /export: a site, a range [from, to) of at most MAX_EXPORT_DAYS (default: the last day) and a format."""
    values = only(raw, "site", "from", "to", "format")
    site = _site(values, settings)
    to_ms = parse_time(values["to"], "to", now_ms) if "to" in values else now_ms
    from_ms = parse_time(values["from"], "from", now_ms) if "from" in values else to_ms - DEFAULT_RANGE_MS
    if from_ms >= to_ms:
        raise bad("invalid_range", "from must be before to (to is exclusive: a date means its midnight UTC)", "from")
    if to_ms - from_ms > MAX_EXPORT_DAYS * DAY_MS:
        raise bad("range_too_long", f"an export covers at most {MAX_EXPORT_DAYS} days; got "
                                    f"{(to_ms - from_ms) / DAY_MS:.1f}: split the range", "from")
    fmt = _one_of(values, "format", EXPORT_FORMATS, "invalid_format") or EXPORT_FORMATS[0]
    return ExportQuery(site, from_ms, to_ms, fmt)


def sdk_query(raw: RawQuery | None) -> SdkQuery:
    """The script tag's URL is the website's: CMSs add cache busters of their own (WordPress adds
    ?ver=6.7), so only `v` is read and the rest ignored, as any host of static files does."""
    version = only({name: given for name, given in (raw or {}).items() if name == "v"}, "v").get("v")
    if version is not None and not _PLAIN_NAME.fullmatch(version):
        raise bad("invalid_version", "v must be the SDK's ETag (letters, digits, '.', '_', '-', '~')", "v")
    return SdkQuery(version)

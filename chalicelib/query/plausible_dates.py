"""Plausible's date ranges in the site's time zone (query_parser.ex, datetime_range.ex): shortcuts (the minute
ones "realtime" and "30m" too) and ISO ranges -> [start, end) in epoch ms, the automatic `time` dimension,
meta.time_labels and include.comparisons' period. Days begin at local midnight (DST days are 23 or 25 hours
long); ISO timestamps with an offset are exact instants whatever the zone."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from chalicelib.core.errors import ApiError
from chalicelib.query import comparisons
from chalicelib.query.description import DAY_MS, MAX_RANGE_DAYS, MAX_RANGE_MS
from chalicelib.query.plausible_errors import invalid
from chalicelib.query.timezones import UTC, day_start_ms, iso, local_date, local_datetime, wall_clock_hours

SHORTCUTS = ("realtime", "30m", "day", "24h", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all",
             "<n>d", "<n>mo")
# Plausible's minute ranges (its dashboard's; LiveInsight extensions of the public v2 API): the last 5
# ("realtime", the current visitors' window) or 30 ("30m", its realtime graph) minutes up to now.
REALTIME_MINUTES = {"realtime": 5, "30m": 30}
_SHORTHAND = re.compile(r"^([1-9][0-9]{0,3})(d|mo)$")


def _date(ms: int, tz: str = UTC) -> date:
    """The local date of an instant in the zone `tz`."""
    return local_date(ms, tz)


def _ms(day: date, tz: str = UTC) -> int:
    """The instant the local day begins."""
    return day_start_ms(day, tz)


def _iso(ms: int, tz: str = UTC) -> str:
    return iso(ms, tz)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def resolve_date_range(value: object, now_ms: int, retention_days: int, tz: str = UTC) -> tuple[int, int]:
    """[start, end) in epoch ms, as Plausible's parser resolves it in the site's zone `tz`. `<n>d` are
    the n whole days before today, `<n>mo` the n whole months before this one; day, month and year are
    the whole current day, month and year; all runs from the retention start to the end of today."""
    today = _date(now_ms, tz)
    tomorrow = today + timedelta(days=1)
    if isinstance(value, list):
        return _explicit_range(value, tz)
    if value == "day":
        first, end = today, tomorrow
    elif value == "24h":
        end_ms = now_ms - now_ms % 1000 + 1000  # to the current second, inclusive
        return end_ms - DAY_MS, end_ms
    elif value in REALTIME_MINUTES:  # from now - n minutes to the current second, to the second as Plausible
        end_ms = now_ms - now_ms % 1000 + 1000
        return end_ms - 1000 - REALTIME_MINUTES[value] * 60_000, end_ms
    elif value == "month":
        first, end = today.replace(day=1), _months_back(today, -1)
    elif value == "year":
        first, end = date(today.year, 1, 1), date(today.year + 1, 1, 1)
    elif value == "all":
        first, end = today - timedelta(days=min(retention_days, MAX_RANGE_DAYS) - 1), tomorrow
    elif isinstance(value, str) and _SHORTHAND.match(value):
        n, unit = _SHORTHAND.match(value).groups()
        if unit == "d":
            first, end = today - timedelta(days=int(n)), today
        else:
            first, end = _months_back(today, int(n)), today.replace(day=1)
    else:
        raise invalid("date_range", f"{value!r} is not a date range (known: {', '.join(SHORTCUTS)}, "
                                    "or [first, last] as ISO dates or ISO8601 timestamps with an offset)")
    return _checked(_ms(first, tz), _ms(end, tz))


def _explicit_range(pair: list, tz: str = UTC) -> tuple[int, int]:
    if len(pair) != 2 or not all(isinstance(v, str) for v in pair):
        raise invalid("date_range", "must be a shortcut or [first, last]")
    dates = [_parse_date(v) for v in pair]
    if all(dates):
        return _checked(_ms(dates[0], tz), _ms(dates[1] + timedelta(days=1), tz))
    moments = [_parse_timestamp(v) for v in pair]
    if not all(moments):
        raise invalid("date_range", f"{pair!r}: give two ISO dates (2024-01-01) or two ISO8601 timestamps with "
                                    "an offset (2024-01-01T12:00:00+02:00)")
    start, last = (int(m.timestamp() * 1000) for m in moments)
    return _checked(start, (last // 1000) * 1000 + 1000)  # the last second is in the range, as in Plausible


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _parse_timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _checked(start_ms: int, end_ms: int) -> tuple[int, int]:
    if end_ms <= start_ms:
        raise invalid("date_range", "the range ends before it starts")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise invalid("date_range", f"covers more than {MAX_RANGE_DAYS} days, the longest range the lake answers")
    return start_ms, end_ms


def auto_time_dimension(start_ms: int, end_ms: int) -> str:
    """Plausible's `time`: hours up to 48 hours, days up to 40 days, weeks up to 52 weeks, else months."""
    span_ms = end_ms - 1000 - start_ms  # Plausible measures from the first to the last second
    if span_ms <= 48 * 3_600_000:
        return "time:hour"
    if span_ms <= 40 * DAY_MS + DAY_MS - 1000:
        return "time:day"
    return "time:week" if span_ms <= 52 * 7 * DAY_MS + DAY_MS - 1000 else "time:month"


def time_labels(dimension: str, start_ms: int, end_ms: int, tz: str = UTC) -> tuple[str, ...]:
    """Every bucket of the range in the site's zone, as Plausible's meta.time_labels (hours on the local
    wall clock; weeks start on Monday, the first one not before the range)."""
    if dimension == "time:hour":
        return tuple(hour.strftime("%Y-%m-%d %H:00:00") for hour in wall_clock_hours(start_ms, end_ms, tz))
    if dimension == "time:minute":
        return tuple(minute.strftime("%Y-%m-%d %H:%M:00") for minute in wall_clock_minutes(start_ms, end_ms, tz))
    first, last = _date(start_ms, tz), _date(end_ms - 1, tz)
    if dimension == "time:day":
        return tuple((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))
    if dimension == "time:week":
        monday = first - timedelta(days=first.weekday())
        starts = [monday + timedelta(weeks=n) for n in range((last - monday).days // 7 + 1)]
        return tuple(max(s, first).isoformat() for s in starts)
    months = (last.year - first.year) * 12 + last.month - first.month
    return tuple(_months_back(last, months - n).isoformat() for n in range(months + 1))


def wall_clock_minutes(start_ms: int, end_ms: int, tz: str = UTC) -> list[datetime]:
    """Every local wall-clock minute from the one holding start_ms to the one holding end_ms - 1, stepped on
    the naive clock as the hours are (a DST gap's minutes listed and empty, a repeated hour's minutes once)."""
    first = local_datetime(start_ms, tz).replace(second=0, microsecond=0, tzinfo=None)
    last = local_datetime(end_ms - 1, tz).replace(second=0, microsecond=0, tzinfo=None)
    return [first + timedelta(minutes=n) for n in range(int((last - first).total_seconds() // 60) + 1)]


def comparison_range(value: dict | None, start_ms: int, end_ms: int, now_ms: int,
                     tz: str = UTC) -> tuple[int, int] | None:
    """[start, end) of the comparison period in epoch ms (whole local days, as comparisons.ex), or None."""
    if not value:
        return None
    if value["mode"] == "custom":
        try:
            return _explicit_range(value["date_range"] if isinstance(value["date_range"], list) else [], tz)
        except ApiError as exc:
            raise invalid("include.comparisons.date_range", exc.message.split(": ", 1)[1]) from None
    first, last = comparisons.period(value["mode"], _date(start_ms, tz), _date(end_ms - 1, tz), _date(now_ms, tz),
                                     bool(value.get("match_day_of_week")))
    return _checked(_ms(first, tz), _ms(last + timedelta(days=1), tz))

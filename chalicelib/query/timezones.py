"""A site's time zone in the lake queries (pure Python, zoneinfo): local dates of instants, the instant a
local day starts, ISO texts with the local offset, and the offset changes (DST) of a window."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = "UTC"
_DAY_S = 86_400


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(ms: int, name: str) -> date:
    return datetime.fromtimestamp(ms // 1000, tz=zone(name)).date()


def local_datetime(ms: int, name: str) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=zone(name))


def day_start_ms(day: date, name: str) -> int:
    """The first instant of the local day `day`: local midnight (fold 0: the first of two midnights; a
    midnight in a DST gap resolves to the gap's start, which is where the day begins)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(name)).timestamp()) * 1000


def iso(ms: int, name: str) -> str:
    """The instant as ISO 8601 with the site's offset (Plausible's query.date_range echo)."""
    return local_datetime(ms, name).isoformat()


def _offset_s(second: int, name: str) -> int:
    return int(datetime.fromtimestamp(second, tz=zone(name)).utcoffset().total_seconds())


def offsets(name: str, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[(from_ms, offset_seconds), ...] over [start_ms, end_ms): the offset at start_ms, then each change
    (the instant it takes effect). Offsets are probed once a day, and a change is found to the second by
    bisection: zones change at most a few times a year, never twice within a day."""
    first_s, last_s = start_ms // 1000, max(start_ms // 1000, (end_ms - 1) // 1000)
    out = [(start_ms, _offset_s(first_s, name))]
    probe = first_s
    while probe < last_s:
        following = min(probe + _DAY_S, last_s)
        if _offset_s(following, name) != out[-1][1]:
            low, high = probe, following  # offset(low) is the current one, offset(high) the next
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if _offset_s(middle, name) == out[-1][1] else (low, middle)
            out.append((high * 1000, _offset_s(high, name)))
        probe = following
    return out


def wall_clock_hours(start_ms: int, end_ms: int, name: str) -> list[datetime]:
    """Every local wall-clock hour from the one holding start_ms to the one holding end_ms - 1, stepped
    on the naive clock as Plausible's time labels are: a DST spring-forward day still lists its missing
    hour (empty), a fall-back day lists its repeated hour once (its bucket holds both)."""
    first = local_datetime(start_ms, name).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    last = local_datetime(end_ms - 1, name).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    count = int((last - first).total_seconds() // 3600) + 1
    return [first + timedelta(hours=n) for n in range(count)]

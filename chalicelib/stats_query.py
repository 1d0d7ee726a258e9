"""Reading statistics: realtime, totals with a time series, and breakdowns.

Every answer is computed from buckets only (never raw events, never a Scan), so the items a query
reads depend on its time range and interval, not on how much traffic the site had.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .errors import ApiError
from .rollup import CURRENT_VISITORS_MINUTES, Merged, merge
from .settings import Settings
from .stats import (
    BOUNCES,
    BUCKET_MS,
    DAY,
    DIMENSIONS,
    DURATION_MS,
    ENDED,
    EVENTS,
    HOUR,
    MINUTE,
    PAGEVIEWS,
    SESSION_PAGEVIEWS,
    SESSIONS,
    bucket_pk,
    bucket_start_ms,
    label,
    last_minutes,
)

if TYPE_CHECKING:
    from .store import StatsStore

REALTIME_MINUTES = 30
REALTIME_TOP = ("page", "referrer", "country", "device")
REALTIME_TOP_LIMIT = 10
# The longest range each interval may cover (its number of buckets stays small).
MAX_RANGE_MS = {MINUTE: 6 * 3_600_000, HOUR: 31 * 86_400_000, DAY: 400 * 86_400_000}
_RANGE_WORDS = {MINUTE: "6 hours", HOUR: "31 days", DAY: "400 days"}
DEFAULT_RANGE_MS = 86_400_000
DEFAULT_BREAKDOWN_LIMIT, MAX_BREAKDOWN_LIMIT = 10, 100


def parse_time(raw: str, name: str) -> int:
    """Epoch milliseconds, an ISO-8601 time with a zone, or a date (midnight UTC)."""
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))  # a '+' in a query string arrives as ' '
    except ValueError:
        moment = None
    if moment is None or (moment.tzinfo is None and "T" in raw):
        raise ApiError(400, "invalid_time", f"{name} must be epoch milliseconds, an ISO-8601 time with a zone "
                                            "(2026-11-26T09:00:00Z) or a date (2026-11-26)", field=name)
    return int(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp() * 1000)


def parse_range(query: dict[str, str], now_ms: int) -> tuple[int, int, str]:
    to_ms = parse_time(query["to"], "to") if query.get("to") else now_ms
    from_ms = parse_time(query["from"], "from") if query.get("from") else to_ms - DEFAULT_RANGE_MS
    if from_ms >= to_ms:
        raise ApiError(400, "invalid_range", "from must be before to", field="from")
    interval = query.get("interval") or next(i for i in (MINUTE, HOUR, DAY) if to_ms - from_ms <= MAX_RANGE_MS[i])
    if interval not in MAX_RANGE_MS:
        raise ApiError(400, "invalid_interval", f"interval must be one of minute, hour, day; got {interval!r}",
                       field="interval")
    if to_ms - from_ms > MAX_RANGE_MS[interval]:
        days = (to_ms - from_ms) / 86_400_000
        raise ApiError(400, "range_too_long",
                       f"a range of {days:.1f} days is too long for interval {interval}: "
                       f"at most {_RANGE_WORDS[interval]}", field="interval")
    return from_ms, to_ms, interval


def _site(query: dict[str, str], settings: Settings) -> str:
    site = query.get("site") or settings.default_site_id
    if site not in settings.sites:
        raise ApiError(400, "unknown_site", f"site {site!r} is not configured", field="site")
    return site


def _iso(granularity: str, start_ms: int) -> str:
    return datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ratio(numerator: int, denominator: int, scale: float = 1.0, digits: int = 2) -> float | None:
    return round(numerator * scale / denominator, digits) if denominator else None


def top_values(counters: Counter, dimension: str, limit: int) -> list[dict]:
    prefix = DIMENSIONS[dimension].prefix
    values = [(name[len(prefix):], count) for name, count in counters.items() if name.startswith(prefix) and count]
    values.sort(key=lambda item: (-item[1], item[0]))
    return [{"value": value, "count": count} for value, count in values[:limit]]


class StatsReader:
    def __init__(self, store: StatsStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def buckets(self, site: str, interval: str, from_ms: int, to_ms: int) -> list[dict]:
        first, last = label(interval, from_ms), label(interval, to_ms - 1)
        if interval == MINUTE:
            shards = range(self._settings.stats_shards)
            return [b for s in shards for b in self._store.buckets(bucket_pk(site, MINUTE, s), first, last)]
        return self._store.buckets(bucket_pk(site, interval), first, last)

    def realtime(self, query: dict[str, str], now_ms: int) -> dict:
        site = _site(query, self._settings)
        first_ms, _ = last_minutes(REALTIME_MINUTES, now_ms)
        buckets = self.buckets(site, MINUTE, first_ms, now_ms + 1)
        by_minute: dict[str, list[dict]] = {}
        for bucket in buckets:
            by_minute.setdefault(bucket["sk"], []).append(bucket)
        all_minutes = merge(buckets)
        recent_from = label(MINUTE, last_minutes(CURRENT_VISITORS_MINUTES, now_ms)[0])
        timeout_minutes = min(REALTIME_MINUTES, -(-self._settings.session_timeout_seconds // 60))
        active_from = label(MINUTE, last_minutes(timeout_minutes, now_ms)[0])
        per_minute = []
        for start_ms in range(first_ms, now_ms + 1, BUCKET_MS[MINUTE]):
            minute = merge(by_minute.get(label(MINUTE, start_ms), []))
            per_minute.append({"t": _iso(MINUTE, start_ms), "pageviews": minute.counters[PAGEVIEWS],
                               "visitors": minute.visitors()})
        return {
            "site": site,
            "generated_at": _iso(MINUTE, now_ms),
            "current_visitors": merge(b for b in buckets if b["sk"] >= recent_from).visitors(),
            "active_sessions": merge(b for b in buckets if b["sk"] >= active_from).visitors(),
            "pageviews": all_minutes.counters[PAGEVIEWS],
            "per_minute": per_minute,
            "top": {d: top_values(all_minutes.counters, d, REALTIME_TOP_LIMIT) for d in REALTIME_TOP},
        }

    def summary(self, query: dict[str, str], now_ms: int) -> dict:
        site = _site(query, self._settings)
        from_ms, to_ms, interval = parse_range(query, now_ms)
        buckets = self.buckets(site, interval, from_ms, to_ms)
        by_label: dict[str, list[dict]] = {}
        for bucket in buckets:
            by_label.setdefault(bucket["sk"], []).append(bucket)
        series = []
        for start_ms in range(bucket_start_ms(interval, from_ms), to_ms, BUCKET_MS[interval]):
            one = merge(by_label.get(label(interval, start_ms), []))
            series.append({"t": _iso(interval, start_ms), "pageviews": one.counters[PAGEVIEWS],
                           "visitors": _visitors(one, by_label.get(label(interval, start_ms), [])),
                           "sessions": one.counters[SESSIONS], "events": one.counters[EVENTS]})
        total = merge(buckets)
        counters = total.counters
        return {
            "site": site, "from": _iso(MINUTE, from_ms), "to": _iso(MINUTE, to_ms), "interval": interval,
            "totals": {
                "visitors": total.visitors(),
                "pageviews": counters[PAGEVIEWS],
                "events": counters[EVENTS],
                "sessions": counters[SESSIONS],
                "ended_sessions": counters[ENDED],
                "bounce_rate": _ratio(counters[BOUNCES], counters[ENDED], 100, 1),
                "avg_session_duration_seconds": _ratio(counters[DURATION_MS], counters[ENDED], 0.001, 1),
                "views_per_session": _ratio(counters[SESSION_PAGEVIEWS], counters[ENDED]),
            },
            "series": series,
        }

    def breakdown(self, query: dict[str, str], now_ms: int) -> dict:
        site = _site(query, self._settings)
        by = query.get("by", "")
        if by not in DIMENSIONS:
            raise ApiError(400, "invalid_dimension", f"by must be one of {', '.join(DIMENSIONS)}; got {by!r}",
                           field="by")
        raw_limit = query.get("limit", str(DEFAULT_BREAKDOWN_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_BREAKDOWN_LIMIT:
            raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_BREAKDOWN_LIMIT}",
                           field="limit")
        from_ms, to_ms, interval = parse_range(query, now_ms)
        merged = merge(self.buckets(site, interval, from_ms, to_ms))
        return {"site": site, "by": by, "metric": DIMENSIONS[by].counts, "from": _iso(MINUTE, from_ms),
                "to": _iso(MINUTE, to_ms), "interval": interval,
                "results": top_values(merged.counters, by, int(raw_limit))}


def _visitors(merged: Merged, buckets: list[dict]) -> int:
    """A bucket's visitors: exact for minutes, the stored figure for a single hour or day."""
    if len(buckets) == 1 and "unique_visitors" in buckets[0]:
        return buckets[0]["unique_visitors"]
    return merged.visitors()

"""Reading statistics: realtime, totals with a time series, and breakdowns.

Every answer is computed from buckets only (never raw events, never a Scan), so the items a query
reads depend on its time range and interval, not on how much traffic the site had.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from chalicelib.core.settings import Settings
from chalicelib.http.params import BreakdownQuery, RealtimeQuery, StatsQuery, realtime_query
from chalicelib.http.params import parse_range as parse_range  # noqa: F401 - kept importable here for its unit tests
from chalicelib.schema.tables import spill_label
from chalicelib.stats.buckets import (
    BOUNCES,
    BUCKET_MS,
    DIMENSIONS,
    DURATION_MS,
    ENDED,
    EVENTS,
    MINUTE,
    PAGEVIEWS,
    SESSION_PAGEVIEWS,
    SESSIONS,
    bucket_pk,
    bucket_start_ms,
    label,
    last_minutes,
)
from chalicelib.stats.merging import Merged, merge
from chalicelib.stats.rollup import CURRENT_VISITORS_MINUTES, minute_buckets
from chalicelib.stats.summary import REALTIME_MINUTES, REALTIME_TOP, realtime_buckets

if TYPE_CHECKING:
    from chalicelib.store import StatsStore

REALTIME_TOP_LIMIT = 10


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
        if interval == MINUTE:
            return minute_buckets(self._store, site, self._settings.stats_shards, from_ms, to_ms - 1)
        return self._store.buckets(bucket_pk(site, interval), label(interval, from_ms), label(interval, to_ms - 1))

    def realtime(self, query: RealtimeQuery | Mapping[str, str], now_ms: int | None = None) -> dict:
        """`query` from params.realtime_query; tools and the benchmark may pass {"site": ...} and a
        time instead, which the same parser checks."""
        if not isinstance(query, RealtimeQuery):
            assert now_ms is not None, "a plain mapping needs now_ms"
            query = realtime_query({k: [v] for k, v in query.items()}, self._settings, now_ms)
        site, now_ms = query.site, query.now_ms
        first_ms, _ = last_minutes(REALTIME_MINUTES, now_ms)
        shards = self._settings.stats_shards
        # the minute job's summaries of finished minutes, the raw items of the live ones (stats/summary.py)
        buckets = realtime_buckets(self._store, site, first_ms, now_ms,
                                   lambda first, last: minute_buckets(self._store, site, shards, first, last))
        by_minute: dict[str, list[dict]] = {}
        for bucket in buckets:
            by_minute.setdefault(spill_label(bucket["sk"]), []).append(bucket)
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

    def summary(self, query: StatsQuery) -> dict:
        site, (from_ms, to_ms, interval) = query.site, query.range
        buckets = self.buckets(site, interval, from_ms, to_ms)
        by_label: dict[str, list[dict]] = {}
        for bucket in buckets:
            by_label.setdefault(spill_label(bucket["sk"]), []).append(bucket)
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

    def breakdown(self, query: BreakdownQuery) -> dict:
        from_ms, to_ms, interval = query.range
        merged = merge(self.buckets(query.site, interval, from_ms, to_ms))
        return {"site": query.site, "by": query.by, "metric": DIMENSIONS[query.by].counts,
                "from": _iso(MINUTE, from_ms), "to": _iso(MINUTE, to_ms), "interval": interval,
                "results": top_values(merged.counters, query.by, query.limit)}


def _visitors(merged: Merged, buckets: list[dict]) -> int:
    """A bucket's visitors: exact for minutes, the stored figure for a single hour or day."""
    if len(buckets) == 1 and "unique_visitors" in buckets[0]:
        return buckets[0]["unique_visitors"]
    return merged.visitors()

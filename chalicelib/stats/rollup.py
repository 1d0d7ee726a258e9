"""The minute job's statistics work: hour and day buckets recomputed from minute buckets, the realtime
view's minute summaries (summary.py), and the ActiveVisitors metric.

Recomputing (not incrementing) makes the job idempotent: overlapping runs, retries and late events
all converge on the same buckets. Each minute it recomputes the current hour (and, in the first
minutes of an hour, the previous one), every hour a late write marked, and the days of those hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core.metrics import Metrics
from chalicelib.schema.tables import spill_last
from chalicelib.stats.buckets import (
    BUCKET_MS,
    DAY,
    HOUR,
    HOUR_BUCKET_TTL_SECONDS,
    MINUTE,
    bucket_pk,
    bucket_start_ms,
    dirty_pk,
    label,
    label_start_ms,
    last_minutes,
)
from chalicelib.stats.merging import Merged, capped, merge
from chalicelib.stats.summary import MinuteWindow, summarise

if TYPE_CHECKING:
    from chalicelib.store import StatsStore

PREVIOUS_HOUR_GRACE_MS = 5 * 60_000
# An hour's (and the current visitors') distinct visitors are counted exactly up to this many, by their
# sketch past it (within 2%: core/hll.py): 100,000 hashes hold ~10 MB, whatever the site's traffic.
EXACT_VISITORS_MAX = 100_000
CURRENT_VISITORS_MINUTES = 5  # "current visitors": the last 5 minutes, as Plausible and Umami


def minute_buckets(store: StatsStore, site: str, shards: int, first_ms: int, last_ms: int) -> list[dict]:
    """Every item of the minute buckets in [first_ms, last_ms], a full minute's further items included."""
    return list(iter_minute_buckets(store, site, shards, first_ms, last_ms))


def iter_minute_buckets(store: StatsStore, site: str, shards: int, first_ms: int, last_ms: int) -> Iterator[dict]:
    """minute_buckets(), a page at a time: a busy hour's items are far more than the job's memory (120 MB
    stored at 100,000 visitors a minute), so the job merges them as they come."""
    first, last = label(MINUTE, first_ms), spill_last(label(MINUTE, last_ms))
    for shard in range(shards):
        yield from store.iter_buckets(bucket_pk(site, MINUTE, shard), first, last)


def _rolled_record(site: str, granularity: str, start_ms: int, merged: Merged, ttl_s: int) -> dict:
    sketch = merged.to_sketch()
    return {"pk": bucket_pk(site, granularity), "sk": label(granularity, start_ms), **capped(merged.counters),
            "unique_visitors": merged.visitors(), "hll": sketch.to_bytes(), "expires_at_s": ttl_s}


def recompute_hour(store: StatsStore, site: str, shards: int, hour_ms: int, now_ms: int,
                   window: MinuteWindow | None = None) -> bool:
    """Rewrites an hour bucket from its minute buckets, merged a page at a time, and adds them to `window`
    (the minutes the summaries need); no write for an hour with none: an idle site's job costs reads only.
    Returns whether the hour had any."""
    hour, found = Merged(exact_visitors_max=EXACT_VISITORS_MAX), False
    for item in iter_minute_buckets(store, site, shards, hour_ms, hour_ms + BUCKET_MS[HOUR] - 1):
        hour.add(item)
        found = True
        if window is not None:
            window.add(item)
    if found:
        store.put(_rolled_record(site, HOUR, hour_ms, hour, now_ms // 1000 + HOUR_BUCKET_TTL_SECONDS))
    return found


def recompute_day(store: StatsStore, site: str, day_ms: int, now_ms: int, retention_seconds: int) -> None:
    hours = store.buckets(bucket_pk(site, HOUR), label(HOUR, day_ms), label(HOUR, day_ms + BUCKET_MS[DAY] - 1))
    if hours:
        store.put(_rolled_record(site, DAY, day_ms, merge(hours), now_ms // 1000 + retention_seconds))


@dataclass
class RollupReport:
    hours: list[tuple[str, str]] = field(default_factory=list)  # (site, hour label) recomputed
    days: list[tuple[str, str]] = field(default_factory=list)
    summaries: int = 0  # minute summaries written (summary.py)
    active_visitors: dict[str, int] = field(default_factory=dict)


def roll_up(store: StatsStore, sites: Iterable[str], shards: int, metrics: Metrics, *, now_ms: int,
            retention_seconds: int) -> RollupReport:
    report = RollupReport()
    current_hour = bucket_start_ms(HOUR, now_ms)
    for site in sites:
        hours = {current_hour}
        if now_ms - current_hour < PREVIOUS_HOUR_GRACE_MS:
            hours.add(current_hour - BUCKET_MS[HOUR])
        markers = store.buckets(dirty_pk(site), "0", "9")
        hours.update(label_start_ms(HOUR, m["sk"]) for m in markers)
        window = MinuteWindow(now_ms)
        rolled = [h for h in sorted(hours) if recompute_hour(store, site, shards, h, now_ms, window)]
        report.hours.extend((site, label(HOUR, h)) for h in rolled)
        if rolled:  # an idle site's job reads no summaries
            report.summaries += summarise(
                store, site, window, set(hours), now_ms,
                lambda first_ms, last_ms, site=site: iter_minute_buckets(store, site, shards, first_ms, last_ms))
        for day_ms in sorted({bucket_start_ms(DAY, h) for h in rolled}):
            recompute_day(store, site, day_ms, now_ms, retention_seconds)
            report.days.append((site, label(DAY, day_ms)))
        for marker in markers:
            store.unmark(dirty_pk(site), marker["sk"], marker["version"])
        recent = iter_minute_buckets(store, site, shards, *last_minutes(CURRENT_VISITORS_MINUTES, now_ms))
        report.active_visitors[site] = merge(recent, EXACT_VISITORS_MAX).visitors()
    metrics.active_visitors(report.active_visitors)
    return report


"""The minute job's statistics work: hour and day buckets recomputed from minute buckets, and the
ActiveVisitors metric.

Recomputing (not incrementing) makes the job idempotent: overlapping runs, retries and late events
all converge on the same buckets. Each minute it recomputes the current hour (and, in the first
minutes of an hour, the previous one), every hour a late write marked, and the days of those hours.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core.hll import HyperLogLog
from chalicelib.core.metrics import Metrics
from chalicelib.schema.tables import SPILL_NEWEST, spill_last
from chalicelib.stats.buckets import (
    BUCKET_MS,
    DAY,
    DIMENSIONS,
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

if TYPE_CHECKING:
    from chalicelib.store import StatsStore

PREVIOUS_HOUR_GRACE_MS = 5 * 60_000
CURRENT_VISITORS_MINUTES = 5  # "current visitors": the last 5 minutes, as Plausible and Umami
# Hour and day buckets keep each dimension's top values and fold the rest into "(other)", so a
# site with a million distinct URLs still fits DynamoDB's 400 KB item: at most 300 values, and at
# most DIMENSION_BYTES_KEPT bytes of names and numbers, per dimension (13 x 21 KB, plus a sketch of
# at most 64 KB, stays under 400 KB whatever the values; tests/unit/test_stats.py proves it).
TOP_VALUES_KEPT = 300
DIMENSION_BYTES_KEPT = 21_000
NUMBER_BYTES_MAX = 21  # DynamoDB stores a number in at most 21 bytes
OTHER = "(other)"
_PREFIXES = tuple(d.prefix for d in DIMENSIONS.values())


@dataclass
class Merged:
    """Buckets added together: counters summed, visitors united (sets) or merged (sketches)."""

    counters: Counter = field(default_factory=Counter)
    members: set[bytes] = field(default_factory=set)
    sketch: HyperLogLog | None = None
    exact: bool = True

    def add(self, bucket: dict) -> None:
        for name, value in bucket.items():
            if isinstance(value, int) and name not in ("version", "expires_at_s", "unique_visitors", SPILL_NEWEST):
                self.counters[name] += value
            elif isinstance(value, dict) and name in DIMENSIONS:  # a minute bucket's breakdown map
                prefix = DIMENSIONS[name].prefix
                for key, count in value.items():
                    self.counters[prefix + key] += count
        if "visitors" in bucket:  # a minute bucket: the exact set of hashed visitor ids
            self.members.update(bytes(v) for v in bucket["visitors"])
        if "hll" in bucket:  # an hour or day bucket: a sketch
            self.exact = False
            sketch = HyperLogLog.from_bytes(bytes(bucket["hll"]))
            self.sketch = sketch if self.sketch is None else self.sketch.merge(sketch)

    def visitors(self) -> int:
        if self.exact:
            return len(self.members)
        sketch = self.to_sketch()
        return sketch.estimate()

    def to_sketch(self) -> HyperLogLog:
        sketch = HyperLogLog(self.sketch.registers) if self.sketch is not None else HyperLogLog()
        return sketch.update(int.from_bytes(m, "big") for m in self.members)


def merge(buckets: Iterable[dict]) -> Merged:
    merged = Merged()
    for bucket in buckets:
        merged.add(bucket)
    return merged


def capped(counters: Counter) -> Counter:
    """Keeps each dimension's top values; the rest are summed under "(other)"."""
    kept: Counter = Counter()
    by_prefix: dict[str, list[tuple[str, int]]] = {}
    for name, value in counters.items():
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        if prefix is None:
            kept[name] = value
        else:
            by_prefix.setdefault(prefix, []).append((name, value))
    for prefix, values in by_prefix.items():
        top, size = [], len((prefix + OTHER).encode()) + NUMBER_BYTES_MAX
        for name, value in heapq.nlargest(TOP_VALUES_KEPT, values, key=lambda item: (item[1], item[0])):
            size += len(name.encode()) + NUMBER_BYTES_MAX
            if size > DIMENSION_BYTES_KEPT:
                break
            top.append((name, value))
        kept.update(dict(top))
        rest = sum(v for _, v in values) - sum(v for _, v in top)
        if rest:
            kept[prefix + OTHER] += rest
    return kept


def minute_buckets(store: StatsStore, site: str, shards: int, first_ms: int, last_ms: int) -> list[dict]:
    """Every item of the minute buckets in [first_ms, last_ms], a full minute's further items included."""
    first, last = label(MINUTE, first_ms), spill_last(label(MINUTE, last_ms))
    return [b for shard in range(shards) for b in store.buckets(bucket_pk(site, MINUTE, shard), first, last)]


def _rolled_record(site: str, granularity: str, start_ms: int, merged: Merged, ttl_s: int) -> dict:
    sketch = merged.to_sketch()
    return {"pk": bucket_pk(site, granularity), "sk": label(granularity, start_ms), **capped(merged.counters),
            "unique_visitors": merged.visitors(), "hll": sketch.to_bytes(), "expires_at_s": ttl_s}


def recompute_hour(store: StatsStore, site: str, shards: int, hour_ms: int, now_ms: int) -> bool:
    """Rewrites an hour bucket from its minute buckets; False (and no write) for an hour with none:
    an idle site's minute job then costs reads only."""
    minutes = minute_buckets(store, site, shards, hour_ms, hour_ms + BUCKET_MS[HOUR] - 1)
    if not minutes:
        return False
    store.put(_rolled_record(site, HOUR, hour_ms, merge(minutes), now_ms // 1000 + HOUR_BUCKET_TTL_SECONDS))
    return True


def recompute_day(store: StatsStore, site: str, day_ms: int, now_ms: int, retention_seconds: int) -> None:
    hours = store.buckets(bucket_pk(site, HOUR), label(HOUR, day_ms), label(HOUR, day_ms + BUCKET_MS[DAY] - 1))
    if hours:
        store.put(_rolled_record(site, DAY, day_ms, merge(hours), now_ms // 1000 + retention_seconds))


@dataclass
class RollupReport:
    hours: list[tuple[str, str]] = field(default_factory=list)  # (site, hour label) recomputed
    days: list[tuple[str, str]] = field(default_factory=list)
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
        rolled = [h for h in sorted(hours) if recompute_hour(store, site, shards, h, now_ms)]
        report.hours.extend((site, label(HOUR, h)) for h in rolled)
        for day_ms in sorted({bucket_start_ms(DAY, h) for h in rolled}):
            recompute_day(store, site, day_ms, now_ms, retention_seconds)
            report.days.append((site, label(DAY, day_ms)))
        for marker in markers:
            store.unmark(dirty_pk(site), marker["sk"], marker["version"])
        recent = minute_buckets(store, site, shards, *last_minutes(CURRENT_VISITORS_MINUTES, now_ms))
        report.active_visitors[site] = merge(recent).visitors()
    metrics.active_visitors(report.active_visitors)
    return report


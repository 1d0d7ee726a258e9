"""Adding buckets together: counters summed, visitors united (exact sets) or merged (sketches), and the
cap that keeps a rolled-up item's breakdowns within DynamoDB's item size. Minute items, minute summaries
(summary.py) and hour and day buckets all merge here, so every reader sums them the same way.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.core.hll import HyperLogLog
from chalicelib.schema.tables import SPILL_NEWEST
from chalicelib.stats.buckets import DIMENSIONS

MEMBER_BYTES = 8  # a visitor's hash in a bucket (buckets.visitor_member)
PACKED_VISITORS = "members"  # a minute summary's exact visitor hashes, concatenated (summary.py)
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
    """Buckets added together: counters summed, visitors united (sets) or merged (sketches).

    `exact_visitors_max` bounds the memory a merge of many buckets takes: past that many visitors' hashes
    they are folded into the sketch (the same registers as folding them at the end), and the count is
    the sketch's estimate from then on."""

    counters: Counter = field(default_factory=Counter)
    members: set[bytes] = field(default_factory=set)
    sketch: HyperLogLog | None = None
    exact: bool = True
    exact_visitors_max: int | None = None

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
        if PACKED_VISITORS in bucket:  # a minute summary's exact set, packed
            packed = bytes(bucket[PACKED_VISITORS])
            self.members.update(packed[at:at + MEMBER_BYTES] for at in range(0, len(packed), MEMBER_BYTES))
        if "hll" in bucket:  # an hour or day bucket: a sketch
            self.exact = False
            sketch = HyperLogLog.from_bytes(bytes(bucket["hll"]))
            self.sketch = sketch if self.sketch is None else self.sketch.merge(sketch)
        if self.exact_visitors_max is not None and len(self.members) > self.exact_visitors_max:
            self.sketch, self.members, self.exact = self.to_sketch(), set(), False

    def visitors(self) -> int:
        if self.exact:
            return len(self.members)
        sketch = self.to_sketch()
        return sketch.estimate()

    def to_sketch(self) -> HyperLogLog:
        sketch = HyperLogLog(self.sketch.registers) if self.sketch is not None else HyperLogLog()
        return sketch.update(int.from_bytes(m, "big") for m in self.members)


def merge(buckets: Iterable[dict], exact_visitors_max: int | None = None) -> Merged:
    merged = Merged(exact_visitors_max=exact_visitors_max)
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

"""Lake compaction (the hourly job): each partition's stream objects merged into one compacted object
(one row per event, sorted by time, large row groups) by rewrite.py's crash-safe three steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from chalicelib.core.log import log
from chalicelib.core.metrics import COUNT, LAKE_OBJECTS_COMPACTED
from chalicelib.lake import layout, rewrite
from chalicelib.lake.layout import Partition
from chalicelib.lake.leases import Leases, PartitionBusy, rewriting
from chalicelib.lake.ports import ObjectMissing
from chalicelib.schema.lake import PARTITION_DATE_FORMAT

# A day is closed this long after it ends (UTC): the stream's batching window and retries are over.
SETTLE_MS = 30 * 60_000
# A day still receiving events is compacted once it has this many live objects, so today's queries
# read a few objects, not one per stream batch (late objects simply stay live beside it).
OPEN_PARTITION_OBJECTS = 24
# Not starting a partition with less time than this left (or twice the slowest one so far).
MIN_PARTITION_SECONDS = 10.0


@dataclass
class CompactionReport:
    partitions_compacted: int = 0
    partitions_cleaned: int = 0  # a crashed run's deletes finished
    partitions_given_parts: int = 0  # compacted before visit parts were written: their parts added
    partitions_waiting: int = 0  # open days with few objects: left for a later run
    partitions_left: int = 0  # not reached within the time budget
    partitions_failed: int = 0  # changed under us (ObjectMissing): the next run takes them
    partitions_busy: int = 0  # another rewriter (an erasure) held them: the next run takes them
    objects_before: int = 0  # live objects read
    objects_after: int = 0
    objects_deleted: int = 0  # including superseded objects and old manifests
    rows_before: int = 0
    rows_after: int = 0  # fewer when duplicate copies of an event were merged
    bytes_before: int = 0
    bytes_after: int = 0
    requests: dict[str, int] = field(default_factory=lambda: {"list": 0, "get": 0, "put": 0, "delete": 0})

    @property
    def complete(self) -> bool:
        return self.partitions_left == 0 and self.partitions_failed == 0 and self.partitions_busy == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "complete": self.complete}


def is_closed(partition: Partition, now_ms: int) -> bool:
    day = datetime.strptime(partition.date, PARTITION_DATE_FORMAT).replace(tzinfo=timezone.utc)
    end_ms = int((day + timedelta(days=1)).timestamp() * 1000)
    return now_ms >= end_ms + SETTLE_MS


class _Budget:
    def __init__(self, time_left_seconds: float | None, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._deadline = None if time_left_seconds is None else clock() + time_left_seconds
        self._slowest = 0.0

    def allows_another(self) -> bool:
        if self._deadline is None:
            return True
        return self._deadline - self._clock() >= max(MIN_PARTITION_SECONDS, 2 * self._slowest)

    def timed(self, started: float) -> None:
        self._slowest = max(self._slowest, self._clock() - started)

    def now(self) -> float:
        return self._clock()


def compact(objects, sites: Iterable[str], metrics, *, now_ms: int, time_left_seconds: float | None,
            leases: Leases, clock: Callable[[], float] = time.monotonic,
            after_step: rewrite.StepHook | None = None) -> CompactionReport:
    """One run over every site's partitions, oldest first. `after_step` (tests) runs after each step."""
    report, budget = CompactionReport(), _Budget(time_left_seconds, clock)
    counted = _Counted(objects, report.requests)
    pending: list[tuple[Partition, list]] = []
    for site in sorted(sites):
        pending.extend(sorted(rewrite.group_by_partition(counted.list(layout.site_prefix(site))).items()))
    for index, (partition, listing) in enumerate(pending):
        if not budget.allows_another():
            report.partitions_left = len(pending) - index
            break
        started = budget.now()
        try:
            if _work(rewrite.resolve_listing(counted, partition, listing), now_ms, report):
                # Under the partition's lease, read it again: an erasure may have rewritten it since.
                with rewriting(leases, partition, now_ms):
                    state = rewrite.read_partition(counted, partition)
                    if _work(state, now_ms, CompactionReport()):
                        _compact_partition(counted, state, report, after_step)
        except ObjectMissing as exc:  # another rewrite ran meanwhile: its result stands
            report.partitions_failed += 1
            log("WARN", "lake partition changed during compaction", partition=partition.prefix, key=str(exc))
        except PartitionBusy:
            report.partitions_busy += 1
        budget.timed(started)
    if report.partitions_compacted or report.partitions_cleaned:  # an idle hour prints no metric (each is billed)
        metrics.job({LAKE_OBJECTS_COMPACTED: (report.objects_before, COUNT)})
    log("INFO", "lake compaction", **report.to_dict())
    return report


def _work(state: rewrite.PartitionState, now_ms: int, report: CompactionReport) -> bool:
    """Whether the partition needs a rewrite or a cleanup now (counting an open day that waits)."""
    if state.is_clean or not state.files.live:
        return False
    if state.needs_only_cleanup or state.lacks_only_parts:
        return True
    if len(state.files.live) == 1:
        return False  # one stream object: already one sorted object; merging it would change nothing
    if not is_closed(state.partition, now_ms) and len(state.files.live) < OPEN_PARTITION_OBJECTS:
        report.partitions_waiting += 1
        return False
    return True


def _compact_partition(objects, state: rewrite.PartitionState, report: CompactionReport,
                       after_step: rewrite.StepHook | None) -> None:
    if state.needs_only_cleanup:
        report.objects_deleted += len(rewrite.finish_cleanup(objects, state, after_step))
        report.partitions_cleaned += 1
        return
    if state.lacks_only_parts:  # compacted before visit parts were written: the same object, its parts added
        rewrite.add_visit_parts(objects, state, after_step)
        report.partitions_given_parts += 1
        return
    merged = rewrite.merge(objects, state.files)
    applied = rewrite.apply(objects, state, merged, after_step)
    report.partitions_compacted += 1
    report.objects_before += len(state.files.live)
    report.objects_after += 1
    report.objects_deleted += len(applied.replaced)
    report.rows_before += merged.rows_before
    report.rows_after += merged.rows_after
    report.bytes_before += state.files.size_bytes
    report.bytes_after += applied.size_bytes


class _Counted:
    """The object store, counting requests by kind for the report (S3 bills each one)."""

    def __init__(self, objects, counts: dict[str, int]) -> None:
        self._objects, self._counts = objects, counts

    def list(self, prefix: str):
        self._counts["list"] += 1
        return self._objects.list(prefix)

    def get(self, key: str) -> bytes:
        self._counts["get"] += 1
        return self._objects.get(key)

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._counts["put"] += 1
        self._objects.put(key, body, content_type)

    def delete(self, keys: list[str]) -> None:
        if keys:
            self._counts["delete"] += 1
            self._objects.delete(keys)

"""Lake compaction: a query reading a partition between any two steps of a compaction, or after a crash
at any step and a re-run, sees every event exactly once; late objects, duplicates, budget, cost."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.metrics import LAKE_OBJECTS_COMPACTED, Metrics
from chalicelib.lake import layout, rewrite
from chalicelib.lake.compaction import OPEN_PARTITION_OBJECTS, compact
from chalicelib.lake.layout import Partition
from chalicelib.lake.leases import REWRITE_LEASE_MS, lease_name
from chalicelib.lake.parquet import parquet_rows
from chalicelib.lake.ports import ObjectMissing
from tests.lakefakes import MemoryLakeObjects, MemoryLeases
from tests.lakeparts import (
    AFTER_DAY_MS,
    DAY,
    DAY_START_MS,
    assert_exactly_once,
    event_counts,
    event_rows,
    put_stream_object,
    read_as_query,
)

SITE = "main"
PARTITION = Partition(SITE, DAY)
STEPS = (rewrite.MANIFEST, rewrite.PARTS, rewrite.OBJECT, rewrite.DELETE)


class Crash(Exception):
    pass


def metrics_lines() -> tuple[Metrics, list[str]]:
    lines: list[str] = []
    return Metrics("Test", lines.append), lines


def run(objects, *, now_ms=AFTER_DAY_MS, time_left_seconds=None, after_step=None, clock=None, leases=None):
    kwargs = {"clock": clock} if clock else {}
    return compact(objects, [SITE], metrics_lines()[0], now_ms=now_ms, time_left_seconds=time_left_seconds,
                   leases=leases or MemoryLeases(), after_step=after_step, **kwargs)


def three_stream_objects(objects) -> set[str]:
    rows = [event_rows(40, seed=1), event_rows(25, seed=2, start_ms=DAY_START_MS + 7_200_000),
            event_rows(30, seed=3, start_ms=DAY_START_MS + 60_000)]
    for sequence, part in zip((100, 200, 300), rows, strict=True):
        put_stream_object(objects, SITE, part, sequence)
    return {r["event_id"] for part in rows for r in part}


def names(objects) -> list[str]:
    return sorted(k[len(PARTITION.prefix):] for k in objects.objects if k.startswith(PARTITION.prefix))


def test_a_query_between_every_step_sees_every_event_once():
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)
    seen_steps = []

    def check(step):
        seen_steps.append(step)
        assert_exactly_once(objects, PARTITION, expected, when=f"after step {step}")

    assert_exactly_once(objects, PARTITION, expected, when="before")
    report = run(objects, after_step=check)
    assert seen_steps == list(STEPS)
    assert names(objects) == ["_c-000001.json", "_v-000001.parquet", "c-000001.parquet"]
    assert (report.partitions_compacted, report.objects_before, report.objects_after) == (1, 3, 1)
    assert report.rows_before == report.rows_after == len(expected)
    rows = parquet_rows(objects.get(layout.compacted_object_key(PARTITION, 1)))
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


@pytest.mark.parametrize("crash_after", STEPS)
def test_a_crash_after_any_step_then_a_rerun_keeps_every_event_once(crash_after):
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)

    def crash(step):
        assert_exactly_once(objects, PARTITION, expected, when=f"after step {step}")
        if step == crash_after:
            raise Crash(step)

    with pytest.raises(Crash):
        run(objects, after_step=crash)
    assert_exactly_once(objects, PARTITION, expected, when=f"after a crash at {crash_after}")
    # The re-run is checked between its own steps too.
    run(objects, after_step=lambda step: assert_exactly_once(objects, PARTITION, expected, when=f"re-run {step}"))
    assert_exactly_once(objects, PARTITION, expected, when="after the re-run")
    assert names(objects) == ["_c-000001.json", "_v-000001.parquet", "c-000001.parquet"]
    assert run(objects).partitions_compacted == 0  # clean now: nothing to do


@pytest.mark.parametrize("failing", ["_c-000001.json", "_v-000001.parquet", "c-000001.parquet"])
def test_a_put_that_fails_then_a_rerun_keeps_every_event_once(failing):
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)
    objects.fail_puts.add(PARTITION.prefix + failing)
    with pytest.raises(ConnectionError):
        run(objects)
    assert_exactly_once(objects, PARTITION, expected, when=f"after {failing} failed")
    run(objects)
    assert_exactly_once(objects, PARTITION, expected, when="after the re-run")
    assert names(objects) == ["_c-000001.json", "_v-000001.parquet", "c-000001.parquet"]


class HalfDeletes(MemoryLakeObjects):
    """An S3 whose multi-object delete stops half way (a timeout, a crashed function)."""

    broken = True

    def delete(self, keys):
        if self.broken and len(keys) > 1:
            self.broken = False
            super().delete(keys[: len(keys) // 2])
            raise ConnectionError("delete stopped half way")
        super().delete(keys)


def test_a_delete_step_stopped_half_way_is_finished_by_the_next_run_without_a_rewrite():
    objects = HalfDeletes()
    expected = three_stream_objects(objects)
    with pytest.raises(ConnectionError):
        run(objects)
    assert_exactly_once(objects, PARTITION, expected, when="after half the deletes")
    puts = objects.count("put")
    report = run(objects)
    assert (report.partitions_cleaned, report.partitions_compacted) == (1, 0)
    assert objects.count("put") == puts  # finishing step 3 rewrites nothing
    assert names(objects) == ["_c-000001.json", "_v-000001.parquet", "c-000001.parquet"]
    assert_exactly_once(objects, PARTITION, expected, when="after the re-run")


@pytest.mark.parametrize("listed_after", [None, rewrite.MANIFEST, rewrite.OBJECT])
def test_a_reader_that_listed_before_the_deletes_notices_and_re_resolving_answers_right(listed_after):
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)
    listings = {}

    def remember(step):
        listings[step] = layout.resolve(PARTITION, objects.list(PARTITION.prefix), objects.get)

    listing = layout.resolve(PARTITION, objects.list(PARTITION.prefix), objects.get)
    run(objects, after_step=remember)
    files = listing if listed_after is None else listings[listed_after]
    try:
        rows = [row for obj in files.live for row in parquet_rows(objects.get(obj.key))]
    except ObjectMissing:
        # Listed before the compacted object existed: its stream objects are gone. Reading again works.
        assert listed_after in (None, rewrite.MANIFEST)
        rows = read_as_query(objects, PARTITION)
    else:
        assert listed_after == rewrite.OBJECT  # it already read the compacted object, which stays
    assert sorted(r["event_id"] for r in rows) == sorted(expected)


def test_late_stream_objects_are_read_and_a_second_compaction_absorbs_them():
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)
    run(objects)
    late = event_rows(12, seed=9, start_ms=DAY_START_MS + 80_000_000)
    put_stream_object(objects, SITE, late, 900)
    expected |= {r["event_id"] for r in late}
    assert_exactly_once(objects, PARTITION, expected, when="with a late object")
    # A stream batch re-delivered after compaction writes an already compacted name again: hidden.
    put_stream_object(objects, SITE, event_rows(40, seed=1), 100)
    assert_exactly_once(objects, PARTITION, expected, when="with a re-delivered object")

    report = run(objects, after_step=lambda step: assert_exactly_once(objects, PARTITION, expected, when=step))
    assert (report.objects_before, report.rows_after) == (2, len(expected))  # c-1 and the late object
    assert names(objects) == ["_c-000002.json", "_v-000002.parquet", "c-000002.parquet"]
    manifest = json.loads(objects.get(layout.manifest_key(PARTITION, 2)))
    assert set(manifest["replaces"]) == {layout.compacted_object_key(PARTITION, 1),
                                         layout.stream_object_key(PARTITION, "shardId-00000001700000000000-0123abcd",
                                                                  "100"),
                                         layout.stream_object_key(PARTITION, "shardId-00000001700000000000-0123abcd",
                                                                  "900")}


def test_the_same_event_in_two_stream_objects_ends_up_once():
    objects = MemoryLakeObjects()
    rows = event_rows(20, seed=4)
    put_stream_object(objects, SITE, rows[:15], 10)
    put_stream_object(objects, SITE, rows[10:], 20, shard="shardId-00000001700000000000-9999")  # 5 in both
    assert sum(event_counts(objects, PARTITION).values()) == 25
    report = run(objects)
    assert (report.rows_before, report.rows_after) == (25, 20)
    assert_exactly_once(objects, PARTITION, {r["event_id"] for r in rows})


def test_a_clean_partition_costs_one_listing_and_no_write():
    objects = MemoryLakeObjects()
    three_stream_objects(objects)
    run(objects)
    objects.calls.clear()
    report = run(objects)
    assert report.partitions_compacted == 0
    assert [op for op, _ in objects.calls] == ["list", "get"]  # the listing and the live manifest
    single = MemoryLakeObjects()
    put_stream_object(single, SITE, event_rows(5), 1)
    run(single)
    assert [op for op, _ in single.calls] == ["put", "list"]  # one stream object: nothing to merge


def test_requests_per_partition_compaction():
    objects = MemoryLakeObjects()
    three_stream_objects(objects)
    objects.calls.clear()
    report = run(objects)
    # 1 listing per site and 1 more of the partition under its lease, 1 GET per live object, PUT
    # manifest, visit parts and object, 1 multi-object DELETE.
    assert report.requests == {"list": 2, "get": 3, "put": 3, "delete": 1}
    assert [op for op, _ in objects.calls].count("get") == 3


def test_an_open_day_waits_for_enough_objects_and_a_closed_one_does_not():
    objects = MemoryLakeObjects()
    three_stream_objects(objects)
    during_the_day = DAY_START_MS + 20 * 3_600_000
    assert run(objects, now_ms=during_the_day).partitions_waiting == 1
    for n in range(OPEN_PARTITION_OBJECTS - 3):
        put_stream_object(objects, SITE, event_rows(2, seed=100 + n, start_ms=DAY_START_MS + n * 60_000), 1000 + n)
    assert run(objects, now_ms=during_the_day).partitions_compacted == 1


def test_a_short_budget_starts_no_partition_and_the_next_run_finishes():
    objects = MemoryLakeObjects()
    expected = three_stream_objects(objects)
    other = event_rows(6, start_ms=DAY_START_MS + 86_400_000 + 1000, seed=7)
    put_stream_object(objects, SITE, other[:3], 1)
    put_stream_object(objects, SITE, other[3:], 2)
    report = run(objects, time_left_seconds=5)
    assert (report.partitions_left, report.partitions_compacted, report.complete) == (2, 0, False)
    assert objects.count("put") == 5  # only the fixture's
    ticks = iter(range(0, 1000, 8))  # each call of the clock: 8 more seconds gone
    report = run(objects, time_left_seconds=30, clock=lambda: next(ticks))
    assert (report.partitions_compacted, report.partitions_left) == (1, 1)
    assert run(objects).partitions_compacted == 1
    assert_exactly_once(objects, PARTITION, expected)


def test_the_run_prints_its_metric():
    objects = MemoryLakeObjects()
    three_stream_objects(objects)
    metrics, lines = metrics_lines()
    compact(objects, [SITE], metrics, now_ms=AFTER_DAY_MS, time_left_seconds=None, leases=MemoryLeases())
    [line] = [json.loads(x) for x in lines]
    assert line[LAKE_OBJECTS_COMPACTED] == 3


def test_a_realistic_day_compacts_to_at_most_60_bytes_per_event():
    from bench.lake_workload import day_rows
    from chalicelib.lake.parquet import rows_to_parquet

    rows = list(day_rows(SITE, DAY_START_MS, 100_000))
    objects = MemoryLakeObjects()
    for start in range(0, len(rows), 5000):  # stream batches of ~5,000 events
        objects.put(layout.stream_object_key(PARTITION, "shard-1", str(start + 1)),
                    rows_to_parquet(rows[start:start + 5000]))
    report = run(objects)
    assert report.rows_after == len(rows)
    bytes_per_event = report.bytes_after / report.rows_after
    print(f"lake bytes per event after compaction: {bytes_per_event:.1f} ({len(rows)} events, "
          f"{report.bytes_after} bytes; {report.bytes_before / len(rows):.1f} before)")
    assert bytes_per_event <= 60


def test_a_partition_another_rewriter_holds_is_left_alone_until_its_lease_is_given_back_or_lapses():
    objects = MemoryLakeObjects()
    three_stream_objects(objects)
    before = dict(objects.objects)
    leases = MemoryLeases()
    assert leases.acquire(lease_name(PARTITION), "an-erasure", AFTER_DAY_MS, REWRITE_LEASE_MS)
    report = run(objects, leases=leases)
    assert (report.partitions_busy, report.partitions_compacted, report.complete) == (1, 0, False)
    assert objects.objects == before  # not one PUT or DELETE while the erasure holds it
    report = run(objects, leases=leases, now_ms=AFTER_DAY_MS + REWRITE_LEASE_MS + 1)  # the holder crashed
    assert (report.partitions_busy, report.partitions_compacted) == (0, 1)
    assert leases.held == {}  # given back after the deletes

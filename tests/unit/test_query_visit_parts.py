"""Visit parts (query/sql_visit_parts.py): what compaction writes beside each compacted day, and the visit
totals (the dashboard's tiles) read from them equal the answers of plain Python over the same events
(tests/unit/test_query_golden.py's reference, whose visits sessions/model.py builds), with visits crossing
midnight, copies of events, a day with a stream object written after its compaction, and ranges whose
edges cut days (those days are read as events)."""

from __future__ import annotations

import pytest

from chalicelib.core.metrics import Metrics
from chalicelib.lake import layout, rewrite
from chalicelib.lake.compaction import compact
from chalicelib.lake.erasure import erase
from chalicelib.lake.layout import Partition
from chalicelib.lake.parquet import parquet_rows, rows_to_parquet
from chalicelib.query.description import parse_query
from chalicelib.query.runner import answer
from chalicelib.query.sql_scan import padded_dates
from chalicelib.query.sql_visit_parts import VISIT_TOTALS
from chalicelib.store.lake_duckdb import LakeCache
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects, MemoryLeases
from tests.unit.test_query_golden import RANGES, SETTINGS, SITE, as_map, difference, reference

DAY_MS = 86_400_000
AFTER_MS = workload.START_MS + 30 * DAY_MS
TILES = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]


def quiet() -> Metrics:
    return Metrics("test", lambda _: None)


def compacted(events: list[dict], leave_out: tuple[str, ...] = ()) -> MemoryLakeObjects:
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, [e for e in events if e["event_id"] not in leave_out], seed=8)
    report = compact(objects, workload.SITES, quiet(), now_ms=AFTER_MS, time_left_seconds=None, leases=MemoryLeases())
    assert report.complete and report.partitions_compacted > 3
    return objects


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return workload.events(visitors_per_site=150)


@pytest.fixture(scope="module")
def lake(events) -> MemoryLakeObjects:
    """Every day compacted with its parts; then a stream object of late events lands on the third day."""
    days = sorted({Partition.of(SITE, e["time"]) for e in events if e["site"] == SITE})
    late = [e for e in events if e["site"] == SITE and Partition.of(SITE, e["time"]) == days[2]][::40]
    objects = compacted(events, leave_out=tuple(e["event_id"] for e in late))
    objects.put(layout.stream_object_key(days[2], "shardId-0002", "5000"), rows_to_parquet(late))
    assert len(rewrite.read_partition(objects, days[2]).files.live) == 2
    return objects


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("lake-cache")))


def ask(lake, cache, **request) -> dict:
    answered = answer({"site": SITE, "metrics": TILES, **request}, lake, SETTINGS, quiet(), cache=cache)
    assert "error" not in answered, answered
    return answered


def test_compaction_writes_each_days_parts_one_row_per_visit_of_that_day(events, lake):
    day = Partition.of(SITE, workload.START_MS + DAY_MS)
    state = rewrite.read_partition(lake, day)
    assert state.files.visit_parts is not None and state.files.visit_parts.key == layout.visit_parts_key(day, 1)
    parts = parquet_rows(lake.get(state.files.visit_parts.key))
    of_day = [e for e in events if Partition.of(e["site"], e["time"]) == day]
    assert sorted(p["session_id"] for p in parts) == sorted({e["session_id"] for e in of_day})
    one = parts[0]
    own = [e for e in of_day if e["session_id"] == one["session_id"]]
    assert one["pageviews"] == sum(e["event_type"] == "page_view" for e in own)
    assert one["events"] == sum(e["event_type"] != "engagement" for e in own)
    assert one["first_time"].timestamp() * 1000 == min(e["time"] for e in own)


@pytest.mark.parametrize("time_range", RANGES, ids=["five-days", "two-days", "cut-days"])
def test_visit_totals_from_parts_equal_plain_python(events, lake, cache, time_range):
    got = ask(lake, cache, **time_range)
    expected = reference(events, {"site": SITE, "metrics": TILES, "dimensions": [], "filters": [], **time_range})
    assert as_map(got) == expected, difference(as_map(got), expected)
    read_as_parts = got["meta"]["partitions_read_as_visit_parts"]
    if "time_range_ms" in time_range:
        assert read_as_parts == 0  # both days of the range and their padding are cut by its edges
    else:
        # every day of the range and its padding that has events, but the one with a late stream object
        first, last = padded_dates(parse_query({"site": SITE, "metrics": TILES, **time_range}))
        days = {Partition.of(SITE, e["time"]).date for e in events if e["site"] == SITE}
        assert read_as_parts == len([d for d in days if first <= d <= last]) - 1 > 0


@pytest.mark.parametrize("metrics", [["visitors", "bounce_rate"], ["visit_duration"], ["views_per_visit", "events"]])
def test_any_visit_total_reads_parts_and_event_counts_alone_do_not(events, lake, cache, metrics):
    time_range = RANGES[0]
    got = ask(lake, cache, **time_range, metrics=metrics)
    assert as_map(got) == reference(events, {"site": SITE, "metrics": metrics, "dimensions": [], "filters": [],
                                             **time_range})
    assert got["meta"]["partitions_read_as_visit_parts"] > 0
    counts = ask(lake, cache, **time_range, metrics=["visitors", "pageviews"])  # no visit grouping needed
    assert counts["meta"]["partitions_read_as_visit_parts"] == 0
    assert set(metrics) <= VISIT_TOTALS


@pytest.mark.parametrize("extra", [{"dimensions": ["visit:source"]}, {"filters": [["is", "visit:country", ["US"]]]},
                                   {"metrics": ["visitors", "bounce_rate", "scroll_depth"],
                                    "filters": [["is", "event:page", ["/"]]]}])
def test_queries_needing_facts_of_events_read_the_events(lake, cache, extra):
    got = ask(lake, cache, **RANGES[0], **extra)
    assert got["meta"]["partitions_read_as_visit_parts"] == 0


def test_a_day_compacted_before_parts_existed_gets_them_without_a_new_generation(events):
    objects = compacted(events)
    day = Partition.of(SITE, workload.START_MS + DAY_MS)
    key = layout.visit_parts_key(day, 1)
    written = objects.get(key)
    objects.delete([key])
    assert rewrite.read_partition(objects, day).lacks_only_parts
    report = compact(objects, workload.SITES, quiet(), now_ms=AFTER_MS, time_left_seconds=None, leases=MemoryLeases())
    assert (report.partitions_given_parts, report.partitions_compacted) == (1, 0)
    state = rewrite.read_partition(objects, day)
    assert state.is_clean and state.files.generation == 1
    assert objects.get(key) == written


def test_erasure_rewrites_the_parts_without_the_visitor_and_deletes_the_old_ones(events, tmp_path):
    objects = compacted(events)
    visitor = next(e["visitor_id"] for e in events if e["site"] == SITE)
    days = sorted({Partition.of(SITE, e["time"]) for e in events if e["visitor_id"] == visitor})

    class Store:  # DynamoDB's side of the erasure: nothing there in this test
        def visitor_sessions(self, key):
            return []

        def delete_events(self, site, event_ids):
            return len(event_ids)

        def delete_sessions(self, sessions):
            return len(sessions)

    request = {"visitor": visitor, "by": "visitor_id", "sites": [SITE], "budget_seconds": 60}
    erased = erase(request, store=Store(), objects=objects, leases=MemoryLeases(), now_ms=AFTER_MS,
                   time_left_seconds=None)
    assert erased["complete"] and erased["removed"]["lake"]["rows"] > 0
    for day in days:
        state = rewrite.read_partition(objects, day)
        assert state.files.generation == 2 and state.files.visit_parts is not None
        assert visitor not in {p["visitor_id"] for p in parquet_rows(objects.get(state.files.visit_parts.key))}
        assert layout.visit_parts_key(day, 1) not in {o.key for o in objects.list(day.prefix)}
    answered = ask(objects, LakeCache(str(tmp_path)), **RANGES[0])
    remaining = [e for e in events if e["visitor_id"] != visitor]
    assert as_map(answered) == reference(remaining, {"site": SITE, "metrics": TILES, "dimensions": [], "filters": [],
                                                     **RANGES[0]})


def test_in_a_site_time_zone_the_days_cut_by_local_midnight_are_read_as_events(events, lake, cache):
    request = {**RANGES[0], "timezone": "America/New_York"}  # Nov 1 04:00 to Nov 6 05:00 UTC (DST ends Nov 1)
    got = ask(lake, cache, **request)
    expected = reference(events, {"site": SITE, "metrics": TILES, "dimensions": [], "filters": [], **request})
    assert as_map(got) == expected, difference(as_map(got), expected)
    # UTC days Nov 2-5 lie wholly inside, but the 3rd has a late object; Oct 31, Nov 1 and Nov 6 are cut
    assert got["meta"]["partitions_read_as_visit_parts"] == 3


@pytest.mark.parametrize("dimension", ["time:day", "time:week", "time:month"])
@pytest.mark.parametrize("time_range", RANGES[:2], ids=["five-days", "two-days"])
def test_counts_by_day_week_and_month_from_parts_equal_plain_python(events, lake, cache, dimension, time_range):
    request = {**time_range, "metrics": ["visitors", "visits", "pageviews", "events"], "dimensions": [dimension]}
    got = ask(lake, cache, **request)
    expected = reference(events, {"site": SITE, "filters": [], **request})
    assert as_map(got) == expected, difference(as_map(got), expected)
    assert got["meta"]["partitions_read_as_visit_parts"] > 0


@pytest.mark.parametrize("request_", [
    {"dimensions": ["time:day"], "timezone": "Europe/Berlin"},  # a zone's day cuts a UTC day in two
    {"dimensions": ["time:hour"]}, {"dimensions": ["time:day"], "metrics": ["visitors", "bounce_rate"]},
    {"dimensions": ["time:day"], "filters": [["is", "visit:country", ["US"]]]},
], ids=["zone", "hours", "visit-metric", "filter"])
def test_other_charts_read_the_events(events, lake, cache, request_):
    request = {**RANGES[1], "metrics": ["visitors", "pageviews"], **request_}
    got = ask(lake, cache, **request)
    assert got["meta"]["partitions_read_as_visit_parts"] == 0
    if "timezone" not in request:  # the reference buckets by UTC (test_query_timezones.py checks zones)
        expected = reference(events, {"site": SITE, "filters": [], **request})
        assert as_map(got) == expected, difference(as_map(got), expected)

"""Golden tests of the lake query engine: every metric by a selection of dimensions and filters,
answered by DuckDB over the lake (stream objects with duplicates; compacted partitions with their
superseded objects still present), and the Athena SQL (parsed as Trino, run as its DuckDB twin),
compared with a plain-Python computation over the same events whose visits are built by
sessions/model.py itself. Equal, not approximately equal."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timezone
from fractions import Fraction

import pytest
import sqlglot

from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings
from chalicelib.lake.layout import Partition
from chalicelib.query.builder import build
from chalicelib.query.description import METRICS, QueryError, parse_query
from chalicelib.query.runner import answer, athena_scan, plan, results
from chalicelib.sessions.model import FIRST_EVENT_FIELDS, Session
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects

SITE = "alpha"
DIMENSIONS = [
    (), ("event:page",), ("event:name",), ("event:hostname",), ("event:props:plan",), ("visit:entry_page",),
    ("visit:exit_page",), ("visit:source",), ("visit:referrer",), ("visit:channel",), ("visit:utm_campaign",),
    ("visit:device",), ("visit:browser",), ("visit:os",), ("visit:country",), ("time:hour",), ("time:day",),
    ("time:week",), ("time:month",), ("visit:source", "event:page"), ("time:day", "visit:device"),
]
FILTERS = [
    [],
    [["is", "visit:country", ["US", "DE"]]],
    [["is_not", "visit:source", ["Google"]]],
    [["contains", "event:page", ["blog"]]],
    [["contains", "event:page", ["docs"], {"case_sensitive": False}]],
    [["matches", "event:page", ["^/blog/"]]],
    [["is", "event:props:plan", ["pro"], {"case_sensitive": False}]],
    [["is", "event:name", ["page_view"]], ["is", "visit:device", ["mobile"]]],
    [["or", [["is", "visit:channel", ["Direct"]], ["contains_not", "visit:entry_page", ["pricing"]]]]],
    [["not", ["is", "visit:browser", ["Safari"]]]],
    [["matches_not", "visit:exit_page", ["sign"], {"case_sensitive": False}]],
    [["is", "visit:utm_campaign", ["winter sale"], {"case_sensitive": False}]],
]
RANGES = [{"date_range": ["2026-11-01", "2026-11-05"]},
          {"date_range": ["2026-11-02", "2026-11-03"]},
          # part of two days: visits crossing its edges keep the facts of all their events
          {"time_range_ms": [workload.START_MS + 30 * 3_600_000, workload.START_MS + 60 * 3_600_000]}]


# --- the independent computation ------------------------------------------------------------------

def visits_of(events: list[dict]) -> dict[str, tuple[Session, dict]]:
    """Each visit as the sessions store builds it (sessions/model.py), and its first event."""
    by_session = defaultdict(list)
    for event in events:
        by_session[event["session_id"]].append(event)
    out = {}
    for session_id, rows in by_session.items():
        rows.sort(key=lambda r: r["time"])
        records = [{**r, "time_ms": r["time"], "properties": ({"engaged_ms": r["engaged_ms"]} if "engaged_ms" in r
                                                               else r.get("properties"))} for r in rows]
        session = Session.start(SITE, rows[0]["visitor_id"], "0000000001", records[0])
        for record in records[1:]:
            session.add(record)
        out[session_id] = (session, rows[0])
    return out


def dimension_value(name: str, event: dict, visit: tuple[Session, dict]):
    session, first = visit
    stamp = datetime.fromtimestamp(event["time"] / 1000, tz=timezone.utc)
    simple = {"event:page": event.get("page_path"), "event:name": event["event_type"],
              "event:hostname": event.get("page_host"), "visit:entry_page": session.entry_page,
              "visit:exit_page": session.exit_page, "visit:referrer": first.get("referrer"),
              "visit:device": session.first_event.get("device_type"),
              "time:hour": stamp.strftime("%Y-%m-%d %H:00:00"), "time:day": stamp.strftime("%Y-%m-%d"),
              "time:month": stamp.strftime("%Y-%m-01")}
    if name in simple:
        return simple[name]
    if name == "time:week":
        monday = stamp.toordinal() - stamp.weekday()
        return datetime.fromordinal(monday).strftime("%Y-%m-%d")
    if name.startswith("event:props:"):
        return (event.get("properties") or {}).get(name[len("event:props:"):])
    field = name.removeprefix("visit:")
    assert field in FIRST_EVENT_FIELDS
    return session.first_event.get(field)


def matches(node: list, event: dict, visit) -> bool:
    operator = node[0]
    if operator == "and":
        return all(matches(n, event, visit) for n in node[1])
    if operator == "or":
        return any(matches(n, event, visit) for n in node[1])
    if operator == "not":
        return not matches(node[1], event, visit)
    value = dimension_value(node[1], event, visit)
    sensitive = (node[3] if len(node) == 4 else {}).get("case_sensitive", True)
    if value is None:
        return operator.endswith("_not")
    fold = (lambda s: s) if sensitive else str.lower
    positive = operator.removesuffix("_not")
    if positive == "is":
        hit = fold(value) in [fold(v) for v in node[2]]
    elif positive == "contains":
        hit = any(fold(v) in fold(value) for v in node[2])
    else:
        hit = any(re.search(v, value, 0 if sensitive else re.IGNORECASE) for v in node[2])
    return hit != operator.endswith("_not")


def reference(events: list[dict], request: dict) -> dict[tuple, list]:
    query = parse_query(request)
    site_events = [e for e in events if e["site"] == request["site"]]
    visits = visits_of(site_events)
    groups: dict[tuple, dict] = defaultdict(lambda: {"sessions": set(), "visitors": set(), "pageviews": 0,
                                                     "events": 0})
    for event in site_events:
        if not query.start_ms <= event["time"] < query.end_ms:
            continue
        visit = visits[event["session_id"]]
        if not all(matches(f, event, visit) for f in request.get("filters", [])):
            continue
        group = groups[tuple(dimension_value(d, event, visit) for d in query.dimensions)]
        group["sessions"].add(event["session_id"])
        group["visitors"].add(event["visitor_id"])
        group["pageviews"] += event["event_type"] == "page_view"
        group["events"] += event["event_type"] != "engagement"
    if not query.dimensions and not groups:
        groups[()]  # an aggregate over nothing is one row of zeros
    answer_rows = {}
    for key, group in groups.items():
        sessions = [visits[s][0] for s in group["sessions"]]
        n = len(sessions)

        def ratio(numerator, scale=1, n=n):
            return Fraction(numerator * scale, n) if n else Fraction(0)

        values = {"visitors": len(group["visitors"]), "visits": n, "pageviews": group["pageviews"],
                  "events": group["events"],
                  "views_per_visit": float(round(ratio(sum(s.page_views for s in sessions)), 2)),
                  "bounce_rate": float(round(ratio(sum(s.bounce for s in sessions), 100), 1)),
                  "visit_duration": float(round(ratio(sum(s.duration_ms for s in sessions)) / 1000, 1))}
        answer_rows[key] = [values[m] for m in query.metrics]
    return answer_rows


# --- the lake ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events() -> list[dict]:
    return workload.events(visitors_per_site=150)


@pytest.fixture(scope="module")
def stream_lake(events) -> MemoryLakeObjects:
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def compacted_lake(events) -> MemoryLakeObjects:
    """Every partition of the site compacted; on odd days the replaced stream objects are still
    there (compaction between its steps), and one day has a stream object written after it."""
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, events, seed=8)
    partitions = sorted({Partition.of(e["site"], e["time"]) for e in events if e["site"] == SITE})
    for n, partition in enumerate(partitions):
        workload.compact_partition(objects, partition, delete_replaced=n % 2 == 0)
    late = [e for e in events if e["site"] == SITE and Partition.of(SITE, e["time"]) == partitions[2]][:5]
    workload.write_stream_layout(objects, late, objects_per_partition=1, duplicate_share=0)  # new s-…1000 name
    return objects


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("lake-cache")))


SETTINGS = Settings(stage="test", sites={}, default_site_id=SITE, event_retention_days=30, lake_bucket="lake-test")


def as_map(answered: dict) -> dict[tuple, list]:
    assert "error" not in answered, answered
    return {tuple(r["dimensions"]): r["metrics"] for r in answered["results"]}


def difference(got: dict, expected: dict) -> list:
    return [(k, got.get(k), expected.get(k)) for k in sorted(set(got) | set(expected), key=str)
            if got.get(k) != expected.get(k)][:5]


def requests():
    """Every dimension with three filters (none and two that rotate), every filter with no dimension
    and with two, and the shorter ranges with a few of each: every metric in each."""
    def request(dims, filters, time_range=RANGES[0]):
        return {"site": SITE, **time_range, "metrics": list(METRICS), "dimensions": list(dims), "filters": filters}

    for i, dims in enumerate(DIMENSIONS):
        for filters in (FILTERS[0], FILTERS[1 + i % 11], FILTERS[1 + (i + 5) % 11]):
            yield request(dims, filters)
    for filters in FILTERS[1:]:
        for dims in ((), ("visit:source",), ("event:page",)):
            yield request(dims, filters)
    for time_range in RANGES[1:]:
        for dims in DIMENSIONS[:8]:
            for filters in (FILTERS[0], FILTERS[3], FILTERS[8]):
                yield request(dims, filters, time_range)


def test_workload_is_what_the_golden_tests_need(events, stream_lake):
    assert len(events) >= 3000
    assert len({e["site"] for e in events}) == 3
    assert any(e["received_time"] - e["time"] > 3_600_000 for e in events)  # late events
    crossing = {e["session_id"] for e in events if Partition.of("x", e["time"]).date == "2026-11-02"} & \
        {e["session_id"] for e in events if Partition.of("x", e["time"]).date == "2026-11-03"}
    assert crossing  # visits crossing midnight
    from chalicelib.lake.parquet import parquet_rows
    stored = [r["event_id"] for body in stream_lake.objects.values() for r in parquet_rows(body)]
    assert len(stored) > len(set(stored)) == len(events)  # duplicates in the lake, every event there


def test_every_metric_by_dimensions_and_filters_equals_plain_python(events, stream_lake, compacted_lake, cache):
    lines = []
    compared = 0
    for request in requests():
        expected = reference(events, request)
        for lake in (stream_lake, compacted_lake):
            got = as_map(answer(request, lake, SETTINGS, Metrics("test", lines.append), cache=cache))
            assert got == expected, (request, difference(got, expected))
            compared += 1
    assert compared > 250
    assert all('"Engine":"duckdb"' in line for line in lines)


def test_athena_sql_parses_as_trino_and_its_duckdb_twin_answers_the_same(events, compacted_lake, cache):
    """Athena reads every object of a partition, superseded ones too: its SQL names the live ones by
    "$path". The Trino text is parsed with sqlglot's Trino grammar, printed back as DuckDB, and run
    over ALL the objects (as Athena sees them), with $path = s3://bucket/key."""
    checked = 0
    for request in list(requests())[::4]:
        query = parse_query(request)
        files = plan(query, compacted_lake)
        assert any(f.superseded for f in files)
        trino_sql = build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(dialect="trino")
        assert '"$path" IN (' in trino_sql
        twin = sqlglot.parse_one(trino_sql, read="trino").sql(dialect="duckdb")
        ran = run_sql(compacted_lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket, include_superseded=True)
        got = {tuple(r["dimensions"]): r["metrics"] for r in results(query, ran.columns, ran.rows)}
        assert got == reference(events, request), request
        checked += 1
    assert checked >= 30


def test_without_the_path_restriction_athena_would_count_superseded_copies(events, compacted_lake, cache):
    # The restriction is what keeps the answer right: the same SQL without it counts events twice.
    request = {"site": SITE, **RANGES[0], "metrics": ["pageviews"]}
    query = parse_query(request)
    files = plan(query, compacted_lake)
    scan = athena_scan(query, files, SETTINGS.lake_bucket)
    unrestricted = build(query, type(scan)(scan.site, scan.first_date, scan.last_date)).sql(dialect="duckdb")
    ran = run_sql(compacted_lake, files, unrestricted, cache=cache, bucket="lake-test", include_superseded=True)
    # Duplicates are dropped by event_id even then (the safety net); the counts stay right, and the
    # rows read are more than the live objects hold.
    assert results(query, ran.columns, ran.rows)[0]["metrics"] == reference(events, request)[()]
    assert ran.files_read > sum(len(f.live) for f in files)


def test_the_total_of_every_group_equals_plain_python_visitors_in_both_engines(events, compacted_lake, cache):
    """`with_total` (Plausible's percentage divisor from the same pass): every group's visitors
    together, a visitor in two groups once, equal to the same request without dimensions."""
    checked = 0
    for i, dims in enumerate(d for d in DIMENSIONS if d):
        for filters in (FILTERS[0], FILTERS[1 + i % 11], FILTERS[1 + (i + 3) % 11]):
            request = {"site": SITE, **RANGES[0], "metrics": ["visitors"], "dimensions": list(dims),
                       "filters": filters, "limit": 3, "with_total": True}
            whole = {k: v for k, v in request.items() if k not in ("dimensions", "limit", "with_total")}
            expected = reference(events, whole)[()][0]
            got = answer(request, compacted_lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)
            assert got["total_visitors"] == expected, request  # the limit cuts rows, not the total
            query = parse_query(request)
            files = plan(query, compacted_lake)
            twin = sqlglot.parse_one(build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(
                dialect="trino"), read="trino").sql(dialect="duckdb")
            ran = run_sql(compacted_lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket,
                          include_superseded=True)
            assert {row[ran.columns.index("total_visitors")] for row in ran.rows} == {expected}
            checked += 1
    assert checked == 3 * (len(DIMENSIONS) - 1)


def test_with_total_is_refused_where_it_would_not_be_every_visitor():
    for request in ({"dimensions": []}, {"dimensions": ["event:goal"], "goals": [{"name": "S", "event": "signup"}]},
                    {"dimensions": ["event:page"], "with_total": "yes"}):
        with pytest.raises(QueryError) as caught:
            parse_query({"site": SITE, **RANGES[0], "metrics": ["visitors"], "with_total": True, **request})
        assert caught.value.field == "with_total"

"""Golden tests of the lake query without visits (query/sql_counts.py): metric subsets countable from
events (visitors, visits, pageviews, events) by event dimensions and filters, and subsets of visit
figures, answered by DuckDB and by the Athena SQL's DuckDB twin, equal to test_query_golden's
plain-Python computation; and which path each query takes."""

from __future__ import annotations

import pytest
import sqlglot

from chalicelib.core.metrics import Metrics
from chalicelib.query.builder import build
from chalicelib.query.description import parse_query
from chalicelib.query.runner import answer, athena_scan, plan, results
from chalicelib.query.sql_counts import counts_events_only, parts_needed
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.unit.test_query_golden import RANGES, SETTINGS, SITE, as_map, difference, reference

SUBSETS = [["visitors"], ["visitors", "pageviews"], ["visits", "events"], ["pageviews", "visitors", "visits"],
           ["events"], ["visitors", "bounce_rate"], ["visit_duration", "visits"], ["views_per_visit"]]
DIMENSIONS = [(), ("event:page",), ("event:name",), ("event:props:plan",), ("time:hour",), ("time:day",),
              ("time:week",), ("time:day", "event:page"), ("visit:source",), ("visit:country", "event:page")]
FILTERS = [
    [],
    [["contains", "event:page", ["blog"]]],
    [["is", "event:props:plan", ["pro"], {"case_sensitive": False}]],
    [["or", [["is", "event:name", ["signup"]], ["matches_not", "event:page", ["^/docs"]]]]],
    [["is", "visit:country", ["US", "DE"]]],
    [["not", ["is", "visit:device", ["mobile"]]], ["contains", "event:page", ["o"]]],
]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return workload.events(visitors_per_site=150)


@pytest.fixture(scope="module")
def lake(events):
    return workload.stream_lake(events)  # stream objects with copies of events: the scan's dedupe runs too


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("lake-cache")))


def requests():
    for i, metrics in enumerate(SUBSETS):
        for j, dims in enumerate(DIMENSIONS):
            filters = FILTERS[(i + j) % len(FILTERS)]
            yield {"site": SITE, **RANGES[(i + j) % len(RANGES)], "metrics": metrics, "dimensions": list(dims),
                   "filters": filters}


def test_event_counts_equal_plain_python_in_both_engines(events, lake, cache):
    by_events = 0
    for request in requests():
        expected = reference(events, request)
        got = as_map(answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
        assert got == expected, (request, difference(got, expected))
        query = parse_query(request)
        files = plan(query, lake)
        twin = sqlglot.parse_one(build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(dialect="trino"),
                                 read="trino").sql(dialect="duckdb")
        ran = run_sql(lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket)
        assert {tuple(r["dimensions"]): r["metrics"] for r in results(query, ran.columns, ran.rows)} == expected
        by_events += counts_events_only(query)
    assert by_events >= 20  # the path without visits is what most of these take


def test_the_path_without_visits_is_taken_only_for_event_counts_by_event_facts():
    def query(metrics, dims=(), filters=()):
        return parse_query({"site": SITE, **RANGES[0], "metrics": metrics, "dimensions": list(dims),
                            "filters": list(filters)})

    assert counts_events_only(query(["visitors"], ["time:day"]))
    assert counts_events_only(query(["visitors", "pageviews"], ["event:page"], [["contains", "event:page", ["a"]]]))
    assert counts_events_only(query(["visits", "events"]))
    assert not counts_events_only(query(["visitors"], ["visit:source"]))  # the visit's first event's fact
    assert not counts_events_only(query(["visitors"], ["event:page"], [["is", "visit:country", ["US"]]]))
    assert not counts_events_only(query(["visitors", "bounce_rate"], ["time:day"]))
    assert parts_needed(query(["bounce_rate"])) == {"bounces", "visits"}
    sql = build(query(["visitors"], ["time:day"]), athena_scan(query(["visitors"]), [], "b")).sql(dialect="duckdb")
    assert "visits AS" not in sql and "JOIN" not in sql
    tiles = build(query(["visitors"], ["visit:source"]), athena_scan(query(["visitors"]), [], "b")).sql("duckdb")
    assert "properties" not in tiles.split("FROM events")[1]  # no bounce worked out: no engaged_ms property read

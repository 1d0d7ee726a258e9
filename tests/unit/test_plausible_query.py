"""Plausible Stats API v2 <-> the lake query: every translation both ways, every 400, and each
date_range shortcut resolved against a fixed now the way Plausible's parser does (query_parser.ex:
`<n>d` = the n days before today, `<n>mo` = the n months before this one, day/month/year whole)."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

import pytest

from chalicelib.core.errors import ApiError
from chalicelib.core.goals import Goal
from chalicelib.core.settings import Site
from chalicelib.query import plausible
from chalicelib.query.description import parse_query

NOW_MS = calendar.timegm(datetime(2024, 9, 10, 13, 45, 30, tzinfo=timezone.utc).timetuple()) * 1000 + 250
SITES = {"dummy-site": object()}


def translate(body: dict, retention_days: int = 400) -> plausible.Translated:
    return plausible.translate(body, SITES, retention_days, NOW_MS)


def query(**parts) -> dict:
    return {"site_id": "dummy-site", "metrics": ["visitors"], "date_range": "7d", **parts}


@pytest.mark.parametrize(("date_range", "first", "last"), [
    ("day", "2024-09-10T00:00:00+00:00", "2024-09-10T23:59:59+00:00"),
    ("7d", "2024-09-03T00:00:00+00:00", "2024-09-09T23:59:59+00:00"),
    ("28d", "2024-08-13T00:00:00+00:00", "2024-09-09T23:59:59+00:00"),
    ("30d", "2024-08-11T00:00:00+00:00", "2024-09-09T23:59:59+00:00"),
    ("91d", "2024-06-11T00:00:00+00:00", "2024-09-09T23:59:59+00:00"),
    ("month", "2024-09-01T00:00:00+00:00", "2024-09-30T23:59:59+00:00"),
    ("6mo", "2024-03-01T00:00:00+00:00", "2024-08-31T23:59:59+00:00"),
    ("12mo", "2023-09-01T00:00:00+00:00", "2024-08-31T23:59:59+00:00"),
    ("year", "2024-01-01T00:00:00+00:00", "2024-12-31T23:59:59+00:00"),
    ("24h", "2024-09-09T13:45:31+00:00", "2024-09-10T13:45:30+00:00"),
    (["2024-08-01", "2024-08-15"], "2024-08-01T00:00:00+00:00", "2024-08-15T23:59:59+00:00"),
    (["2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"], "2024-01-01T10:00:00+00:00",
     "2024-01-01T13:59:59+00:00"),
])
def test_date_ranges_resolve_in_utc_as_plausible_resolves_them(date_range, first, last):
    resolved = translate(query(date_range=date_range))
    assert resolved.echo["date_range"] == [first, last]
    start_ms, end_ms = resolved.lake["time_range_ms"]
    assert plausible._iso(start_ms) == first and plausible._iso(end_ms - 1000) == last


def test_all_runs_from_the_retention_start_to_the_end_of_today():
    assert translate(query(date_range="all"), retention_days=30).echo["date_range"] == [
        "2024-08-12T00:00:00+00:00", "2024-09-10T23:59:59+00:00"]


def test_a_full_query_becomes_the_lake_request_the_lake_accepts():
    body = query(metrics=["visitors", "pageviews", "bounce_rate", "percentage"],
                 dimensions=["visit:utm_medium", "visit:utm_source"],
                 filters=[["contains", "event:page", ["/docs", "/pricing"]],
                          ["or", [["not", ["is", "visit:utm_campaign", ["Referral"]]],
                                  ["is", "visit:country", ["EE", "US"], {"case_sensitive": False}]]]],
                 order_by=[["percentage", "desc"], ["visit:utm_source", "asc"]],
                 pagination={"limit": 3, "offset": 1})
    resolved = translate(body)
    start_ms, end_ms = resolved.lake["time_range_ms"]
    assert resolved.lake == {
        "site": "dummy-site", "time_range_ms": [start_ms, end_ms],
        "metrics": ["visitors", "pageviews", "bounce_rate"], "dimensions": ["visit:utm_medium", "visit:utm_source"],
        "filters": body["filters"], "order_by": [["visitors", "desc"], ["visit:utm_source", "asc"]],
        "limit": 3, "offset": 1, "with_total": True}
    assert resolved.total is None  # percentage's divisor comes from the same lake pass (with_total)
    lake_query = parse_query(resolved.lake)  # the lake's own validation takes it as it is
    assert lake_query.limit == 3 and lake_query.filter is not None and lake_query.with_total
    assert resolved.echo == {
        "site_id": "dummy-site", "metrics": body["metrics"],
        "date_range": ["2024-09-03T00:00:00+00:00", "2024-09-09T23:59:59+00:00"], "filters": body["filters"],
        "dimensions": body["dimensions"], "order_by": body["order_by"], "include": {},
        "pagination": {"offset": 1, "limit": 3}}


def test_plausibles_default_order_and_pagination():
    resolved = translate(query(metrics=["events", "visitors"], dimensions=["time:day", "event:props:plan"]))
    assert resolved.echo["order_by"] == [["time:day", "asc"], ["events", "desc"]]
    assert resolved.echo["pagination"] == {"offset": 0, "limit": 10_000}
    assert (resolved.lake["limit"], resolved.lake["offset"]) == (10_000, 0)
    assert translate(query()).echo["order_by"] == [["visitors", "desc"]]


@pytest.mark.parametrize(("date_range", "dimension"), [
    ("day", "time:hour"), (["2024-09-08", "2024-09-09"], "time:hour"), ("7d", "time:day"), ("30d", "time:day"),
    (["2024-08-01", "2024-09-09"], "time:day"), ("91d", "time:week"), ("12mo", "time:month")])
def test_time_resolves_to_the_bucket_plausible_picks_for_the_range(date_range, dimension):
    resolved = translate(query(date_range=date_range, dimensions=["time"], order_by=[["time", "desc"]]))
    assert resolved.lake["dimensions"] == resolved.echo["dimensions"] == [dimension]
    assert resolved.lake["order_by"] == [[dimension, "desc"]]


def lake_answer(rows: list[tuple[list, list]], **meta) -> dict:
    return {"results": [{"dimensions": d, "metrics": m} for d, m in rows],
            "meta": {"engine": "duckdb", "bytes_read": 10, **meta}}


def test_the_answer_has_plausibles_shape_with_percentage_of_the_total_visitors():
    asked = []

    def ask(request: dict) -> dict:
        asked.append(request)
        return {**lake_answer([(["google"], [7, 3]), (["(none)"], [2, 2])]), "total_visitors": 4}

    body = query(metrics=["pageviews", "percentage"], dimensions=["visit:source"])
    out = plausible.run(body, ask, SITES, 400, NOW_MS)
    # one lake request: the groups and, from the same pass, their visitors together
    assert [(a["metrics"], a["with_total"]) for a in asked] == [(["pageviews", "visitors"], True)]
    # 3 of 4 visitors and 2 of 4: a visitor can be in two groups, so the divisor is the total's own count.
    assert out["results"] == [{"dimensions": ["google"], "metrics": [7, 75.0]},
                              {"dimensions": ["(none)"], "metrics": [2, 50.0]}]
    assert out["query"]["metrics"] == ["pageviews", "percentage"]
    assert [m["engine"] for m in out["meta"]["liveinsight"]] == ["duckdb"]


def test_percentage_by_goal_asks_its_divisor_apart():
    # a goal row counts converting visitors only: the divisor is every visitor of the filters
    sites = {"dummy-site": Site("dummy-site", frozenset(), goals=(Goal("Signup", event="signup"),))}
    resolved = plausible.translate(query(metrics=["visitors", "percentage"], dimensions=["event:goal"]), sites,
                                   400, NOW_MS)
    assert "with_total" not in resolved.lake
    assert resolved.total["metrics"] == ["visitors"] and "dimensions" not in resolved.total


def test_total_rows_pages_here_from_every_group():
    resolved = translate(query(dimensions=["visit:source"], include={"total_rows": True},
                               pagination={"limit": 2, "offset": 1}))
    assert (resolved.lake["limit"], resolved.lake["offset"]) == (10_000, 0)
    out = plausible.respond(resolved, lake_answer([([s], [n]) for s, n in (("a", 9), ("b", 5), ("c", 4), ("d", 1))]))
    assert [r["dimensions"] for r in out["results"]] == [["b"], ["c"]]
    assert out["meta"]["total_rows"] == 4 and "total_rows_capped" not in out["meta"]
    assert out["query"]["include"] == {"total_rows": True}


def test_time_labels_and_weeks_that_start_no_earlier_than_the_range():
    hours = translate(query(date_range="day", dimensions=["time:hour"], include={"time_labels": True}))
    assert hours.time_labels[0] == "2024-09-10 00:00:00" and hours.time_labels[-1] == "2024-09-10 23:00:00"
    assert len(hours.time_labels) == 24
    weeks = translate(query(date_range=["2024-09-04", "2024-09-20"], dimensions=["time:week"],
                            include={"time_labels": True}))
    assert weeks.time_labels == ("2024-09-04", "2024-09-09", "2024-09-16")
    out = plausible.respond(weeks, lake_answer([(["2024-09-02"], [3]), (["2024-09-09"], [1])]))
    assert [r["dimensions"] for r in out["results"]] == [["2024-09-04"], ["2024-09-09"]]
    assert out["meta"]["time_labels"] == list(weeks.time_labels)
    months = translate(query(date_range="6mo", dimensions=["time:month"], include={"time_labels": True}))
    assert months.time_labels == ("2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01", "2024-07-01",
                                  "2024-08-01")


@pytest.mark.parametrize(("body", "part", "words"), [
    ([], "query", "JSON object"),
    (query(date="2024-01-01"), "date", "unknown field"),
    (query(site_id="other.site"), "site_id", "unknown site 'other.site'"),
    (query(date_range="yesterday"), "date_range", "'yesterday'"),
    (query(date_range=["2024-01-01", "2024-13-01"]), "date_range", "ISO dates"),
    (query(date_range=["2024-01-01T00:00:00", "2024-01-02T00:00:00"]), "date_range", "offset"),
    (query(date_range=["2024-02-01", "2024-01-01"]), "date_range", "ends before it starts"),
    (query(date_range=["2023-01-01", "2024-09-01"]), "date_range", "more than 400 days"),
    (query(metrics=[]), "metrics", "non-empty"),
    (query(metrics=["visitors", "sessions"]), "metrics", "unknown metric 'sessions'"),
    (query(metrics=["visitors", "visitors"]), "metrics", "twice"),
    (query(metrics=["conversion_rate"]), "metrics", "'conversion_rate' needs an event:goal dimension or filter"),
    (query(metrics=["group_conversion_rate"]), "metrics", "'group_conversion_rate' needs an event:goal"),
    (query(metrics=["total_revenue"]), "metrics", "'total_revenue' needs an event:goal dimension or filter"),
    (query(metrics=["average_revenue"]), "metrics", "'average_revenue' needs an event:goal dimension or filter"),
    (query(metrics=["time_on_page"]), "metrics", "'time_on_page' can only be queried with event:page"),
    (query(metrics=["scroll_depth"], filters=[["or", [["is", "event:page", ["/"]]]]]), "metrics",
     "'scroll_depth' can only be queried with an event:page dimension or a top-level"),
    (query(metrics=["percentage"]), "metrics", "needs at least one dimension"),
    (query(dimensions=["visit:planet"]), "dimensions", "unknown dimension 'visit:planet'"),
    (query(dimensions=["event:goal"]), "dimensions", "'event:goal' needs goals: this site has none"),
    (query(dimensions=["visit:city_name"]), "dimensions", "'visit:city_name' is not supported yet"),
    (query(dimensions=["time:day", "time:hour"]), "dimensions", "one time dimension"),
    (query(dimensions="visit:source"), "dimensions", "must be a list"),
    (query(filters=[["is_exactly", "event:page", ["/"]]]), "filters[0]", "unknown operator 'is_exactly'"),
    (query(filters=[["has_done", ["is", "event:page", ["/pricing"]]]]), "filters[0]", "'has_done' is not supported"),
    (query(filters=[["is", "segment", [2]]]), "filters[0]", "'segment' is not supported yet"),
    (query(filters=[["and", [["is", "visit:country_name", ["Estonia"]]]]]), "filters[0][1][0]",
     "'visit:country_name' is not supported yet"),
    (query(filters=[["not", ["is", "event:pages", ["/"]]]]), "filters[0][1]", "unknown dimension 'event:pages'"),
    (query(filters=[["is", "time:day", ["2024-01-01"]]]), "filters[0]", "set date_range instead"),
    (query(filters={"is": "x"}), "filters", "list of filters"),
    (query(order_by=[["pageviews", "desc"]]), "order_by", "not a metric or dimension of this query"),
    (query(order_by=[["visitors", "down"]]), "order_by", "\"asc\" or \"desc\""),
    (query(include={"comparisons": {"mode": "last_week"}}), "include.comparisons.mode", "must be one of"),
    (query(include={"imports": True}), "include.imports", "not supported yet"),
    (query(include={"total_rows": "yes"}), "include.total_rows", "true or false"),
    (query(include={"time_labels": True}), "include.time_labels", "needs a time dimension"),
    (query(include={"sample": True}), "include.sample", "unknown option"),
    (query(pagination={"limit": 0}), "pagination.limit", "from 1 to 10000"),
    (query(pagination={"limit": 10, "offset": -1}), "pagination.offset", "whole number"),
    (query(pagination={"page": 2}), "pagination.page", "unknown option"),
])
def test_every_bad_part_is_a_400_naming_it(body, part, words):
    with pytest.raises(ApiError) as raised:
        plausible.translate(body, SITES, 400, NOW_MS)
    assert raised.value.status_code == 400 and raised.value.field == part
    assert words in raised.value.message and raised.value.message.startswith(f"{part}: ")


def test_lake_errors_keep_their_status_and_name_the_plausible_part():
    with pytest.raises(ApiError) as raised:
        plausible.checked({"status": 400, "error": {"code": "invalid_query", "field": "filters[0]",
                                                    "message": "filters[0]: 'x(' is not a regular expression"}})
    assert (raised.value.status_code, raised.value.field) == (400, "filters[0]")
    assert raised.value.message == "filters[0]: 'x(' is not a regular expression"
    with pytest.raises(ApiError) as raised:
        plausible.checked({"status": 503, "error": {"code": "engine_failed", "message": "DuckDB: out of memory"}})
    assert raised.value.status_code == 503 and raised.value.headers == {"Retry-After": "5"}


def test_the_body_must_be_json_and_errors_have_plausibles_shape():
    with pytest.raises(ApiError) as raised:
        plausible.request_body(b"{not json")
    assert raised.value.status_code == 400 and "not JSON" in raised.value.message
    assert plausible.error_body(raised.value)["error"].startswith("query: the request body is not JSON")
    with pytest.raises(ApiError):
        plausible.request_body(b"")

"""Plausible Stats API v1 -> the v2 query -> v1's shapes: periods resolved as Plausible's
Legacy.QueryBuilder resolves them, filters as its StatsAPIFilterParser reads them, the lake requests
each endpoint makes, and the answers reshaped as Legacy.Aggregate/Breakdown/Timeseries do. The lake is
a recording function with canned answers (the real lake is in tests/integration/test_api_v1_stats.py)."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

import pytest

from chalicelib.core.errors import ApiError
from chalicelib.query import plausible_v1

NOW_MS = calendar.timegm(datetime(2024, 9, 10, 13, 45, 30, tzinfo=timezone.utc).timetuple()) * 1000
SITES = {"demo": object()}


class Lake:
    """ask(): records each lake request and answers the next canned rows."""

    def __init__(self, *answers: list) -> None:
        self.answers, self.requests = list(answers), []

    def __call__(self, request: dict) -> dict:
        self.requests.append(request)
        return {"results": self.answers.pop(0) if self.answers else [], "meta": {}}


def run(endpoint: str, lake: Lake, **given):
    return plausible_v1.run(endpoint, {"site_id": "demo", **given}, lake, SITES, 400, NOW_MS)


def iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date().isoformat()


@pytest.mark.parametrize(("given", "first", "last"), [
    ({}, "2024-08-11", "2024-09-10"),  # 30d by default: date and the 30 days before
    ({"period": "7d"}, "2024-09-04", "2024-09-10"),
    ({"period": "day"}, "2024-09-10", "2024-09-10"),
    ({"period": "day", "date": "2021-01-01"}, "2021-01-01", "2021-01-01"),
    ({"period": "month", "date": "2024-02-10"}, "2024-02-01", "2024-02-29"),
    ({"period": "6mo"}, "2024-04-01", "2024-09-30"),
    ({"period": "12mo", "date": "2024-01-15"}, "2023-02-01", "2024-01-31"),
    ({"period": "custom", "date": "2024-08-01, 2024-08-15"}, "2024-08-01", "2024-08-15"),
])
def test_periods_resolve_as_plausibles_legacy_query_builder(given, first, last):
    assert plausible_v1.date_range(given, NOW_MS) == [first, last]
    lake = Lake([{"dimensions": [], "metrics": [3]}])
    run("aggregate", lake, **given)
    start_ms, end_ms = lake.requests[0]["time_range_ms"]
    assert (iso_day(start_ms), iso_day(end_ms - 1)) == (first, last)


@pytest.mark.parametrize(("text", "v2"), [
    ("event:goal==Signup;visit:country==DE", [["is", "event:goal", ["Signup"]], ["is", "visit:country", ["DE"]]]),
    ("visit:country!=FR", [["is_not", "visit:country", ["FR"]]]),
    ("visit:source==Github|Twitter", [["is", "visit:source", ["Github", "Twitter"]]]),
    ("visit:utm_campaign==campaign\\|one", [["is", "visit:utm_campaign", ["campaign|one"]]]),
    ("event:page==/blog/*", [["matches", "event:page", ["^/blog/.*$"]]]),
    ("event:page!=/a.b*", [["matches_not", "event:page", ["^/a\\.b.*$"]]]),
    ("event:goal==Visit /register|Signup", [["is", "event:goal", ["Visit /register", "Signup"]]]),
    ("event:props:method==HTTP", [["is", "event:props:method", ["HTTP"]]]),
])
def test_v1_filters_read_as_plausibles_stats_api_filter_parser(text, v2):
    assert plausible_v1.filters(text) == v2


def test_a_breakdown_asks_for_its_page_in_plausibles_order_and_names_rows_as_v1_does():
    lake = Lake([{"dimensions": ["Chrome", "120"], "metrics": [5, 40.0]}])
    body = run("breakdown", lake, property="visit:browser_version", metrics="visitors,bounce_rate", limit="10",
               page="3", filters="visit:utm_medium==cpc")
    request = lake.requests[0]
    assert request["dimensions"] == ["visit:browser", "visit:browser_version"]
    assert request["order_by"] == [["visitors", "desc"], ["visit:browser_version", "asc"]]
    assert (request["limit"], request["offset"]) == (10, 20)
    assert body == {"results": [{"browser": "Chrome", "browser_version": "120", "visitors": 5, "bounce_rate": 40.0}]}

    lake = Lake([{"dimensions": ["newsletter"], "metrics": [2]}])
    run("breakdown", lake, property="visit:utm_source")
    assert lake.requests[0]["filters"] == [["matches", "visit:utm_source", ["."]]]  # empty values left out
    assert (lake.requests[0]["limit"], lake.requests[0]["offset"]) == (100, 0)

    lake = Lake([{"dimensions": ["HTTP"], "metrics": [7]}])
    assert run("breakdown", lake, property="event:props:method") == {"results": [{"method": "HTTP", "visitors": 7}]}


def test_aggregate_rounds_rates_and_durations_and_compares_with_the_previous_period():
    lake = Lake([{"dimensions": [], "metrics": [4, 37.5, 12.6, 1.25]}])
    body = run("aggregate", lake, metrics="visitors,bounce_rate,visit_duration,views_per_visit")
    assert body == {"results": {"visitors": {"value": 4}, "bounce_rate": {"value": 38},
                                "visit_duration": {"value": 13}, "views_per_visit": {"value": 1.25}}}

    lake = Lake([{"dimensions": [], "metrics": [3, 50.0]}], [{"dimensions": [], "metrics": [1, 100.0]}])
    body = run("aggregate", lake, period="day", metrics="pageviews,bounce_rate", compare="previous_period")
    assert body == {"results": {"pageviews": {"value": 3, "comparison_value": 1, "change": 200},
                                "bounce_rate": {"value": 50, "comparison_value": 100, "change": -50}}}
    assert [iso_day(r["time_range_ms"][0]) for r in lake.requests] == ["2024-09-10", "2024-09-09"]


def test_timeseries_has_every_bucket_and_plausibles_default_intervals():
    lake = Lake([{"dimensions": ["2024-09-09"], "metrics": [2, 31.0]}])
    body = run("timeseries", lake, period="7d", interval="date", metrics="visitors,visit_duration")
    assert lake.requests[0]["dimensions"] == ["time:day"]
    assert body["results"][-2:] == [{"date": "2024-09-09", "visitors": 2, "visit_duration": 31.0},
                                    {"date": "2024-09-10", "visitors": 0, "visit_duration": None}]
    assert len(body["results"]) == 7
    for period, dimension, buckets in (("day", "time:hour", 24), ("6mo", "time:month", 6), ("30d", "time:day", 31)):
        lake = Lake()
        assert len(run("timeseries", lake, period=period)["results"]) == buckets
        assert lake.requests[0]["dimensions"] == [dimension]


def test_realtime_is_the_visitors_of_the_last_five_minutes():
    lake = Lake([{"dimensions": [], "metrics": [21]}])
    assert run("realtime", lake) == 21
    start_ms, end_ms = lake.requests[0]["time_range_ms"]
    assert (start_ms, end_ms) == (NOW_MS - 300_000, NOW_MS + 1000)


@pytest.mark.parametrize(("endpoint", "given", "field", "words"), [
    ("aggregate", {"period": "year"}, "period", "invalid period 'year'"),
    ("aggregate", {"date": "2024-13-01"}, "date", "not an ISO-8601 date"),
    ("aggregate", {"period": "custom"}, "date", "two ISO-8601 dates"),
    ("aggregate", {"filters": "visit:country==Germany"}, "filters", "two-letter"),
    ("aggregate", {"filters": "event:goal!=Signup"}, "filters", "not event:goal"),
    ("aggregate", {"filters": "event:page==/a*|/b"}, "filters", "wildcard cannot be combined"),
    ("aggregate", {"filters": "event:page"}, "filters", "is not `property==value`"),
    ("aggregate", {"metrics": "visits", "filters": "event:props:plan==pro"}, "metrics", "session metric 'visits'"),
    ("aggregate", {"metrics": "views_per_visit", "filters": "event:page==/"}, "metrics", "event:page filter"),
    ("aggregate", {"with_imported": "yes"}, "with_imported", "true or false"),
    ("breakdown", {"property": "visit:planet"}, "property", "invalid property 'visit:planet'"),
    ("breakdown", {"property": "event:name", "metrics": "bounce_rate"}, "metrics", "breakdown by event:name"),
    ("breakdown", {"property": "event:page", "page": "0"}, "page", "from 1"),
    ("timeseries", {"interval": "hour"}, "interval", "invalid interval 'hour'"),
])
def test_refusals_name_the_part(endpoint, given, field, words):
    with pytest.raises(ApiError) as raised:
        run(endpoint, Lake(), **given)
    assert raised.value.status_code == 400 and raised.value.field == field and words in raised.value.message


def test_every_endpoint_takes_only_plausibles_documented_parameters():
    assert set(plausible_v1.PARAMETERS) == set(plausible_v1.ENDPOINTS)
    assert "compare" not in plausible_v1.PARAMETERS["timeseries"]  # Plausible ignores it there: refused here

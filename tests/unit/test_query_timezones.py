"""Sites' time zones in the Stats API v2 and the lake (issue 15, C3): date ranges resolve to the instants
of local midnights (checked against literal UTC instants), hours, days, weeks and months bucket on the
local wall clock across DST changes (Berlin's 23-hour 2026-03-29 and 25-hour 2026-10-25, Los Angeles'
25-hour 2026-11-01, Kolkata's +05:30) in DuckDB and in the Athena SQL's DuckDB twin, compared with a
plain-Python computation that takes the local time from zoneinfo; labels, comparisons, v1 and funnels."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlglot

from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings, Site
from chalicelib.query import funnel, plausible, plausible_v1
from chalicelib.query.builder import build
from chalicelib.query.description import QueryError, parse_query
from chalicelib.query.runner import answer, athena_scan, plan, results
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.unit import test_query_golden as golden

BERLIN, LOS_ANGELES, KOLKATA = "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"
SITE = golden.SITE  # "alpha"
RETENTION_DAYS = 30


def utc(*parts) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


# --- date ranges -> instants ---------------------------------------------------------------------

@pytest.mark.parametrize("tz, value, now_ms, expected", [
    (BERLIN, "day", utc(2026, 3, 29, 12), (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))),  # 23 hours
    (BERLIN, "day", utc(2026, 10, 25, 12), (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))),  # 25 hours
    (BERLIN, "day", utc(2026, 3, 28, 23, 30), (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))),  # already tomorrow
    (LOS_ANGELES, "day", utc(2026, 11, 1, 12), (utc(2026, 11, 1, 7), utc(2026, 11, 2, 8))),  # 25 hours
    (LOS_ANGELES, "day", utc(2026, 11, 2, 3), (utc(2026, 11, 1, 7), utc(2026, 11, 2, 8))),  # still Nov 1 there
    (KOLKATA, "day", utc(2026, 1, 10, 20), (utc(2026, 1, 10, 18, 30), utc(2026, 1, 11, 18, 30))),
    (BERLIN, "7d", utc(2026, 3, 30, 10), (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))),
    (BERLIN, "month", utc(2026, 3, 15), (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))),
    (BERLIN, "year", utc(2026, 6, 1), (utc(2025, 12, 31, 23), utc(2026, 12, 31, 23))),
    (BERLIN, "2mo", utc(2026, 4, 15), (utc(2026, 1, 31, 23), utc(2026, 3, 31, 22))),
    (BERLIN, "all", utc(2026, 3, 30, 10), (utc(2026, 2, 28, 23), utc(2026, 3, 30, 22))),  # 30 days to today's end
    (KOLKATA, ["2026-03-01", "2026-03-02"], utc(2026, 6, 1), (utc(2026, 2, 28, 18, 30), utc(2026, 3, 2, 18, 30))),
    (BERLIN, ["2026-10-25", "2026-10-25"], utc(2026, 11, 1), (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))),
    # timestamps with an offset are exact instants, whatever the site's zone
    (BERLIN, ["2026-03-29T00:30:00+00:00", "2026-03-29T05:00:00-07:00"], utc(2026, 6, 1),
     (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 12, 0, 1))),
    (KOLKATA, "24h", utc(2026, 3, 29, 12, 0, 0), (utc(2026, 3, 28, 12, 0, 1), utc(2026, 3, 29, 12, 0, 1))),
])
def test_date_ranges_resolve_to_the_instants_of_local_midnights(tz, value, now_ms, expected):
    assert plausible.resolve_date_range(value, now_ms, RETENTION_DAYS, tz) == expected


def test_a_utc_site_resolves_as_before():
    assert plausible.resolve_date_range("day", utc(2026, 3, 29, 12), 30) == (utc(2026, 3, 29), utc(2026, 3, 30))
    assert plausible.resolve_date_range("day", utc(2026, 3, 29, 12), 30, "UTC") == (utc(2026, 3, 29), utc(2026, 3, 30))


def sites(tz: str) -> dict:
    return {SITE: Site(SITE, timezone=tz)}


def test_the_query_echo_and_the_lake_request_carry_the_sites_zone():
    translated = plausible.translate({"site_id": SITE, "metrics": ["visitors"], "date_range": "day",
                                      "dimensions": ["time:hour"], "include": {"time_labels": True}},
                                     sites(BERLIN), RETENTION_DAYS, utc(2026, 3, 29, 12))
    assert translated.echo["date_range"] == ["2026-03-29T00:00:00+01:00", "2026-03-29T23:59:59+02:00"]
    assert translated.lake["time_range_ms"] == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]
    assert translated.lake["timezone"] == BERLIN
    assert parse_query(translated.lake).timezone == BERLIN
    # Plausible's labels: the day's 24 wall-clock hours; 02:00 does not exist that day and stays empty
    assert translated.time_labels == tuple(f"2026-03-29 {h:02d}:00:00" for h in range(24))
    utc_site = plausible.translate({"site_id": SITE, "metrics": ["visitors"], "date_range": "day"},
                                   sites("UTC"), RETENTION_DAYS, utc(2026, 3, 29, 12))
    assert "timezone" not in utc_site.lake and utc_site.echo["date_range"][0] == "2026-03-29T00:00:00+00:00"


@pytest.mark.parametrize("tz, dimension, date_range, labels", [
    (BERLIN, "time:hour", ["2026-10-25", "2026-10-25"], [f"2026-10-25 {h:02d}:00:00" for h in range(24)]),
    (KOLKATA, "time:hour", ["2026-03-01T00:00:00+00:00", "2026-03-01T02:10:00+00:00"],
     ["2026-03-01 05:00:00", "2026-03-01 06:00:00", "2026-03-01 07:00:00"]),
    (BERLIN, "time:day", ["2026-03-28", "2026-03-30"], ["2026-03-28", "2026-03-29", "2026-03-30"]),
    (LOS_ANGELES, "time:week", ["2026-10-28", "2026-11-10"], ["2026-10-28", "2026-11-02", "2026-11-09"]),
    (BERLIN, "time:month", ["2026-01-15", "2026-03-31"], ["2026-01-01", "2026-02-01", "2026-03-01"]),
])
def test_time_labels_are_local(tz, dimension, date_range, labels):
    translated = plausible.translate({"site_id": SITE, "metrics": ["visitors"], "date_range": date_range,
                                      "dimensions": [dimension], "include": {"time_labels": True}},
                                     sites(tz), RETENTION_DAYS, utc(2026, 12, 1))
    assert list(translated.time_labels) == labels


def test_comparisons_are_whole_local_days():
    translated = plausible.translate({"site_id": SITE, "metrics": ["visitors"], "date_range": "day",
                                      "include": {"comparisons": {"mode": "previous_period"}}},
                                     sites(BERLIN), RETENTION_DAYS, utc(2026, 3, 30, 12))
    assert translated.comparison_range == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))  # Mar 29: 23 hours
    yearly = plausible.translate({"site_id": SITE, "metrics": ["visitors"], "date_range": ["2026-10-25", "2026-10-25"],
                                  "include": {"comparisons": {"mode": "year_over_year"}}},
                                 sites(BERLIN), RETENTION_DAYS, utc(2026, 12, 1))
    assert yearly.comparison_range == (utc(2025, 10, 24, 22), utc(2025, 10, 25, 22))  # CEST (2025 fell back Oct 26)


# --- the lake: local buckets, equal to plain Python --------------------------------------------------

LATE_EVENT_ID = "00000000-0000-4000-8000-000000002330"


def shifted(rows: list[dict], start_ms: int, copy: int) -> list[dict]:
    """The workload's site `alpha` moved to start at start_ms (its five days then cross a DST change),
    with ids of its own (copy number) so that the copies are different events, visits and visitors."""
    delta = start_ms - workload.START_MS
    return [{**r, "time": r["time"] + delta, "received_time": r["received_time"] + delta,
             "event_id": f"{copy:08x}{r['event_id'][8:]}", "session_id": f"{copy}{r['session_id'][1:]}",
             "visitor_id": f"{r['visitor_id']}-{copy}"} for r in rows if r["site"] == SITE]


@pytest.fixture(scope="module")
def events() -> list[dict]:
    base = workload.events(visitors_per_site=60)
    rows = shifted(base, utc(2026, 3, 27), 1) + shifted(base, utc(2026, 10, 23), 2) + shifted(base, utc(2026, 11, 1), 3)
    # one visit at 23:30 UTC on March 28: 00:30 on March 29 in Berlin, still March 28 in UTC's partition
    rows.append({"site": SITE, "event_id": LATE_EVENT_ID, "event_type": "page_view", "time": utc(2026, 3, 28, 23, 30),
                 "received_time": utc(2026, 3, 28, 23, 30), "session_id": "late-night-visit-0001",
                 "visitor_id": "night-owl", "page_url": "https://alpha.example/night", "page_host": "alpha.example",
                 "page_path": "/night", "title": "Night"})
    return rows


@pytest.fixture(scope="module")
def lake(events):
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("tz-cache")))


SETTINGS = Settings(stage="test", sites={}, default_site_id=SITE, event_retention_days=RETENTION_DAYS,
                    lake_bucket="lake-test")


def local_value(tz: str):
    """The golden tests' dimension values, with time:* taken from zoneinfo's local time of the event."""
    def value(name: str, event: dict, visit):
        if not name.startswith("time:"):
            return plain(name, event, visit)
        local = datetime.fromtimestamp(event["time"] / 1000, tz=ZoneInfo(tz))
        if name == "time:week":
            return datetime.fromordinal(local.toordinal() - local.weekday()).strftime("%Y-%m-%d")
        return local.strftime({"time:hour": "%Y-%m-%d %H:00:00", "time:day": "%Y-%m-%d",
                               "time:month": "%Y-%m-01"}[name])

    plain = golden.dimension_value
    return value


@pytest.fixture
def local_reference(monkeypatch):
    def reference(events, request):
        monkeypatch.setattr(golden, "dimension_value", local_value(request.get("timezone", "UTC")))
        return golden.reference(events, request)

    return reference


CASES = [  # zone, [first, last] local dates around its DST change (or none: Kolkata)
    (BERLIN, ["2026-03-28", "2026-03-30"]), (BERLIN, ["2026-10-24", "2026-10-26"]),
    (LOS_ANGELES, ["2026-10-31", "2026-11-02"]), (KOLKATA, ["2026-11-01", "2026-11-03"]),
]
TIME_DIMENSIONS = [("time:hour",), ("time:day",), ("time:week",), ("time:month",), ("time:day", "visit:device")]
FILTERS = [[], [["contains", "event:page", ["blog"]]]]


def tz_requests():
    for tz, date_range in CASES:
        for dims in TIME_DIMENSIONS:
            for filters in FILTERS:
                yield {"site": SITE, "date_range": date_range, "timezone": tz, "metrics": list(golden.METRICS),
                       "dimensions": list(dims), "filters": filters}


def test_the_lake_request_dates_are_local_days():
    query = parse_query({"site": SITE, "date_range": ["2026-03-29", "2026-03-29"], "timezone": BERLIN,
                         "metrics": ["visitors"]})
    assert (query.start_ms, query.end_ms) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    with pytest.raises(QueryError) as caught:
        parse_query({"site": SITE, "date_range": ["2026-03-29", "2026-03-29"], "timezone": "Mars/Base",
                     "metrics": ["visitors"]})
    assert caught.value.field == "timezone"


def test_a_local_day_plans_both_utc_partitions_it_touches(lake):
    query = parse_query({"site": SITE, "date_range": ["2026-03-29", "2026-03-29"], "timezone": BERLIN,
                         "metrics": ["visitors"]})
    dates = {f.partition.date for f in plan(query, lake)}
    assert {"2026-03-28", "2026-03-29"} <= dates  # 23:00 UTC on the 28th is the local day's first hour


def test_an_event_at_2330_utc_counts_on_the_next_local_day(lake, cache):
    def visitors_by_day(tz: str) -> dict:
        got = answer({"site": SITE, "date_range": ["2026-03-28", "2026-03-29"], "timezone": tz, "metrics": ["visitors"],
                      "dimensions": ["time:day"], "filters": [["is", "event:page", ["/night"]]]},
                     lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)
        return {tuple(r["dimensions"]): r["metrics"] for r in got["results"]}

    assert visitors_by_day(BERLIN) == {("2026-03-29",): [1]}
    assert visitors_by_day("UTC") == {("2026-03-28",): [1]}


def test_local_buckets_equal_plain_python_across_dst_changes(events, lake, cache, local_reference):
    compared = 0
    for request in tz_requests():
        expected = local_reference(events, request)
        got = golden.as_map(answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
        assert got == expected, (request, golden.difference(got, expected))
        compared += 1
    assert compared == len(CASES) * len(TIME_DIMENSIONS) * len(FILTERS)


def test_the_dst_days_hours_are_as_the_wall_clock_has_them(events, lake, cache, local_reference):
    spring = {"site": SITE, "date_range": ["2026-03-29", "2026-03-29"], "timezone": BERLIN, "metrics": ["events"],
              "dimensions": ["time:hour"]}
    autumn = {**spring, "date_range": ["2026-10-25", "2026-10-25"]}
    hours = {name: golden.as_map(answer(r, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
             for name, r in (("spring", spring), ("autumn", autumn))}
    assert ("2026-03-29 02:00:00",) not in hours["spring"]  # 02:00 never happened in Berlin that night
    assert ("2026-03-29 03:00:00",) in hours["spring"]
    # 02:00 happened twice on Oct 25: its bucket holds both hours, equal to the plain computation
    assert hours["autumn"][("2026-10-25 02:00:00",)] == local_reference(events, autumn)[("2026-10-25 02:00:00",)]
    twice = [e for e in events if utc(2026, 10, 25, 0) <= e["time"] < utc(2026, 10, 25, 2)]
    assert sum(e["event_type"] != "engagement" for e in twice) == hours["autumn"][("2026-10-25 02:00:00",)][0]


def test_the_athena_sql_of_a_zone_parses_as_trino_and_its_duckdb_twin_answers_the_same(events, lake, cache,
                                                                                          local_reference):
    checked = 0
    for request in list(tz_requests())[::3]:
        query = parse_query(request)
        files = plan(query, lake)
        trino_sql = build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(dialect="trino")
        if query.timezone != KOLKATA:
            assert "CASE WHEN" in trino_sql  # the DST change inside the window
        twin = sqlglot.parse_one(trino_sql, read="trino").sql(dialect="duckdb")
        ran = run_sql(lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket, include_superseded=True)
        got = {tuple(r["dimensions"]): r["metrics"] for r in results(query, ran.columns, ran.rows)}
        assert got == local_reference(events, request), request
        checked += 1
    assert checked >= 12


# --- the Stats API v2 and v1, and funnels, over the lake with a fixed clock -----------------------------

def ask_lake(lake, cache):
    return lambda request: answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)


def test_v2_hours_labels_and_a_comparison_in_berlin(events, lake, cache, local_reference):
    body = {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": "day", "dimensions": ["time:hour"],
            "include": {"time_labels": True, "comparisons": {"mode": "previous_period"}}}
    got = plausible.run(body, ask_lake(lake, cache), sites(BERLIN), RETENTION_DAYS, utc(2026, 3, 29, 21, 59))
    assert got["meta"]["time_labels"] == [f"2026-03-29 {h:02d}:00:00" for h in range(24)]
    assert got["meta"]["comparison_date_range"] == ["2026-03-28T00:00:00+01:00", "2026-03-28T23:59:59+01:00"]
    lake_request = {"site": SITE, "timezone": BERLIN, "metrics": ["visitors", "pageviews"], "dimensions": ["time:hour"]}
    today = local_reference(events, {**lake_request, "date_range": ["2026-03-29", "2026-03-29"]})
    yesterday = local_reference(events, {**lake_request, "date_range": ["2026-03-28", "2026-03-28"]})
    assert [r["dimensions"][0] for r in got["results"]] == got["meta"]["time_labels"]  # every bucket, in order
    for row in got["results"]:
        hour = row["dimensions"][0]
        assert row["metrics"] == today.get((hour,), [0, 0]), hour
        earlier = hour.replace("2026-03-29", "2026-03-28")
        assert row["comparison"]["dimensions"] == [earlier]
        assert row["comparison"]["metrics"] == yesterday.get((earlier,), [0, 0]), earlier


def test_v1_timeseries_and_aggregate_use_the_sites_days(events, lake, cache, local_reference):
    ask = ask_lake(lake, cache)
    series = plausible_v1.run("timeseries", {"site_id": SITE, "period": "7d", "date": "2026-10-26",
                                             "metrics": "pageviews"}, ask, sites(BERLIN), RETENTION_DAYS,
                              utc(2026, 12, 1))
    daily = local_reference(events, {"site": SITE, "timezone": BERLIN, "metrics": ["pageviews"],
                                     "dimensions": ["time:day"], "date_range": ["2026-10-20", "2026-10-26"]})
    assert series["results"] == [{"date": f"2026-10-{d}", "pageviews": daily.get((f"2026-10-{d}",), [0])[0]}
                                 for d in range(20, 27)]
    total = plausible_v1.run("aggregate", {"site_id": SITE, "period": "day", "metrics": "visitors,pageviews"}, ask,
                             sites(LOS_ANGELES), RETENTION_DAYS, utc(2026, 11, 2, 7, 59))  # Nov 1 there
    day = local_reference(events, {"site": SITE, "timezone": LOS_ANGELES, "metrics": ["visitors", "pageviews"],
                                   "date_range": ["2026-11-01", "2026-11-01"]})[()]
    assert total["results"] == {"visitors": {"value": day[0]}, "pageviews": {"value": day[1]}}


def test_a_funnels_range_is_the_sites_local_days():
    lake_request, echo, _ = funnel.translate(
        {"site_id": SITE, "date_range": ["2026-10-25", "2026-10-25"], "steps": [
            {"name": "Home", "page": "/"}, {"name": "Signup", "event": "signup"}]},
        sites(BERLIN), RETENTION_DAYS, utc(2026, 12, 1))
    assert lake_request["funnel"]["time_range_ms"] == [utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)]
    assert echo["date_range"] == ["2026-10-25T00:00:00+02:00", "2026-10-25T23:59:59+01:00"]

"""Minute resolution (LiveInsight extensions named as Plausible's dashboard names them): the time:minute
dimension on the site's wall clock in DuckDB and in the Athena SQL's DuckDB twin, equal to plain Python (UTC,
Berlin across its DST fall-back, Los Angeles, Kolkata's +05:30); its labels and its 2-day limit; the minute
ranges "realtime" (5 minutes) and "30m" (30 minutes), checked against the instants of Plausible's own
time_labels test (test/plausible/stats/time_test.exs: now 12:30:57 -> the range starts 12:00:57)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlglot

from chalicelib.core.errors import ApiError
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings, Site
from chalicelib.query import plausible
from chalicelib.query.builder import build
from chalicelib.query.description import QueryError, parse_query
from chalicelib.query.runner import answer, athena_scan, plan, results
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.unit import test_query_golden as golden

UTC, BERLIN, LOS_ANGELES, KOLKATA = "UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"
SITE = golden.SITE
RETENTION_DAYS = 30
SETTINGS = Settings(stage="test", sites={}, default_site_id=SITE, event_retention_days=RETENTION_DAYS,
                    lake_bucket="lake-test")


def utc(*parts) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


def sites(tz: str) -> dict:
    return {SITE: Site(SITE, timezone=tz)}


def translate(body: dict, tz: str = UTC, now_ms: int = utc(2026, 1, 1, 12, 30, 57)):
    return plausible.translate({"site_id": SITE, "metrics": ["visitors"], **body}, sites(tz), RETENTION_DAYS, now_ms)


# --- ranges, labels, limits ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, minutes", [("realtime", 5), ("30m", 30)])
def test_minute_ranges_end_at_the_current_second_and_start_n_minutes_before(value, minutes):
    now_ms = utc(2026, 1, 1, 12, 30, 57, 400)
    start_ms, end_ms = plausible.resolve_date_range(value, now_ms, RETENTION_DAYS, KOLKATA)
    assert start_ms == utc(2026, 1, 1, 12, 30, 57) - minutes * 60_000  # Plausible: now shifted back, to the second
    assert end_ms == utc(2026, 1, 1, 12, 30, 58)  # the current second is in the range
    echo = translate({"date_range": value}, KOLKATA, now_ms).echo["date_range"]
    assert echo[1] == "2026-01-01T18:00:57+05:30"


@pytest.mark.parametrize("tz, first, last", [(UTC, "2026-01-01 12:00:00", "2026-01-01 12:30:00"),
                                              (KOLKATA, "2026-01-01 17:30:00", "2026-01-01 18:00:00"),
                                              (BERLIN, "2026-01-01 13:00:00", "2026-01-01 13:30:00")])
def test_30m_by_minute_labels_every_local_minute_up_to_the_current_one(tz, first, last):
    translated = translate({"date_range": "30m", "dimensions": ["time:minute"], "include": {"time_labels": True}}, tz)
    labels = list(translated.time_labels)
    # Plausible's time_test.exs: 12:00:00 .. 12:29:00 for this clock; LiveInsight lists the current minute too
    assert labels[0] == first and labels[-1] == last and len(labels) == 31
    step = [datetime.fromisoformat(b) - datetime.fromisoformat(a) for a, b in zip(labels, labels[1:], strict=False)]
    assert set(step) == {timedelta(minutes=1)}
    assert translated.lake["dimensions"] == ["time:minute"]


def test_a_dst_days_minutes_follow_the_wall_clock_as_its_hours_do():
    spring = translate({"date_range": ["2026-03-29", "2026-03-29"], "dimensions": ["time:minute"],
                        "include": {"time_labels": True}}, BERLIN, utc(2026, 6, 1)).time_labels
    assert len(spring) == 1440 and spring[120] == "2026-03-29 02:00:00"  # the skipped hour: listed, always empty
    autumn = translate({"date_range": ["2026-10-25", "2026-10-25"], "dimensions": ["time:minute"],
                        "include": {"time_labels": True}}, BERLIN, utc(2026, 11, 1)).time_labels
    assert len(autumn) == 1440 and len(set(autumn)) == 1440  # the repeated hour's minutes once each
    kolkata = translate({"date_range": "day", "dimensions": ["time:minute"], "include": {"time_labels": True}},
                        KOLKATA, utc(2026, 1, 10, 20)).time_labels
    assert (kolkata[0], kolkata[-1], len(kolkata)) == ("2026-01-11 00:00:00", "2026-01-11 23:59:00", 1440)


def test_time_minute_is_refused_past_two_days_naming_the_limit():
    assert translate({"date_range": ["2026-03-28", "2026-03-29"], "dimensions": ["time:minute"]}, BERLIN,
                     utc(2026, 6, 1)).lake["dimensions"] == ["time:minute"]
    # two local days over the fall-back are 49 hours: still two days
    assert translate({"date_range": ["2026-10-24", "2026-10-25"], "dimensions": ["time:minute"]}, BERLIN,
                     utc(2026, 11, 1)).lake["dimensions"] == ["time:minute"]
    for date_range in (["2026-03-27", "2026-03-29"], "7d", "month"):
        with pytest.raises(ApiError) as caught:
            translate({"date_range": date_range, "dimensions": ["time:minute"]}, BERLIN, utc(2026, 6, 1))
        assert caught.value.status_code == 400
        assert "dimensions" in caught.value.message and "at most 2 days" in caught.value.message
    with pytest.raises(QueryError) as lake_refusal:  # the lake request refuses it too (the query function's input)
        parse_query({"site": SITE, "time_range_ms": [utc(2026, 1, 1), utc(2026, 1, 4)], "metrics": ["visitors"],
                     "dimensions": ["time:minute"]})
    assert lake_refusal.value.field == "dimensions" and "at most 2 days" in str(lake_refusal.value)


def test_time_minute_cannot_filter_and_time_stays_hourly_on_minute_ranges():
    with pytest.raises(ApiError) as caught:
        translate({"date_range": "30m", "filters": [["is", "time:minute", ["2026-01-01 12:00:00"]]]})
    assert caught.value.status_code == 400 and "time:minute" in caught.value.message
    assert translate({"date_range": "30m", "dimensions": ["time"]}).lake["dimensions"] == ["time:hour"]


@pytest.mark.parametrize("value", ["realtime", "30m"])
def test_comparisons_of_a_minute_range_are_refused(value):
    with pytest.raises(ApiError) as caught:
        translate({"date_range": value, "include": {"comparisons": {"mode": "previous_period"}}})
    assert caught.value.status_code == 400 and caught.value.message.startswith("include.comparisons: ")
    assert "whole days" in caught.value.message


# --- the lake: minute buckets equal plain Python, in DuckDB and the Trino twin --------------------------

def shifted(rows: list[dict], start_ms: int, copy: int) -> list[dict]:
    delta = start_ms - workload.START_MS
    return [{**r, "time": r["time"] + delta, "received_time": r["received_time"] + delta,
             "event_id": f"{copy:08x}{r['event_id'][8:]}", "session_id": f"{copy}{r['session_id'][1:]}",
             "visitor_id": f"{r['visitor_id']}-{copy}"} for r in rows if r["site"] == SITE]


def burst(copy: int, at_ms: int) -> list[dict]:
    """Page views on both sides of minute boundaries (59.999 s and 0.000 s) by visitors sharing minutes."""
    rows = []
    for n, offset_ms in enumerate([0, 59_999, 60_000, 61_000, 119_999, 120_000, 30_000, 90_000]):
        rows.append({"site": SITE, "event_id": f"{copy:08x}-0000-4000-8000-{n:012d}", "event_type": "page_view",
                     "time": at_ms + offset_ms, "received_time": at_ms + offset_ms,
                     "session_id": f"burst-{copy}-{n % 3}", "visitor_id": f"burster-{copy}-{n % 3}",
                     "page_url": "https://alpha.example/burst", "page_host": "alpha.example", "page_path": "/burst",
                     "title": "Burst", "device_type": "mobile" if n % 2 else "desktop"})
    return rows


@pytest.fixture(scope="module")
def events() -> list[dict]:
    base = workload.events(visitors_per_site=40)
    # the Berlin fall-back (2026-10-25 01:00 UTC) and Los Angeles' (2026-11-01 09:00 UTC) inside the days
    return (shifted(base, utc(2026, 10, 24), 1) + shifted(base, utc(2026, 11, 1), 2)
            + burst(1, utc(2026, 10, 25, 0, 30)) + burst(2, utc(2026, 10, 25, 1, 30))  # 02:30 in Berlin, twice
            + burst(3, utc(2026, 11, 1, 12, 0)) + burst(4, utc(2026, 11, 1, 18, 29)))  # Kolkata's 23:59


@pytest.fixture(scope="module")
def lake(events):
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("minute-cache")))


def local_minute(tz: str):
    """The golden tests' dimension values, time:minute from zoneinfo's local time of the event."""
    plain = golden.dimension_value

    def value(name: str, event: dict, visit):
        if name != "time:minute":
            return plain(name, event, visit)
        return datetime.fromtimestamp(event["time"] / 1000, tz=ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:00")

    return value


@pytest.fixture
def reference(monkeypatch):
    def compute(events, request):
        monkeypatch.setattr(golden, "dimension_value", local_minute(request.get("timezone", UTC)))
        return golden.reference(events, request)

    return compute


WINDOWS = [  # zone, the lake request's range
    (UTC, {"time_range_ms": [utc(2026, 11, 1, 11, 58), utc(2026, 11, 1, 16, 0)]}),
    (BERLIN, {"date_range": ["2026-10-25", "2026-10-25"]}),  # the 25-hour day, 02:xx twice
    (LOS_ANGELES, {"time_range_ms": [utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 11, 0)]}),  # its fall-back
    (KOLKATA, {"date_range": ["2026-11-01", "2026-11-02"]}),  # two local days at +05:30
]
DIMENSIONS = [("time:minute",), ("time:minute", "visit:device")]
FILTERS = [[], [["is", "event:page", ["/burst"]]]]


def minute_requests():
    for tz, window in WINDOWS:
        for dims in DIMENSIONS:
            for filters in FILTERS:
                yield {"site": SITE, **window, "timezone": tz, "metrics": list(golden.METRICS),
                       "dimensions": list(dims), "filters": filters}


def test_minute_buckets_equal_plain_python_in_duckdb(events, lake, cache, reference):
    compared = 0
    for request in minute_requests():
        expected = reference(events, request)
        got = golden.as_map(answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
        assert got == expected, (request, golden.difference(got, expected))
        compared += 1
    assert compared == len(WINDOWS) * len(DIMENSIONS) * len(FILTERS)


def test_the_burst_lands_in_the_minutes_the_wall_clock_gives(events, lake, cache):
    def minutes(tz: str, window: dict) -> dict:
        got = answer({"site": SITE, **window, "timezone": tz, "metrics": ["pageviews"], "dimensions": ["time:minute"],
                      "filters": [["is", "event:page", ["/burst"]]]}, lake, SETTINGS, Metrics("test", lambda _: None),
                     cache=cache)
        return {r["dimensions"][0]: r["metrics"][0] for r in got["results"]}

    # a burst: 3 page views in its first minute (0, 30 and 59.999 s), 4 in its second, 1 at 120.000 s.
    # 02:30-02:32 happened twice in Berlin that night: both bursts in the same three minutes
    assert minutes(BERLIN, {"date_range": ["2026-10-25", "2026-10-25"]}) == {
        "2026-10-25 02:30:00": 6, "2026-10-25 02:31:00": 8, "2026-10-25 02:32:00": 2}
    assert minutes(KOLKATA, {"time_range_ms": [utc(2026, 11, 1, 18, 0), utc(2026, 11, 1, 19, 0)]}) == {
        "2026-11-01 23:59:00": 3, "2026-11-02 00:00:00": 4, "2026-11-02 00:01:00": 1}  # midnight at 18:30 UTC


def test_the_athena_sql_by_minute_parses_as_trino_and_its_duckdb_twin_answers_the_same(events, lake, cache,
                                                                                         reference):
    checked = 0
    for request in minute_requests():
        query = parse_query(request)
        files = plan(query, lake)
        trino_sql = build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(dialect="trino")
        assert "DATE_TRUNC('MINUTE'" in trino_sql and "%H:%i:00" in trino_sql  # Trino's minutes are %i
        twin = sqlglot.parse_one(trino_sql, read="trino").sql(dialect="duckdb")
        ran = run_sql(lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket, include_superseded=True)
        got = {tuple(r["dimensions"]): r["metrics"] for r in results(query, ran.columns, ran.rows)}
        assert got == reference(events, request), request
        checked += 1
    assert checked == len(WINDOWS) * len(DIMENSIONS) * len(FILTERS)


def test_v2_30m_by_minute_over_the_lake_fills_every_label(events, lake, cache, reference):
    now_ms = utc(2026, 11, 1, 12, 2, 30)  # the third burst ran 12:00:00-12:02:00 UTC
    body = {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": "30m",
            "dimensions": ["time:minute"], "include": {"time_labels": True}}
    ask = lambda request: answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)  # noqa: E731
    got = plausible.run(body, ask, sites(KOLKATA), RETENTION_DAYS, now_ms)
    labels = got["meta"]["time_labels"]
    assert (labels[0], labels[-1], len(labels)) == ("2026-11-01 17:02:00", "2026-11-01 17:32:00", 31)
    expected = reference(events, {"site": SITE, "timezone": KOLKATA, "metrics": ["visitors", "pageviews"],
                                  "dimensions": ["time:minute"],
                                  "time_range_ms": [now_ms - 30 * 60_000, now_ms + 1000]})
    rows = {r["dimensions"][0]: r["metrics"] for r in got["results"]}
    assert rows == {label: value for (label,), value in expected.items()}
    assert rows["2026-11-01 17:30:00"][1] >= 3 and set(rows) <= set(labels)

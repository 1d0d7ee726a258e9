"""include.comparisons: the comparison period as Plausible's comparisons.ex computes it (month ends,
leap years, ranges cut at today, match_day_of_week), the change of each metric as its compare.ex
does, and the rows joined as its query_runner.ex joins them (its query_comparisons_test.exs cases)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone

import pytest

from chalicelib.core.errors import ApiError
from chalicelib.query import comparisons, plausible

D = date.fromisoformat
NOW_MS = calendar.timegm(datetime(2024, 9, 10, 13, 45, 30, tzinfo=timezone.utc).timetuple()) * 1000


@pytest.mark.parametrize(("mode", "first", "last", "today", "week", "want"), [
    # Plausible's test: 2021-01-07..13 previous_period is 2020-12-31..2021-01-06
    ("previous_period", "2021-01-07", "2021-01-13", "2021-06-01", False, ("2020-12-31", "2021-01-06")),
    # a whole March (31 days) -> the 31 days before, through a leap February's end
    ("previous_period", "2024-03-01", "2024-03-31", "2024-06-01", False, ("2024-01-30", "2024-02-29")),
    # a range past today is cut at today first ("month" on the 10th: 10 days back)
    ("previous_period", "2024-09-01", "2024-09-30", "2024-09-10", False, ("2024-08-22", "2024-08-31")),
    ("year_over_year", "2024-02-29", "2024-03-06", "2024-06-01", False, ("2023-02-28", "2023-03-06")),
    ("year_over_year", "2023-03-01", "2023-03-31", "2024-06-01", False, ("2022-03-01", "2022-03-31")),
    # cut at today, then as many days as that (253: 2024 is a leap year, so one day further in 2023)
    ("year_over_year", "2024-01-01", "2024-12-31", "2024-09-10", False, ("2023-01-01", "2023-09-11")),
    # the docstring's example: Sunday 2023-01-01 year over year, matching the weekday -> Sunday 2022-01-02
    ("year_over_year", "2023-01-01", "2023-01-07", "2023-06-01", True, ("2022-01-02", "2022-01-08")),
    # 28 days back is already the same weekday: nothing moves (Plausible's 28d test)
    ("previous_period", "2021-05-13", "2021-06-09", "2021-06-10", True, ("2021-04-15", "2021-05-12")),
    # 7 days starting Thursday, previous period starts Thursday too
    ("previous_period", "2021-01-07", "2021-01-13", "2021-06-01", True, ("2020-12-31", "2021-01-06")),
    # 30 days from Sunday 2024-09-01: the period before starts Friday 2024-08-02 -> the next Sunday 08-04
    ("previous_period", "2024-09-01", "2024-09-30", "2024-10-10", True, ("2024-08-04", "2024-09-02")),
])
def test_the_comparison_period_is_plausibles(mode, first, last, today, week, want):
    got = comparisons.period(mode, D(first), D(last), D(today), week)
    assert got == (D(want[0]), D(want[1]))
    if week:
        assert got[0].isoweekday() == D(first).isoweekday()


def test_the_next_weekday_is_skipped_when_it_is_the_main_ranges_first_day():
    # one day, Wednesday 2024-09-11, previous period Tuesday 09-10: the next Wednesday is the main day
    # itself, so Plausible takes the previous Wednesday
    assert comparisons.period("previous_period", D("2024-09-11"), D("2024-09-11"), D("2024-09-20"), True) == (
        D("2024-09-04"), D("2024-09-04"))


@pytest.mark.parametrize(("metric", "old", "new", "want"), [
    ("pageviews", 3, 1, -67), ("pageviews", 0, 1, 100), ("pageviews", 0, 0, 0), ("pageviews", 1, 0, -100),
    ("visitors", 2, 3, 50), ("percentage", 12.5, 50.0, 300), ("percentage", 37.5, 16.7, -55),
    ("visitors", 8, 1, -88), ("visitors", 8, 3, -63),  # -62.5 rounds away from zero (Python's round: -62)
    ("bounce_rate", 50.0, 41.7, -8.3), ("bounce_rate", 0, 40.0, None), ("visitors", None, 3, None),
    ("conversion_rate", 1.25, 3.5, 2.2),
])
def test_change_is_computed_as_plausibles_compare(metric, old, new, want):
    assert comparisons.change(metric, old, new) == want


def test_rows_join_by_dimensions_and_rows_only_in_the_comparison_are_not_added():
    main = [{"dimensions": ["Chrome"], "metrics": [3, 50.0]}, {"dimensions": ["Firefox"], "metrics": [2, 33.3]}]
    old = [{"dimensions": ["Firefox"], "metrics": [4, 50.0]}, {"dimensions": ["Safari"], "metrics": [3, 37.5]},
           {"dimensions": ["Chrome"], "metrics": [1, 12.5]}]
    assert comparisons.merge(main, old, ("visitors", "percentage"), ["visit:browser"]) == [
        {"dimensions": ["Chrome"], "metrics": [3, 50.0],
         "comparison": {"dimensions": ["Chrome"], "metrics": [1, 12.5], "change": [200, 300]}},
        {"dimensions": ["Firefox"], "metrics": [2, 33.3],
         "comparison": {"dimensions": ["Firefox"], "metrics": [4, 50.0], "change": [-50, -33]}}]


def test_a_timeseries_gets_every_bucket_mapped_to_its_comparison_bucket():
    labels = [f"2021-01-{d:02d}" for d in range(7, 14)]
    before = ["2020-12-31"] + [f"2021-01-{d:02d}" for d in range(1, 7)]
    main = [{"dimensions": ["2021-01-08"], "metrics": [1]}, {"dimensions": ["2021-01-07"], "metrics": [1]}]
    old = [{"dimensions": ["2021-01-01"], "metrics": [2]}, {"dimensions": ["2021-01-06"], "metrics": [1]}]
    rows = comparisons.merge(main, old, ("pageviews",), ["time:day"], labels, before, descending=False)
    assert [(r["dimensions"][0], r["metrics"][0], r["comparison"]["dimensions"][0], r["comparison"]["metrics"][0],
             r["comparison"]["change"][0]) for r in rows] == [
        ("2021-01-07", 1, "2020-12-31", 0, 100), ("2021-01-08", 1, "2021-01-01", 2, -50),
        ("2021-01-09", 0, "2021-01-02", 0, 0), ("2021-01-10", 0, "2021-01-03", 0, 0),
        ("2021-01-11", 0, "2021-01-04", 0, 0), ("2021-01-12", 0, "2021-01-05", 0, 0),
        ("2021-01-13", 0, "2021-01-06", 1, -100)]


def test_the_request_resolves_the_comparison_range_and_refuses_bad_options():
    body = {"site_id": "s", "metrics": ["visitors"], "date_range": "7d"}
    query = plausible.translate({**body, "include": {"comparisons": {"mode": "previous_period"}}}, {"s": 1}, 400,
                                NOW_MS)
    assert [plausible._iso(query.comparison_range[0]), plausible._iso(query.comparison_range[1] - 1000)] == [
        "2024-08-27T00:00:00+00:00", "2024-09-02T23:59:59+00:00"]
    custom = {"mode": "custom", "date_range": ["2024-01-01", "2024-01-31"]}
    query = plausible.translate({**body, "include": {"comparisons": custom}}, {"s": 1}, 400, NOW_MS)
    assert query.comparison_range[1] - query.comparison_range[0] == 31 * 86_400_000
    for bad, part in (("yes", "include.comparisons"), ({"mode": "custom"}, "include.comparisons.date_range"),
                      ({"mode": "previous_period", "date_range": ["2024-01-01", "2024-01-02"]},
                       "include.comparisons.date_range"),
                      ({"mode": "custom", "date_range": ["2024-01-05", "2024-01-01"]},
                       "include.comparisons.date_range"),
                      ({"mode": "year_over_year", "match_day_of_week": "yes"},
                       "include.comparisons.match_day_of_week"),
                      ({"mode": "previous_period", "compare_to": 1}, "include.comparisons.compare_to")):
        with pytest.raises(ApiError) as caught:
            plausible.translate({**body, "include": {"comparisons": bad}}, {"s": 1}, 400, NOW_MS)
        assert caught.value.status_code == 400 and caught.value.field == part, caught.value.message


def test_csv_cells_a_spreadsheet_would_run_get_a_leading_quote():
    import csv
    import io

    from chalicelib.query import plausible_csv

    values = ["=SUM(A1)", "+1", "-2", "@x", "\tx", "\rx", "/ok", None]
    answer = {"query": {"dimensions": ["event:props:ref"], "metrics": ["visitors"], "include": {}},
              "results": [{"dimensions": [v], "metrics": [1]} for v in values]}
    rows = list(csv.reader(io.StringIO(plausible_csv.as_csv(answer), newline="")))
    assert rows == [["event:props:ref", "visitors"], *[["'" + v if v and v != "/ok" else v or "", "1"]
                                                       for v in values]]
    assert plausible_csv.wants_csv("application/json, TEXT/CSV;q=0.9") and not plausible_csv.wants_csv(None)

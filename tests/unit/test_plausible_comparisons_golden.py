"""Golden test of include.comparisons through POST /api/v2/query's translation (plausible.run over the
lake in DuckDB): previous_period, year_over_year and custom, with revenue metrics, each row's
comparison and change against a plain-Python computation over the comparison period (the change as
Plausible's compare.ex: whole percentages rounded half away from zero, bounce_rate and conversion_rate
in points, revenue by value, null when either side is)."""

from __future__ import annotations

import math
from datetime import date
from types import SimpleNamespace

import pytest

from chalicelib.core.goals import parse_goals, revenue_json
from chalicelib.core.metrics import Metrics
from chalicelib.query import plausible
from chalicelib.query.runner import answer
from tests.unit.test_query_filters_golden import GOALS, cache, events, lake, reference  # noqa: F401 (fixtures)
from tests.unit.test_query_golden import SETTINGS, SITE

NOW_MS = 1_796_860_800_000  # 2026-12-10T00:00:00Z
METRICS = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "conversion_rate", "total_revenue",
           "average_revenue"]
MAIN = ["2026-11-03", "2026-11-04"]
CASES = [
    ({"mode": "previous_period"}, ["2026-11-01", "2026-11-02"]),
    ({"mode": "custom", "date_range": ["2026-11-01", "2026-11-03"]}, ["2026-11-01", "2026-11-03"]),
    ({"mode": "year_over_year"}, ["2025-11-03", "2025-11-04"]),  # nothing then: zeros, revenue null
]
SHAPES = [([], [["is", "event:goal", ["Any signup USD"]]]),
          (["visit:device"], [["contains", "event:goal", ["USD"]]]),
          (["time:day"], [["is", "event:goal", ["Pro plan", "Any signup USD"]], ["is_not", "visit:country", ["FR"]]])]


def expected_change(metric: str, old, new):
    old = old["value"] if isinstance(old, dict) else old
    new = new["value"] if isinstance(new, dict) else new
    if old is None or new is None:
        return None
    if metric == "bounce_rate":
        return round(new - old, 1) if old > 0 else None
    if metric == "conversion_rate":
        return round(new - old, 1)
    if old == 0:
        return 100 if new > 0 else 0
    percent = (new - old) / old * 100
    return int(math.copysign(math.floor(abs(percent) + 0.5), percent))


def shaped(metric: str, value):
    return revenue_json(value) if metric in ("total_revenue", "average_revenue") else value


@pytest.mark.parametrize("comparison, period", CASES)
def test_comparisons_equal_plain_python(events, lake, cache, comparison, period):  # noqa: F811
    sites = {SITE: SimpleNamespace(goals=parse_goals(GOALS))}

    def ask(request):
        return answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)

    for dimensions, filters in SHAPES:
        body = {"site_id": SITE, "date_range": MAIN, "metrics": METRICS, "dimensions": dimensions,
                "filters": filters, "include": {"comparisons": comparison}}
        got = plausible.run(body, ask, sites, 400, NOW_MS)
        assert got["meta"]["comparison_date_range"] == [f"{period[0]}T00:00:00+00:00", f"{period[1]}T23:59:59+00:00"]
        lake_shape = {"dimensions": dimensions, "filters": filters, "metrics": METRICS}
        main = reference(events, {**lake_shape, "date_range": MAIN})
        old = reference(events, {**lake_shape, "date_range": period})
        empty = [None if m in ("total_revenue", "average_revenue") else 0 for m in METRICS]
        for row in got["results"]:
            wanted = row["comparison"]["dimensions"]
            if dimensions == ["time:day"]:
                shift = date.fromisoformat(period[0]) - date.fromisoformat(MAIN[0])
                assert wanted == [(date.fromisoformat(row["dimensions"][0]) + shift).isoformat()]
            else:
                assert wanted == row["dimensions"]
            new_values = main.get(tuple(row["dimensions"]), empty)
            old_values = old.get(tuple(wanted), empty)
            assert row["metrics"] == [shaped(m, v) for m, v in zip(METRICS, new_values, strict=True)], row
            assert row["comparison"]["metrics"] == [shaped(m, v) for m, v in zip(METRICS, old_values, strict=True)]
            assert row["comparison"]["change"] == [expected_change(m, o, n) for m, o, n in
                                                   zip(METRICS, old_values, new_values, strict=True)], row
        assert len(got["results"]) >= 1
        if comparison["mode"] != "year_over_year" and not dimensions:
            revenue = got["results"][0]["comparison"]["metrics"][METRICS.index("total_revenue")]
            assert revenue["currency"] == "USD" and revenue["value"] > 0  # revenue sums in the comparison

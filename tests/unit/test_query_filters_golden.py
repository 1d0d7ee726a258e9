"""Golden tests of every metric under 24 filter combinations (goal filters inside and/or/not, contains
and matches on goal names, page and visit filters), answered by DuckDB over the lake and compared with
a plain-Python computation: visits by sessions/model.py, goals by core/goals.py's event_converts and
their names matched as Plausible's Goals.matches?, time_on_page and scroll_depth as Plausible's
(engagement events: engaged time summed per visit with one; deepest scroll up to 100 per visit;
averaged over those visits, rounded half to even; null without any). Equal, not approximately."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlglot

from chalicelib.core.goals import event_converts, parse_goals
from chalicelib.core.metrics import Metrics
from chalicelib.query.builder import build
from chalicelib.query.description import METRICS, parse_query
from chalicelib.query.runner import answer, athena_scan, plan, results
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects
from tests.unit.test_query_goals_golden import GOALS, with_revenue
from tests.unit.test_query_golden import SETTINGS, SITE, difference, dimension_value, visits_of

FILTERS = [
    [],
    [["is", "event:goal", ["Signup"]]],
    [["contains", "event:goal", ["Pro"]]],
    [["contains", "event:goal", ["signup"], {"case_sensitive": False}]],
    [["matches", "event:goal", ["^P"]]],
    [["matches_not", "event:goal", ["^Pro"]]],
    [["contains_not", "event:goal", ["USD"]]],
    [["is_not", "event:goal", ["Blog"]]],
    [["or", [["is", "event:goal", ["Signup"]], ["is", "visit:device", ["mobile"]]]]],
    [["not", ["is", "event:goal", ["Blog"]]]],
    [["and", [["contains", "event:goal", ["Pr"]], ["is_not", "visit:source", ["Google"]]]]],
    [["not", ["or", [["is", "event:goal", ["Pricing"]], ["contains", "event:page", ["blog"]]]]]],
    [["is", "event:goal", ["Pro plan", "Any signup USD"]], ["is", "visit:country", ["US", "DE"]]],
    [["contains", "event:goal", ["Pro"]], ["not", ["is", "visit:browser", ["Safari"]]]],
    [["is", "visit:country", ["US", "DE"]]],
    [["contains", "event:page", ["blog"]]],
    [["matches", "event:page", ["^/blog/"]]],
    [["is_not", "visit:source", ["Google"]], ["contains", "event:page", ["docs"], {"case_sensitive": False}]],
    [["or", [["is", "visit:channel", ["Direct"]], ["contains_not", "visit:entry_page", ["pricing"]]]]],
    [["not", ["is", "visit:browser", ["Safari"]]]],
    [["matches_not", "visit:exit_page", ["sign"], {"case_sensitive": False}]],
    [["is", "event:props:plan", ["pro"], {"case_sensitive": False}]],
    [["and", [["or", [["is", "event:goal", ["Blog"]], ["is", "event:goal", ["Pricing"]]]],
              ["not", ["is", "visit:device", ["desktop"]]]]]],
    [["is", "event:goal", ["Nobody"]]],
    # a top-level property filter leaves the divisor of conversion_rate (Plausible's remove_top_level_filters)
    [["contains", "event:goal", ["signup"], {"case_sensitive": False}], ["is", "event:props:plan", ["pro"]]],
]
RANGE = ["2026-11-01", "2026-11-05"]
ENGAGEMENT = ["time_on_page", "scroll_depth"]
REVENUE = ["total_revenue", "average_revenue"]


def with_scroll(events: list[dict]) -> list[dict]:
    """Engagement events carry the deepest scroll (some none, some beyond 100 as Plausible's 255)."""
    rnd = random.Random(11)
    return [{**e, "scroll_pct": rnd.choice([0, 10, 35, 50, 50, 75, 99, 100, 255, None])}
            if e["event_type"] == "engagement" else e for e in events]


def goals_named(condition: list, goals) -> set[str]:
    positive = condition[0].removesuffix("_not")
    sensitive = (condition[3] if len(condition) == 4 else {}).get("case_sensitive", True)
    fold = (lambda s: s) if sensitive else str.lower
    out = set()
    for goal in goals:
        name = goal.name
        if positive == "is":
            hit = fold(name) in [fold(v) for v in condition[2]]
        elif positive == "contains":
            hit = any(fold(v) in fold(name) for v in condition[2])
        else:
            hit = any(re.search(v, name, 0 if sensitive else re.IGNORECASE) for v in condition[2])
        if hit:
            out.add(name)
    return out


def passes(node: list, event: dict, visit, goals) -> bool:
    from tests.unit.test_query_golden import matches

    operator = node[0]
    if operator in ("and", "or"):
        combine = all if operator == "and" else any
        return combine(passes(n, event, visit, goals) for n in node[1])
    if operator == "not":
        return not passes(node[1], event, visit, goals)
    if node[1] == "event:goal":
        names = goals_named(node, goals)
        hit = any(event_converts(g, event) for g in goals if g.name in names)
        return hit != operator.endswith("_not")
    return matches(node, event, visit)


def widened(node: list, positive: bool = True):
    """The filter without its goal conditions' restriction: each replaced by true, or false under a not."""
    operator = node[0]
    if operator == "not":
        child = widened(node[1], not positive)
        return (not child) if isinstance(child, bool) else ["not", child]
    if operator in ("and", "or"):
        children = [widened(n, positive) for n in node[1]]
        absorbing = operator == "or"
        if any(c is absorbing for c in children):
            return absorbing
        kept = [c for c in children if not isinstance(c, bool)]
        return [operator, kept] if kept else (not absorbing)
    return positive if node[1] == "event:goal" else node


def reference(events: list[dict], request: dict) -> dict[tuple, list]:
    goals = parse_goals(GOALS)
    dims, filters, metrics = request["dimensions"], request["filters"], request["metrics"]
    first, last = request["date_range"]
    site = [e for e in events if e["site"] == SITE and first <= _day(e) <= last]
    visits = visits_of([e for e in events if e["site"] == SITE])
    divisor_filters = [w for w in (widened(f) for f in filters if not str(f[1]).startswith("event:props:"))
                       if w is not True]
    top_goals = [goals_named(f, goals) for f in filters if f[1] == "event:goal" and not f[0].endswith("_not")]
    selected = set.intersection(*top_goals) if top_goals else set()
    revenue_goals = [g for g in goals if g.name in selected and g.currency]
    currencies = {g.currency for g in revenue_goals}
    currency = currencies.pop() if len(currencies) == 1 else None
    groups: dict = defaultdict(lambda: {"sessions": set(), "visitors": set(), "pageviews": 0, "events": 0,
                                        "engaged": defaultdict(int), "scroll": {}, "sum": Decimal(0), "count": 0})
    everyone: set = set()
    for event in site:
        visit = visits[event["session_id"]]
        if all(passes(f, event, visit, goals) for f in divisor_filters):
            everyone.add(event["visitor_id"])
        if not all(passes(f, event, visit, goals) for f in filters):
            continue
        group = groups[tuple(dimension_value(d, event, visit) for d in dims)]
        group["sessions"].add(event["session_id"])
        group["visitors"].add(event["visitor_id"])
        group["pageviews"] += event["event_type"] == "page_view"
        group["events"] += event["event_type"] != "engagement"
        if event["event_type"] == "engagement":
            group["engaged"][event["session_id"]] += event.get("engaged_ms") or 0
            if event.get("scroll_pct") is not None and event["scroll_pct"] <= 100:
                deepest = group["scroll"].get(event["session_id"], -1)
                group["scroll"][event["session_id"]] = max(deepest, event["scroll_pct"])
        if (currency and event.get("revenue_currency") == currency
                and any(event_converts(g, event) for g in revenue_goals)):
            group["sum"] += Decimal(event["revenue_amount"])
            group["count"] += 1
    if not dims and not groups:
        groups[()]
    return {key: [_metric(m, group, visits, len(everyone), currency) for m in metrics] for key, group in groups.items()}


def _day(event: dict) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(event["time"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _metric(name: str, group: dict, visits: dict, everyone: int, currency):
    sessions = [visits[s][0] for s in group["sessions"]]
    n = len(sessions)

    def ratio(numerator, scale=1):
        return Fraction(numerator * scale, n) if n else Fraction(0)

    engaged, scroll = group["engaged"], group["scroll"]
    total = Fraction(group["sum"])
    return {
        "visitors": lambda: len(group["visitors"]), "visits": lambda: n, "pageviews": lambda: group["pageviews"],
        "events": lambda: group["events"],
        "views_per_visit": lambda: float(round(ratio(sum(s.page_views for s in sessions)), 2)),
        "bounce_rate": lambda: float(round(ratio(sum(s.bounce for s in sessions), 100), 1)),
        "visit_duration": lambda: float(round(ratio(sum(s.duration_ms for s in sessions)) / 1000, 1)),
        "time_on_page": lambda: round(Fraction(sum(engaged.values()), 1000 * len(engaged))) if engaged else None,
        "scroll_depth": lambda: round(Fraction(sum(scroll.values()), len(scroll))) if scroll else None,
        "conversion_rate": lambda: (float(round(Fraction(len(group["visitors"]) * 100, everyone), 1))
                                    if everyone else 0.0),
        "total_revenue": lambda: {"value": float(round(total, 2)), "currency": currency} if currency else None,
        "average_revenue": lambda: ({"value": float(round(total / group["count"], 2)) if group["count"] else 0.0,
                                     "currency": currency} if currency else None),
    }[name]()


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return with_scroll(with_revenue(workload.events(visitors_per_site=120)))


@pytest.fixture(scope="module")
def lake(events) -> MemoryLakeObjects:
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("filters-cache")))


def requests():
    """Every filter with every metric: by event:page (which time_on_page and scroll_depth need), and
    with no dimension under a top-level page filter; goal metrics where a goal filter is."""
    for filters in FILTERS:
        goal = any("event:goal" in repr(f) for f in filters)
        metrics = [*METRICS, *ENGAGEMENT, *(["conversion_rate", *REVENUE] if goal else [])]
        yield {"dimensions": ["event:page"], "filters": filters, "metrics": metrics}
        yield {"dimensions": [], "filters": [["contains", "event:page", ["/"]], *filters], "metrics": metrics}
        yield {"dimensions": ["visit:device"], "filters": filters, "metrics": [*METRICS, *(["conversion_rate"]
                                                                                         if goal else [])]}


def test_the_workload_has_what_the_metrics_need(events):
    site = [e for e in events if e["site"] == SITE]
    assert sum(e["event_type"] == "engagement" for e in site) >= 100
    assert {e.get("scroll_pct") for e in site if e["event_type"] == "engagement"} >= {None, 0, 100, 255}
    assert len(FILTERS) - 1 >= 20 and sum("event:goal" in repr(f[0]) and f[0][0] in ("and", "or", "not")
                                          for f in FILTERS if f) >= 4


def test_every_metric_under_every_filter_equals_plain_python(events, lake, cache):
    compared = nulls = 0
    for shape in requests():
        request = {"site": SITE, "date_range": RANGE, "goals": GOALS, **shape}
        expected = reference(events, request)
        got = answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)
        assert "error" not in got, (shape, got)
        got = {tuple(r["dimensions"]): r["metrics"] for r in got["results"]}
        assert got == expected, (shape, difference(got, expected))
        compared += 1
        nulls += sum(row[len(METRICS)] is None for row in got.values()) if "time_on_page" in shape["metrics"] else 0
    assert compared == 3 * len(FILTERS)
    assert nulls  # pages without engagement answer null, not 0


def test_the_numbers_are_not_trivial(events, lake, cache):
    request = {"site": SITE, "date_range": RANGE, "goals": GOALS, "dimensions": [],
               "filters": [["contains", "event:page", ["/"]], ["contains", "event:goal", ["Pro"]]],
               "metrics": ["visitors", "time_on_page", "scroll_depth", "conversion_rate", "total_revenue"]}
    row = answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)["results"][0]["metrics"]
    assert row[0] > 0 and 0 < row[3] < 100
    assert row[4] is None  # Pro plan (USD) and Pro EUR: two currencies are never summed
    request["filters"][1] = ["contains", "event:goal", ["plan"]]
    row = answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)["results"][0]["metrics"]
    assert row[4]["currency"] == "USD" and row[4]["value"] > 0
    by_page = answer({**request, "filters": [], "dimensions": ["event:page"],
                      "metrics": ["visitors", "time_on_page", "scroll_depth"]}, lake, SETTINGS,
                     Metrics("test", lambda _: None), cache=cache)
    assert any(r["metrics"][1] and r["metrics"][1] > 0 and 0 < r["metrics"][2] <= 100 for r in by_page["results"])


@pytest.mark.parametrize("metric", [*METRICS, *ENGAGEMENT, *REVENUE])
def test_ordered_by_any_metric_every_row_is_answered_in_that_order_in_both_engines(metric, events, lake, cache):
    """order_by on a ratio of totals (time_on_page: engaged_ms_sum / engaged_visits) orders by the group's
    totals, never by the per-visit columns of the same names (a DuckDB binder error, answered 503, before)."""
    revenue = metric in REVENUE  # revenue needs a goal filter, under which no engagement event is left
    metrics = [*METRICS, *(REVENUE if revenue else ENGAGEMENT)]
    request = {"site": SITE, "date_range": RANGE, "goals": GOALS, "metrics": metrics, "dimensions": ["event:page"],
               "filters": [["contains", "event:goal", ["plan"]]] if revenue else [],
               "order_by": [[metric, "desc"]]}
    expected = reference(events, request)
    query = parse_query(request)
    files = plan(query, lake)
    twin = sqlglot.parse_one(build(query, athena_scan(query, files, SETTINGS.lake_bucket)).sql(dialect="trino"),
                             read="trino").sql(dialect="duckdb")
    ran = run_sql(lake, files, twin, cache=cache, bucket=SETTINGS.lake_bucket, include_superseded=True)
    sort_value = {"total_revenue": lambda v: v and v["value"], "average_revenue": lambda v: v and v["value"]}.get(
        metric, lambda v: v)
    for rows in (answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)["results"],
                 results(query, ran.columns, ran.rows)):
        assert {tuple(r["dimensions"]): r["metrics"] for r in rows} == expected
        values = [sort_value(r["metrics"][metrics.index(metric)]) for r in rows]
        known = [v for v in values if v is not None]
        assert len(known) > 1 and values == known + [None] * (len(values) - len(known)), values  # none: last
        assert known == sorted(known, reverse=True), known

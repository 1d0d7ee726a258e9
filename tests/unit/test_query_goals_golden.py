"""Golden tests of goals on the lake: conversion_rate, group_conversion_rate, total_revenue and
average_revenue by event:goal and with goal filters, answered by DuckDB (stream objects with
duplicates) and by the Athena SQL (parsed as Trino, run as its DuckDB twin), compared with a
plain-Python computation over the same events: goals matched by core/goals.py's event_converts,
revenue summed as Decimal in the goal's currency (the other currency left out), visits built by
sessions/model.py. Equal, not approximately equal."""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlglot

from chalicelib.core.goals import event_converts, parse_goals
from chalicelib.core.metrics import Metrics
from chalicelib.query.builder import build
from chalicelib.query.description import parse_query
from chalicelib.query.runner import answer, athena_scan, divisor_queries, divisors_of, plan, results
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects
from tests.unit.test_query_golden import SETTINGS, SITE, difference, matches, visits_of

GOALS = [{"name": "Signup", "event": "signup"},
         {"name": "Blog", "page": "/blog*"},
         {"name": "Pricing", "page": "/pricing"},
         {"name": "Pro plan", "event": "signup", "props": {"plan": "pro"}, "currency": "USD"},
         {"name": "Pro EUR", "event": "signup", "props": {"plan": "Pro"}, "currency": "EUR"},
         {"name": "Any signup USD", "event": "signup", "currency": "USD"},
         {"name": "Nobody", "event": "never_sent", "currency": "USD"}]
METRICS = ["visitors", "visits", "events", "conversion_rate", "group_conversion_rate", "total_revenue",
           "average_revenue"]
REQUESTS = [
    (("event:goal",), []),
    (("event:goal",), [["is", "visit:device", ["desktop"]]]),
    (("event:goal", "visit:source"), []),
    (("visit:source", "event:goal"), [["is", "visit:country", ["US", "DE"]]]),
    (("event:goal",), [["is", "event:goal", ["Pro plan", "Signup"]]]),
    (("event:goal",), [["is_not", "event:goal", ["Signup", "Blog"]]]),
    ((), [["is", "event:goal", ["Pro plan"]]]),
    ((), [["is", "event:goal", ["Pro plan", "Any signup USD"]]]),
    ((), [["is", "event:goal", ["Pro plan", "Pro EUR"]]]),  # two currencies: no revenue
    ((), [["is", "event:goal", ["Blog"]]]),  # not a revenue goal: no revenue
    (("visit:device",), [["is", "event:goal", ["Pro EUR"]]]),
    (("event:page",), [["is", "event:goal", ["Blog", "Pricing"]], ["is_not", "visit:source", ["Google"]]]),
    (("visit:device",), [["is_not", "event:goal", ["Signup"]], ["contains", "event:page", ["blog"]]]),
]


def with_revenue(events: list[dict]) -> list[dict]:
    """Signups carry revenue in USD or EUR (or none), with the lake's four decimals."""
    rnd = random.Random(5)
    out = []
    for event in events:
        if event["event_type"] == "signup" and rnd.random() < 0.8:
            cents = rnd.randint(1, 2_000_000)
            event = {**event, "revenue_amount": f"{Decimal(cents) / 100 + Decimal('0.0049') * rnd.randint(0, 1)}",
                     "revenue_currency": rnd.choice(["USD", "USD", "EUR"])}
        out.append(event)
    return out


def reference(events: list[dict], request: dict) -> dict[tuple, list]:
    query = parse_query(request)
    goals = parse_goals(GOALS)
    by_name = {g.name: g for g in goals}
    visits = visits_of([e for e in events if e["site"] == SITE])
    goal_filters = [f for f in request["filters"] if f[1] == "event:goal"]
    other_filters = [f for f in request["filters"] if f[1] != "event:goal"]
    others = [d for d in query.dimensions if d != "event:goal"]
    groups: dict = defaultdict(lambda: {"visitors": set(), "sessions": set(), "events": 0, "sum": Decimal(0),
                                        "count": 0})
    totals: set = set()
    per_group: dict = defaultdict(set)
    for event in events:
        if event["site"] != SITE or not query.start_ms <= event["time"] < query.end_ms:
            continue
        visit = visits[event["session_id"]]
        if not all(matches(f, event, visit) for f in other_filters):
            continue
        values = {d: matches_value(d, event, visit) for d in others}
        totals.add(event["visitor_id"])
        per_group[tuple(values[d] for d in others)].add(event["visitor_id"])
        for goal, currency in goal_rows(event, query.dimensions, goals, goal_filters):
            key = tuple(goal.name if d == "event:goal" else values[d] for d in query.dimensions)
            group = groups[key]
            group["visitors"].add(event["visitor_id"])
            group["sessions"].add(event["session_id"])
            group["events"] += event["event_type"] != "engagement"
            if currency is not None and event.get("revenue_currency") == currency:
                group["sum"] += Decimal(event["revenue_amount"])
                group["count"] += 1
    out = {}
    for key, group in groups.items():
        goal = by_name[key[query.dimensions.index("event:goal")]] if "event:goal" in query.dimensions else None
        if goal is None:
            named = {by_name[n].currency for f in goal_filters if f[0] == "is" for n in f[2] if by_name[n].currency}
            currency = named.pop() if len(named) == 1 else None
        else:
            currency = goal.currency
        visitors = len(group["visitors"])
        group_key = tuple(v for d, v in zip(query.dimensions, key, strict=True) if d != "event:goal")

        def rate(divisor: int, visitors=visitors) -> float:
            return float(round(Fraction(visitors * 100, divisor), 1)) if divisor else 0.0

        total = Fraction(group["sum"])
        revenue = ({"value": float(round(total, 2)), "currency": currency},
                   {"value": float(round(total / group["count"], 2)) if group["count"] else 0.0,
                    "currency": currency}) if currency else (None, None)
        values = {"visitors": visitors, "visits": len(group["sessions"]), "events": group["events"],
                  "conversion_rate": rate(len(totals)), "group_conversion_rate": rate(len(per_group[group_key])),
                  "total_revenue": revenue[0], "average_revenue": revenue[1]}
        out[key] = [values[m] for m in METRICS]
    if not query.dimensions and not out:
        out[()] = [0, 0, 0, 0.0, 0.0, None, None]
    return out


def goal_rows(event: dict, dimensions: tuple, goals: tuple, goal_filters: list) -> list[tuple]:
    """The (goal, currency whose revenue counts) rows an event adds to: one per goal it converts
    (by event:goal), else one if it passes the goal filters (currency: the named revenue goals' one)."""
    by_name = {g.name: g for g in goals}
    if "event:goal" in dimensions:
        return [(g, g.currency) for g in goals
                if event_converts(g, event) and all(allowed(f, g.name) for f in goal_filters)]
    if not all(any(event_converts(by_name[n], event) for n in f[2]) == (f[0] == "is") for f in goal_filters):
        return []
    named = [by_name[n] for f in goal_filters if f[0] == "is" for n in f[2] if by_name[n].currency]
    currencies = {g.currency for g in named}
    currency = currencies.pop() if len(currencies) == 1 else None
    return [(None, currency if any(event_converts(g, event) for g in named) else None)]


def matches_value(dimension: str, event: dict, visit):
    from tests.unit.test_query_golden import dimension_value

    return dimension_value(dimension, event, visit)


def allowed(condition: list, name: str) -> bool:
    return (name in condition[2]) == (condition[0] == "is")


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return with_revenue(workload.events(visitors_per_site=120))


@pytest.fixture(scope="module")
def lake(events) -> MemoryLakeObjects:
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("goals-cache")))


def requests():
    for dims, filters in REQUESTS:
        yield {"site": SITE, "date_range": ["2026-11-01", "2026-11-05"], "metrics": METRICS,
               "dimensions": list(dims), "filters": filters, "goals": GOALS}


def as_map(answered: dict) -> dict[tuple, list]:
    assert "error" not in answered, answered
    return {tuple(r["dimensions"]): r["metrics"] for r in answered["results"]}


def test_the_workload_has_conversions_and_revenue_in_two_currencies(events):
    site = [e for e in events if e["site"] == SITE]
    assert {e.get("revenue_currency") for e in site} == {None, "USD", "EUR"}
    assert any(e["revenue_amount"].endswith("49") for e in site if "revenue_amount" in e)  # sub-cent amounts
    assert sum(e["event_type"] == "signup" for e in site) >= 20
    assert any(e.get("page_path", "").startswith("/blog/") for e in site)


def test_goal_metrics_equal_plain_python_in_duckdb(events, lake, cache):
    for request in requests():
        expected = reference(events, request)
        got = as_map(answer(request, lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
        assert got == expected, (request["dimensions"], request["filters"], difference(got, expected))
    # the answers are not trivial: rates below 100, revenue in both currencies, a goal with no revenue
    by_goal = as_map(answer(next(requests()), lake, SETTINGS, Metrics("test", lambda _: None), cache=cache))
    assert 0 < by_goal[("Signup",)][3] < 100
    assert by_goal[("Pro plan",)][5]["currency"] == "USD" and by_goal[("Pro plan",)][5]["value"] > 0
    assert by_goal[("Pro EUR",)][5]["currency"] == "EUR" and by_goal[("Pro EUR",)][5]["value"] > 0
    assert by_goal[("Signup",)][5] is None and ("Nobody",) not in by_goal


def test_the_athena_sql_parses_as_trino_and_its_duckdb_twin_answers_the_same(events, lake, cache):
    checked = 0
    for request in requests():
        query = parse_query(request)
        files = plan(query, lake)

        def twin(one, files=files):
            trino_sql = build(one, athena_scan(one, files, SETTINGS.lake_bucket)).sql(dialect="trino")
            duck = sqlglot.parse_one(trino_sql, read="trino").sql(dialect="duckdb")
            ran = run_sql(lake, files, duck, cache=cache, bucket=SETTINGS.lake_bucket)
            return ran.columns, ran.rows

        columns, rows = twin(query)
        divisors = divisors_of({name: twin(q) for name, q in divisor_queries(query).items()})
        got = {tuple(r["dimensions"]): r["metrics"] for r in results(query, columns, rows, divisors)}
        expected = reference(events, request)
        if not query.dimensions and not got:
            got[()] = [0, 0, 0, 0.0, 0.0, None, None]
        assert got == expected, (request["dimensions"], request["filters"], difference(got, expected))
        checked += 1
    assert checked == len(REQUESTS)

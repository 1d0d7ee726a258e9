"""A funnel on the lake: one sqlglot tree printed for DuckDB and for Athena (Trino), and the query
function's use case that plans, picks the engine and runs it with runner.py's own runners.

No self-join: the events of the range (filtered) that match a step become one row per visitor and
millisecond, and step k is a window pass over step k-1's: `reach_k` of a moment matching step k is
the LATEST step-1 time of a chain of steps 1..k ending there (strictly increasing times, all within
the window of that step-1 event), or NULL. The latest start is the best one to extend (it leaves the
most window), so the max over earlier moments of reach_{k-1} is all step k needs: n steps cost n
sorted passes over the same rows, and every CTE is read once (Trino inlines CTEs: a second
reference would scan the lake again).
"""

from __future__ import annotations

import time

from sqlglot import exp

from chalicelib.core.metrics import LAKE_QUERY_BYTES
from chalicelib.query.description import VISIT_DIMENSIONS, QueryError
from chalicelib.query.funnel import Funnel, parse_funnel
from chalicelib.query.runner import (
    ATHENA_ENGINE,
    BYTES,
    DEFAULT_TIME_LEFT_SECONDS,
    DUCKDB_ENGINE,
    ENGINE_DIMENSION,
    EngineFailed,
    error_answer,
    plan,
    run_athena,
    run_duckdb,
)
from chalicelib.query.sql_filters import filter_dimensions, filter_expression
from chalicelib.query.sql_goals import goal_condition
from chalicelib.query.sql_scan import DEFAULT_TABLE, Scan, events_cte, needed_columns
from chalicelib.query.sql_terms import col, timestamp
from chalicelib.query.sql_visits import in_range, visit_events_cte, visits_cte

ALL_VISITORS = "all_visitors"


def _flag(condition: exp.Expression) -> exp.Expression:
    """1 when the condition holds, else 0 (a NULL test is no match)."""
    return exp.If(this=exp.Coalesce(this=condition, expressions=[exp.false()]), true=exp.Literal.number(1),
                  false=exp.Literal.number(0))


def _base(funnel: Funnel, scan: Scan, table: str) -> tuple[list[tuple[str, exp.Expression]], str]:
    """The CTEs of the range's events (with their visit's facts when a filter needs them) and the name
    of the last one. Visit facts come from the whole visit, so they need the padded scan; event
    filters do not."""
    query = funnel.query
    columns, facts = needed_columns(query)
    ctes = [("ev", events_cte(query, scan, table, columns))]
    if any(d in VISIT_DIMENSIONS for d in filter_dimensions(query.filter)):
        ctes += [("visits", visits_cte(query, facts)), ("visit_events", visit_events_cte(query, facts))]
        return ctes, "visit_events"
    ctes.append(("range_events", exp.select(exp.Star()).from_("ev").where(in_range(query), copy=False)))
    return ctes, "range_events"


def _moments(funnel: Funnel, source: str) -> exp.Select:
    """One row per visitor and millisecond of its filtered events in the range that match a step:
    `ms` since the range start and, per step, whether an event of that moment matches it (events of
    one moment are not ordered: a chain never uses two of them). A visitor's events matching no step
    only count it in all_visitors: they collapse into one row with `ms` NULL and no step."""
    query = funnel.query
    conditions = [goal_condition(goal) for goal in funnel.steps]
    unique = {c.sql(): c for c in conditions}  # a repeated step tests its goal once
    some_step = exp.Coalesce(this=exp.or_(*[c.copy() for c in unique.values()]), expressions=[exp.false()])
    ms = exp.Case(ifs=[exp.If(this=some_step, true=exp.DateDiff(
        this=col("time"), expression=timestamp(query.start_ms), unit=exp.var("MILLISECOND")))])
    flags = [exp.alias_(exp.Max(this=_flag(condition)), f"s{k}") for k, condition in enumerate(conditions, start=1)]
    moments = exp.select(col("visitor_id"), exp.alias_(ms, "ms"), *flags).from_(source)
    if query.filter is not None:
        moments = moments.where(filter_expression(query.filter, query), copy=False)
    return moments.group_by(col("visitor_id"), ms.copy(), copy=False)


def _is_one(name: str) -> exp.Expression:
    return exp.EQ(this=col(name), expression=exp.Literal.number(1))


def _step(funnel: Funnel, k: int, previous: str) -> exp.Select:
    """Step k (k >= 2) over the CTE of step k-1: the latest start reaching k-1 strictly before each
    moment (a window), then reach_k where the moment matches step k within the window of that start."""
    carried = [col("visitor_id"), col("ms"), *[col(f"s{j}") for j in range(k, len(funnel.steps) + 1)],
               *[col(f"reach_{j}") for j in range(1, k)]]
    before = exp.Window(this=exp.Max(this=col(f"reach_{k - 1}")), partition_by=[col("visitor_id")],
                        order=exp.Order(expressions=[exp.Ordered(this=col("ms"))]),
                        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                            end=exp.Literal.number(1), end_side="PRECEDING"))
    started = exp.select(*carried, exp.alias_(before, "start")).from_(previous)
    within = exp.and_(_is_one(f"s{k}"), exp.LTE(this=exp.Sub(this=col("ms"), expression=col("start")),
                                                 expression=exp.Literal.number(funnel.window_ms)))
    reach = exp.Case(ifs=[exp.If(this=within, true=col("start"))])
    return exp.select(*[c.copy() for c in carried], exp.alias_(reach, f"reach_{k}")).from_(started.subquery("started"))


def build_funnel(funnel: Funnel, scan: Scan, table: str = DEFAULT_TABLE) -> exp.Expression:
    """One row: all_visitors (any filtered event in the range) and reach_1..reach_n, the visitors
    reaching each step."""
    n = len(funnel.steps)
    ctes, source = _base(funnel, scan, table)
    ctes.append(("moments", _moments(funnel, source)))
    first = exp.Case(ifs=[exp.If(this=_is_one("s1"), true=col("ms"))])
    ctes.append(("step_1", exp.select(col("visitor_id"), col("ms"), *[col(f"s{j}") for j in range(2, n + 1)],
                                      exp.alias_(first, "reach_1")).from_("moments")))
    for k in range(2, n + 1):
        ctes.append((f"step_{k}", _step(funnel, k, f"step_{k - 1}")))
    counts = [exp.alias_(exp.Count(this=exp.Distinct(expressions=[col("visitor_id")])), ALL_VISITORS)]
    counts += [exp.alias_(exp.Count(this=exp.Distinct(expressions=[exp.Case(ifs=[exp.If(
        this=exp.not_(exp.Is(this=col(f"reach_{k}"), expression=exp.null())), true=col("visitor_id"))])])),
        f"reach_{k}") for k in range(1, n + 1)]
    outer = exp.select(*counts).from_(f"step_{n}")
    for name, cte in ctes:
        outer = outer.with_(name, as_=cte, copy=False)
    return outer


# --- the query function's use case ----------------------------------------------------------------

def answer(request: dict, objects, settings, metrics, *, time_left_seconds: float | None = None,
           athena=None, cache=None) -> dict:
    """{"all_visitors": n, "visitors": [per step], "meta": {...}}, or {"status": 400, "error": ...}."""
    started = time.perf_counter()
    try:
        funnel = parse_funnel(request)
        if settings.sites and funnel.query.site not in settings.sites:
            raise QueryError("site", f"unknown site {funnel.query.site!r}")
    except QueryError as exc:
        return error_answer(exc)
    query = funnel.query
    files = plan(query, objects)
    planned_bytes = sum(f.size_bytes for f in files)
    engine = DUCKDB_ENGINE if planned_bytes <= settings.lake_embedded_limit_bytes else ATHENA_ENGINE

    def make(_query, scan: Scan) -> exp.Expression:
        return build_funnel(funnel, scan)

    try:
        if engine == DUCKDB_ENGINE:
            columns, rows, meta = run_duckdb(query, files, objects, settings, make, cache)
        else:
            columns, rows, meta = run_athena(query, files, settings, make, athena,
                                              time_left_seconds or DEFAULT_TIME_LEFT_SECONDS)
    except QueryError as exc:
        return error_answer(exc)
    except EngineFailed as exc:
        return {"status": 503, "error": {"code": "engine_failed", "message": str(exc)}}
    metrics.job({LAKE_QUERY_BYTES: (meta["bytes_read"], BYTES)}, {ENGINE_DIMENSION: engine})
    meta.update(engine=engine, planned_bytes=planned_bytes, partitions=len(files),
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
    return {**counts_of(columns, rows, len(funnel.steps)), "meta": meta}


def counts_of(columns: list, rows: list, steps: int) -> dict:
    named = dict(zip(columns, rows[0], strict=True)) if rows else {}
    return {ALL_VISITORS: int(named.get(ALL_VISITORS) or 0),
            "visitors": [int(named.get(f"reach_{k}") or 0) for k in range(1, steps + 1)]}

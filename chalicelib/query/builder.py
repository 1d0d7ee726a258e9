"""One query description -> one sqlglot expression tree, printed as DuckDB SQL and as Athena (Trino)
SQL. User input reaches the tree only as string literals (sqlglot quotes them for each dialect);
names of columns and functions come from the sql_* modules and the schema, never from the request.

This module puts the parts together: the scan (sql_scan.py), visit facts (sql_visits.py), goals
(sql_goals.py), filters (sql_filters.py), dimensions (sql_dimensions.py) and engagement
(sql_engagement.py) into the per-visit rows and the aggregate (build), or the raw rows (build_rows).
"""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import GOAL_DIMENSION, VISIT_DIMENSIONS, Query, default_order
from chalicelib.query.sql_counts import PARTS, counts_events_only, event_counts, event_rows, parts_needed
from chalicelib.query.sql_dimensions import dimension_expression, dimension_key, dimension_label
from chalicelib.query.sql_engagement import (
    ENGAGEMENT_PARTS,
    engagement_per_visit,
    engagement_totals,
    wants_engagement,
)
from chalicelib.query.sql_filters import filter_dimensions, filter_expression
from chalicelib.query.sql_goals import (
    REVENUE_COLUMNS,
    REVENUE_PARTS,
    goal_condition,
    goal_events_cte,
    revenue_per_visit,
    wants_revenue,
)
from chalicelib.query.sql_scan import DEFAULT_TABLE, PATH_COLUMN, Scan, events_cte, needed_columns, padded_dates
from chalicelib.query.sql_terms import col, count_if, is_page_view, string
from chalicelib.query.sql_visit_parts import counted_from_parts, counts_from_parts, visits_from_parts
from chalicelib.query.sql_visits import in_range, visit_events_cte, visits_cte
from chalicelib.sessions.model import ENGAGEMENT_EVENT

# What other code imports from here (the runner, export, funnel_sql, tests): the builder's names.
__all__ = ["DEFAULT_TABLE", "DUCKDB", "ENGAGEMENT_PARTS", "PARTS", "PATH_COLUMN", "REVENUE_COLUMNS", "REVENUE_PARTS",
           "TOTAL_VISITORS", "TRINO", "Scan", "build", "build_rows", "dimension_expression", "filter_expression",
           "goal_condition", "padded_dates", "sql", "wants_engagement", "wants_revenue"]

DUCKDB, TRINO = "duckdb", "trino"
TOTAL_VISITORS = "total_visitors"  # Query.with_total: the visitors of all groups, on every row


def _visit_level(query: Query) -> bool:
    """Every dimension and filter is a fact of the visit: the answer needs no event-level join."""
    return all(d in VISIT_DIMENSIONS for d in list(query.dimensions) + filter_dimensions(query.filter))


def _per_visit(query: Query, facts: list[str]) -> tuple[exp.Select, list[tuple[str, exp.Expression]]]:
    """One row per visit and combination of dimension values (their keys k0, k1...), and the CTEs it reads."""
    dims = [exp.alias_(dimension_key(d, query), f"k{i}") for i, d in enumerate(query.dimensions)]
    parts = parts_needed(query)
    if _visit_level(query):
        per_visit = exp.select(*dims, *[col(c) for c in ("session_id", "visitor_id", "pageviews", "events",
                                                         "bounce", "duration_ms", "visit_pageviews")])
        per_visit = per_visit.from_("visits").where(
            exp.EQ(this=col("in_range"), expression=exp.Literal.number(1)), copy=False)
        if query.filter is not None:
            per_visit = per_visit.where(filter_expression(query.filter, query), copy=False)
        return per_visit, [("visits", visits_cte(query, facts, parts))]
    by_goal = GOAL_DIMENSION in query.dimensions
    per_visit = (exp.select(*dims, col("session_id"), exp.alias_(exp.Min(this=col("visitor_id")), "visitor_id"),
                            exp.alias_(count_if(is_page_view()), "pageviews"),
                            exp.alias_(count_if(exp.NEQ(this=col("event_type"), expression=string(ENGAGEMENT_EVENT))),
                                       "events"),
                            *[exp.alias_(exp.Min(this=col(c)), c) for c in ("bounce", "duration_ms",
                                                                            "visit_pageviews")],
                            *revenue_per_visit(query),
                            *(engagement_per_visit() if wants_engagement(query) else []))
                 .from_("goal_events" if by_goal else "visit_events"))
    if query.filter is not None:
        per_visit = per_visit.where(filter_expression(query.filter, query), copy=False)
    per_visit = per_visit.group_by(*[dimension_key(d, query) for d in query.dimensions], col("session_id"),
                                   copy=False)
    ctes = [("visits", visits_cte(query, facts, parts)), ("visit_events", visit_events_cte(query, facts))]
    if by_goal:
        ctes.append(("goal_events", goal_events_cte(query)))
    return per_visit, ctes


def _order_expression(name: str, query: Query) -> exp.Expression:
    if name in query.dimensions:
        return exp.column(f"d{query.dimensions.index(name)}")

    def ratio(numerator: str, denominator: str) -> exp.Expression:
        return exp.Div(this=exp.cast(col(numerator), exp.DataType.build("DOUBLE")),
                       expression=exp.func("NULLIF", col(denominator), exp.Literal.number(0)))

    revenue = wants_revenue(query)
    return {"views_per_visit": lambda: ratio("visit_pageviews", "visits"),
            "bounce_rate": lambda: ratio("bounces", "visits"),
            "visit_duration": lambda: ratio("duration_ms", "visits"),
            # one divisor for every group: by visitors (group_conversion_rate too: its divisors differ
            # per group and come from a second query, so the engine orders by the converted visitors)
            "conversion_rate": lambda: col("visitors"), "group_conversion_rate": lambda: col("visitors"),
            "time_on_page": lambda: ratio("engaged_ms_sum", "engaged_visits"),
            "scroll_depth": lambda: ratio("scroll_sum", "scroll_visits"),
            "total_revenue": lambda: col("revenue_sum") if revenue else col("visitors"),
            "average_revenue": lambda: (exp.Div(this=col("revenue_sum"), expression=exp.func(
                "NULLIF", col("revenue_count"), exp.Literal.number(0))) if revenue else col("visitors")),
            }.get(name, lambda: col(name))()


def _visit_parts(query: Query) -> list[exp.Expression]:
    """The PARTS over `per_visit` rows (one per visit and group): those the metrics need, 0 for the rest."""
    parts, zero = parts_needed(query), exp.Literal.number(0)

    def total(column: str) -> exp.Expression:
        return exp.Coalesce(this=exp.Sum(this=col(column)), expressions=[zero.copy()])

    made = {"visitors": lambda: exp.Count(this=exp.Distinct(expressions=[col("visitor_id")])),
            "visits": lambda: exp.Count(this=exp.Star()), "bounces": lambda: total("bounce")}
    return [exp.alias_(made.get(p, lambda p=p: total(p))() if p in parts else zero.copy(), p) for p in PARTS]


def build(query: Query, scan: Scan, table: str = DEFAULT_TABLE) -> exp.Expression:
    """The aggregate query: one row per combination of dimension values, with the integer PARTS. Queries
    that only count events by event facts skip the visits (sql_counts.py); the others group by visit."""
    columns, facts = needed_columns(query)
    by_event = counts_events_only(query)
    if by_event and scan.parts_dates:  # counts by day from visit parts (sql_visit_parts.answers)
        rows, ctes, parts = counted_from_parts(query), [], counts_from_parts(query)
    elif by_event:
        rows, ctes, parts = event_rows(query), [], event_counts(query)
    else:
        rows, ctes = _per_visit(query, facts)
        if scan.parts_dates:  # only visit-level queries without facts are given parts (sql_visit_parts.answers)
            ctes = [("visits", visits_from_parts(query))]
        parts = [*_visit_parts(query),
                 *([exp.alias_(exp.Sum(this=col(n)), n) for n in REVENUE_PARTS] if wants_revenue(query) else []),
                 *(engagement_totals() if wants_engagement(query) else [])]
    source = "counted" if by_event else "per_visit"
    keys = [exp.column(f"k{i}") for i in range(len(query.dimensions))]
    # grouped by the keys, answered as the labels (a time bucket's text made once per group)
    labels = [exp.alias_(dimension_label(d, keys[i].copy()), f"d{i}") for i, d in enumerate(query.dimensions)]
    outer = exp.select(*labels, *parts).from_(source)
    if query.with_total:  # every group's visitors together: a visitor in two groups counts once
        outer = outer.select(exp.alias_(exp.Max(this=col(TOTAL_VISITORS, "total")), TOTAL_VISITORS), copy=False)
        outer = outer.join("total", join_type="CROSS", copy=False)
    if keys:
        # Ordered outside the grouping: there a name such as engaged_ms_sum is only the group's total; inside it
        # the engine would read it as the per-visit column of the same name (not grouped: an error).
        order = [exp.Ordered(this=_order_expression(name, query), desc=direction == "desc", nulls_first=False)
                 for name, direction in default_order(query)]
        grouped = outer.group_by(*keys, copy=False).subquery("grouped")
        outer = exp.select("*").from_(grouped).order_by(*order, copy=False)
        outer = outer.limit(query.limit, copy=False).offset(query.offset, copy=False)
    outer = outer.with_("ev", as_=events_cte(query, scan, table, columns), copy=False)
    for name, cte in ctes:
        outer = outer.with_(name, as_=cte, copy=False)
    outer = outer.with_(source, as_=rows, copy=False)
    if query.with_total:
        total = exp.select(exp.alias_(exp.Count(this=exp.Distinct(expressions=[col("visitor_id")])),
                                      TOTAL_VISITORS)).from_(source)
        outer = outer.with_("total", as_=total, copy=False)
    return outer


def build_rows(query: Query, scan: Scan, table: str = DEFAULT_TABLE, columns: tuple[str, ...] = ()) -> exp.Expression:
    """The raw events of the range (export), one per event_id, ordered by time."""
    from chalicelib.schema.lake import COLUMN_NAMES

    chosen = list(columns or COLUMN_NAMES)
    pad = exp.select(*[col(c) for c in chosen]).from_("ev").where(in_range(query))
    ordered = pad.order_by(col("time"), col("event_id"))
    return ordered.with_("ev", as_=events_cte(query, scan, table, chosen), copy=False)


def sql(tree: exp.Expression, dialect: str) -> str:
    return tree.sql(dialect=dialect)

"""Which integer parts a query's metrics need, and the lake query without visits for queries whose every
part is a count of events (visitors, visits, page views, events) grouped and filtered by event facts:
the same answer without grouping by visit and joining the visits back onto each event."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import GOAL_DIMENSION, VISIT_DIMENSIONS, Query
from chalicelib.query.sql_dimensions import dimension_key
from chalicelib.query.sql_filters import filter_dimensions, filter_expression
from chalicelib.query.sql_terms import col, count_if, is_page_view, string
from chalicelib.query.sql_visits import in_range
from chalicelib.sessions.model import ENGAGEMENT_EVENT

# Integer parts of every metric; the runner makes the metrics from them (one rounding, in Python).
PARTS = ("visitors", "visits", "pageviews", "events", "bounces", "duration_ms", "visit_pageviews")
_METRIC_PARTS = {"visitors": ("visitors",), "visits": ("visits",), "pageviews": ("pageviews",),
                 "events": ("events",), "views_per_visit": ("visit_pageviews", "visits"),
                 "bounce_rate": ("bounces", "visits"), "visit_duration": ("duration_ms", "visits")}
EVENT_COUNTS = frozenset({"visitors", "visits", "pageviews", "events"})


def parts_needed(query: Query) -> frozenset[str]:
    """The parts the query's metrics are made of (order_by names only metrics of the query); a part left
    out is answered as 0 and no metric asked reads it. Goal and engagement metrics: every part."""
    if any(m not in _METRIC_PARTS for m in query.metrics):
        return frozenset(PARTS)
    return frozenset(p for m in query.metrics for p in _METRIC_PARTS[m])


def counts_events_only(query: Query) -> bool:
    """Every part is a count of the range's events and no dimension or filter is a fact of the visit (a
    visit:* value is its first event's, not each event's) or the goal dimension (goal_events rows)."""
    used = list(query.dimensions) + filter_dimensions(query.filter)
    return parts_needed(query) <= EVENT_COUNTS and not any(d in VISIT_DIMENSIONS or d == GOAL_DIMENSION
                                                           for d in used)


def event_rows(query: Query) -> exp.Select:
    """The `counted` CTE: each event of the range the filter keeps, with its group's keys (k0, k1...).
    A visit's events all carry its visitor (session_id is a hash of site, visitor_id and its key), so
    the distinct visitors of a group's events are those of its visits."""
    keys = [exp.alias_(dimension_key(d, query), f"k{i}") for i, d in enumerate(query.dimensions)]
    rows = exp.select(*keys, col("session_id"), col("visitor_id"), col("event_type")).from_("ev")
    rows = rows.where(in_range(query), copy=False)
    if query.filter is not None:
        rows = rows.where(filter_expression(query.filter, query), copy=False)
    return rows


def event_counts(query: Query) -> list[exp.Expression]:
    """The PARTS over `counted` rows: the counts the query needs, 0 for the rest."""
    parts = parts_needed(query)
    zero = exp.Literal.number(0)
    made = {
        "visitors": lambda: exp.Count(this=exp.Distinct(expressions=[col("visitor_id")])),
        "visits": lambda: exp.Count(this=exp.Distinct(expressions=[col("session_id")])),
        "pageviews": lambda: exp.Coalesce(this=count_if(is_page_view()), expressions=[zero.copy()]),
        "events": lambda: exp.Coalesce(this=count_if(exp.NEQ(this=col("event_type"),
                                                             expression=string(ENGAGEMENT_EVENT))),
                                       expressions=[zero.copy()]),
    }
    return [exp.alias_(made[p]() if p in parts else zero.copy(), p) for p in PARTS]

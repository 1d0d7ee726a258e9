"""time_on_page and scroll_depth in the lake query: per visit its engaged time and deepest scroll,
then Plausible's totals over them (ENGAGEMENT_PARTS, made into the metrics by the runner)."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import ENGAGEMENT_METRICS, Query
from chalicelib.query.sql_terms import col, string
from chalicelib.sessions.model import ENGAGEMENT_EVENT

# With time_on_page / scroll_depth: Plausible's totals over engagement events (scroll beyond 100 left out).
ENGAGEMENT_PARTS = ("engaged_ms_sum", "engaged_visits", "scroll_sum", "scroll_visits")


def wants_engagement(query: Query) -> bool:
    return any(m in ENGAGEMENT_METRICS for m in query.metrics)


def engagement_per_visit() -> list[exp.Expression]:
    """Per visit and group: its engaged time, whether it has an engagement event, and its deepest
    scroll (Plausible: max scroll_depth per session, of engagement events up to 100)."""
    is_engagement = exp.EQ(this=col("event_type"), expression=string(ENGAGEMENT_EVENT))
    scroll = exp.If(this=exp.and_(is_engagement.copy(), exp.LTE(this=col("scroll_pct"),
                                                                 expression=exp.Literal.number(100))),
                    true=col("scroll_pct"))
    return [exp.alias_(exp.Sum(this=exp.If(this=is_engagement, true=col("engaged_ms"))), "engaged_ms_sum"),
            exp.alias_(exp.Max(this=exp.If(this=is_engagement.copy(), true=exp.Literal.number(1),
                                           false=exp.Literal.number(0))), "engaged_visits"),
            exp.alias_(exp.Max(this=scroll), "scroll_max")]


def engagement_totals() -> list[exp.Expression]:
    zero = exp.Literal.number(0)
    return [exp.alias_(exp.Coalesce(this=exp.Sum(this=col("engaged_ms_sum")), expressions=[zero]), "engaged_ms_sum"),
            exp.alias_(exp.Coalesce(this=exp.Sum(this=col("engaged_visits")), expressions=[zero.copy()]),
                       "engaged_visits"),
            exp.alias_(exp.Coalesce(this=exp.Sum(this=col("scroll_max")), expressions=[zero.copy()]), "scroll_sum"),
            exp.alias_(exp.Count(this=col("scroll_max")), "scroll_visits")]

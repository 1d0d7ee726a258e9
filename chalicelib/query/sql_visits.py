"""Visit facts in the lake query: the `visits` CTE (one row per visit) and `visit_events` (each
event of the range beside its visit's facts).

Visit facts are derived from the events the way sessions/model.py derives them, so that they agree
with GET /sessions: entry/exit page = first/last page view by time, duration = last event time -
first event time, bounce = exactly one page view and no engagement (is_engagement), acquisition and
device facts = those of the visit's first event. A visit may start up to MAX_SESSION_MS before the
range or end after it, so its facts are read from a window padded by that much (sql_scan.py).
"""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import Query
from chalicelib.query.sql_terms import col, count_if, is_page_view, string, timestamp
from chalicelib.sessions.model import ENGAGED_AFTER_MS, ENGAGEMENT_EVENT, PAGE_VIEW


def in_range(query: Query, table: str | None = None) -> exp.Expression:
    return exp.and_(exp.GTE(this=col("time", table), expression=timestamp(query.start_ms)),
                    exp.LT(this=col("time", table), expression=timestamp(query.end_ms)))


def engaging() -> exp.Expression:
    # sessions/model.py is_engagement: any non-page-view event, but an `engagement` only when its
    # numeric engaged_ms property reaches 10 s. The engaged_ms column is set only for a numeric
    # property, but rounded: at exactly 10,000 the property's text decides (9999.6 does not engage).
    as_sent = exp.TryCast(this=exp.Bracket(this=col("properties"), expressions=[string("engaged_ms")], safe=True),
                          to=exp.DataType.build("DOUBLE"))
    reached = exp.or_(
        exp.GT(this=col("engaged_ms"), expression=exp.Literal.number(ENGAGED_AFTER_MS)),
        exp.and_(exp.EQ(this=col("engaged_ms"), expression=exp.Literal.number(ENGAGED_AFTER_MS)),
                 exp.GTE(this=as_sent, expression=exp.Literal.number(ENGAGED_AFTER_MS))))
    return exp.and_(
        exp.NEQ(this=col("event_type"), expression=string(PAGE_VIEW)),
        exp.paren(exp.or_(exp.NEQ(this=col("event_type"), expression=string(ENGAGEMENT_EVENT)),
                          exp.paren(reached))))


def _first_value(column: str) -> exp.Expression:
    """The value of the visit's first event (by time), NULL included: both engines' MIN_BY skip a
    NULL value, so NULL travels as '' (no enriched fact is an empty string)."""
    as_text = exp.Coalesce(this=col(column), expressions=[string("")])
    return exp.func("NULLIF", exp.ArgMin(this=as_text, expression=col("time")), string(""))


def visits_cte(query: Query, facts: list[str], parts: frozenset[str] | None = None) -> exp.Select:
    """One row per visit: its facts (as sessions/model.py derives them), its events in the range,
    and whether it has any there (only those are counted). Of the figures, only those of `parts`
    (builder PARTS; None: all) are worked out, the others are 0: a bounce needs engaged_ms and properties."""
    page_views = exp.Where(this=is_page_view())
    ranged = in_range(query)
    entry = exp.Filter(this=exp.ArgMin(this=col("page_path"), expression=col("time")), expression=page_views)
    exit_ = exp.Filter(this=exp.ArgMax(this=col("page_path"), expression=col("time")),
                       expression=page_views.copy())
    derived = {"entry_page": entry, "exit_page": exit_}
    visit_pageviews = count_if(is_page_view())
    engaged = exp.Max(this=exp.If(this=engaging(), true=exp.Literal.number(1), false=exp.Literal.number(0)))
    bounce = exp.If(this=exp.and_(exp.EQ(this=visit_pageviews.copy(), expression=exp.Literal.number(1)),
                                  exp.EQ(this=engaged.copy(), expression=exp.Literal.number(0))),
                    true=exp.Literal.number(1), false=exp.Literal.number(0))
    figures = {  # part -> (column, how)
        "visit_pageviews": ("visit_pageviews", visit_pageviews),
        "duration_ms": ("duration_ms", exp.DateDiff(this=exp.Max(this=col("time")),
                                                    expression=exp.Min(this=col("time")), unit=exp.var("MILLISECOND"))),
        "bounces": ("bounce", bounce),
        "pageviews": ("pageviews", count_if(exp.and_(ranged, is_page_view()))),
        "events": ("events", count_if(exp.and_(ranged.copy(), exp.NEQ(this=col("event_type"),
                                                                      expression=string(ENGAGEMENT_EVENT))))),
    }

    def figure(part: str) -> exp.Expression:
        column, how = figures[part]
        return exp.alias_(how if parts is None or part in parts else exp.Literal.number(0), column)

    return exp.select(
        col("session_id"),
        exp.alias_(exp.Min(this=col("visitor_id")), "visitor_id"),
        figure("visit_pageviews"), figure("duration_ms"), figure("bounces"),
        *[exp.alias_(derived.get(fact) or _first_value(fact), "visit_" + fact, quoted=True) for fact in facts],
        figure("pageviews"), figure("events"),
        exp.alias_(exp.Max(this=exp.If(this=ranged.copy(), true=exp.Literal.number(1),
                                       false=exp.Literal.number(0))), "in_range"),
    ).from_("ev").group_by(col("session_id"))


def visit_events_cte(query: Query, facts: list[str]) -> exp.Select:
    """Each event of the range beside its visit's facts (for event-level dimensions and filters)."""
    selected = [exp.Column(this=exp.Star(), table=exp.to_identifier("e")),
                *[col(name, "v") for name in ("visit_pageviews", "duration_ms", "bounce")],
                *[col("visit_" + fact, "v") for fact in facts]]
    return (exp.select(*selected).from_("ev AS e")
            .join("visits AS v", on=exp.EQ(this=col("session_id", "e"), expression=col("session_id", "v")))
            .where(in_range(query, "e"), copy=False))

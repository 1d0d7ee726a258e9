"""A dimension of the query description as an expression over `visit_events` (events joined to their
visit): event columns, custom properties, the visit's first-event facts, the goal, time buckets (on
the site's local wall clock, time:minute included)."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import EVENT_DIMENSIONS, GOAL_DIMENSION, PROPS_PREFIX, VISIT_DIMENSIONS, Query
from chalicelib.query.sql_terms import col, string, timestamp
from chalicelib.query.timezones import UTC, offsets
from chalicelib.sessions.model import MAX_SESSION_MS

_TIME_FORMATS = {"time:minute": ("MINUTE", "%Y-%m-%d %H:%M:00"), "time:hour": ("HOUR", "%Y-%m-%d %H:00:00"),
                 "time:day": ("DAY", "%Y-%m-%d"), "time:week": ("WEEK", "%Y-%m-%d"),
                 "time:month": ("MONTH", "%Y-%m-%d")}


def visit_column(dimension: str) -> str:
    return VISIT_DIMENSIONS[dimension]


def _shifted(seconds: int) -> exp.Expression:
    if seconds == 0:
        return col("time")
    interval = exp.Interval(this=exp.Literal.string(str(abs(seconds))), unit=exp.var("SECOND"))
    return (exp.Add if seconds > 0 else exp.Sub)(this=col("time"), expression=interval)


def local_time(query: Query | None) -> exp.Expression:
    """The event's time (a UTC timestamp) on the site's wall clock: `time` plus the zone's offset, as
    a CASE over the offset changes (DST) of the scanned window. Python's zoneinfo decides the offsets,
    as it decides the range's local midnights, so DuckDB and Athena bucket alike with no time zone
    support of their own (and a UTC site's SQL is unchanged)."""
    if query is None or query.timezone == UTC:
        return col("time")
    changes = offsets(query.timezone, query.start_ms - MAX_SESSION_MS, query.end_ms + MAX_SESSION_MS)
    if len(changes) == 1:
        return _shifted(changes[0][1])
    ifs = [exp.If(this=exp.LT(this=col("time"), expression=timestamp(following_ms)), true=_shifted(seconds))
           for (_, seconds), (following_ms, _) in zip(changes, changes[1:], strict=False)]
    return exp.Case(ifs=ifs, default=_shifted(changes[-1][1]))


def dimension_expression(dimension: str, query: Query | None = None) -> exp.Expression:
    """The dimension's value of a row (as answered: time buckets as text)."""
    return dimension_label(dimension, dimension_key(dimension, query))


def dimension_key(dimension: str, query: Query | None = None) -> exp.Expression:
    """What a query groups by: the value, but a time bucket as its truncated timestamp, so that the text
    is made once per group (dimension_label) instead of once per event (half a 30-day chart's time)."""
    if dimension in EVENT_DIMENSIONS:
        return col(EVENT_DIMENSIONS[dimension])
    if dimension.startswith(PROPS_PREFIX):
        return exp.Bracket(this=col("properties"), expressions=[string(dimension[len(PROPS_PREFIX):])], safe=True)
    if dimension in VISIT_DIMENSIONS:
        return col("visit_" + visit_column(dimension))
    if dimension == GOAL_DIMENSION:
        return col("goal")
    unit, _ = _TIME_FORMATS[dimension]
    return exp.TimestampTrunc(this=local_time(query), unit=exp.var(unit))


def dimension_label(dimension: str, key: exp.Expression) -> exp.Expression:
    """The answered value of a group from its key (dimension_key): a time bucket's text, else the key."""
    if dimension not in _TIME_FORMATS:
        return key
    return exp.TimeToStr(this=key, format=string(_TIME_FORMATS[dimension][1]))

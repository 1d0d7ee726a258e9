"""A dimension of the query description as an expression over `visit_events` (events joined to their
visit): event columns, custom properties, the visit's first-event facts, the goal, time buckets."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import EVENT_DIMENSIONS, GOAL_DIMENSION, PROPS_PREFIX, VISIT_DIMENSIONS
from chalicelib.query.sql_terms import col, string

_TIME_FORMATS = {"time:hour": ("HOUR", "%Y-%m-%d %H:00:00"), "time:day": ("DAY", "%Y-%m-%d"),
                 "time:week": ("WEEK", "%Y-%m-%d"), "time:month": ("MONTH", "%Y-%m-%d")}


def visit_column(dimension: str) -> str:
    return VISIT_DIMENSIONS[dimension]


def dimension_expression(dimension: str) -> exp.Expression:
    if dimension in EVENT_DIMENSIONS:
        return col(EVENT_DIMENSIONS[dimension])
    if dimension.startswith(PROPS_PREFIX):
        return exp.Bracket(this=col("properties"), expressions=[string(dimension[len(PROPS_PREFIX):])], safe=True)
    if dimension in VISIT_DIMENSIONS:
        return col("visit_" + visit_column(dimension))
    if dimension == GOAL_DIMENSION:
        return col("goal")
    unit, text_format = _TIME_FORMATS[dimension]
    return exp.TimeToStr(this=exp.TimestampTrunc(this=col("time"), unit=exp.var(unit)), format=string(text_format))

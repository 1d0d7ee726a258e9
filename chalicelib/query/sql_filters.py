"""The query's filter tree as one boolean expression over `visit_events`: conditions on dimensions
(two-valued: a missing value matches no value) and on goals, joined by and/or/not."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.query.description import GOAL_DIMENSION, Condition, Filter, Query, goals_named
from chalicelib.query.sql_dimensions import dimension_expression
from chalicelib.query.sql_goals import goal_condition
from chalicelib.query.sql_terms import any_of, col, string


def filter_dimensions(node: Filter | None) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node.dimension]
    return [d for child in node.children for d in filter_dimensions(child)]


def _goal_filter(node: Condition, query: Query) -> exp.Expression:
    """The goals the condition selects by name: by event:goal, the row's goal is (not) one of them;
    else the event converts (none of) them. Selecting no goal is false (its `_not` true)."""
    names = goals_named(node, query.goals)
    if not names:
        test: exp.Expression = exp.false()
    elif GOAL_DIMENSION in query.dimensions:
        test = exp.In(this=col("goal"), expressions=[string(v) for v in names])
    else:
        test = any_of([goal_condition(query.goal(name)) for name in names])
    return exp.not_(exp.paren(test)) if node.operator.endswith("_not") else test


def _condition(node: Condition, query: Query) -> exp.Expression:
    if node.dimension == GOAL_DIMENSION:
        return _goal_filter(node, query)
    value = dimension_expression(node.dimension)
    target = value if node.case_sensitive else exp.Lower(this=value)

    def literal(v: str) -> exp.Expression:
        return string(v) if node.case_sensitive else exp.Lower(this=string(v))

    positive = node.operator.removesuffix("_not")
    if positive == "is":
        test: exp.Expression = exp.In(this=target, expressions=[literal(v) for v in node.values])
    elif positive == "contains":
        test = any_of([exp.GT(this=exp.StrPosition(this=target, substr=literal(v)), expression=exp.Literal.number(0))
                       for v in node.values])
    else:  # matches: a search (not anchored) in both engines; (?i) works in RE2 and Java regexes
        test = any_of([exp.RegexpLike(this=value, expression=string(v if node.case_sensitive else "(?i)" + v))
                       for v in node.values])
    # Two-valued logic: a missing value is no value (false), so "is_not" and "not" match it.
    known = exp.Coalesce(this=test, expressions=[exp.false()])
    return exp.not_(known) if node.operator.endswith("_not") else known


def filter_expression(node: Filter, query: Query) -> exp.Expression:
    if isinstance(node, Condition):
        return _condition(node, query)
    parts = [filter_expression(child, query) for child in node.children]
    if node.operator == "not":
        return exp.not_(exp.paren(parts[0]))
    joined = exp.and_(*parts) if node.operator == "and" else exp.or_(*parts)
    return exp.paren(joined, copy=False)

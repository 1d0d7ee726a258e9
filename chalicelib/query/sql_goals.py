"""Goals in the lake query: which events convert a goal, each event once per goal it converts (by
event:goal), and which events' revenue counts toward the revenue metrics."""

from __future__ import annotations

from sqlglot import exp

from chalicelib.core.goals import Goal, page_regex
from chalicelib.query.description import GOAL_DIMENSION, REVENUE_METRICS, Query, revenue_goals
from chalicelib.query.sql_terms import any_of, col, is_page_view, string

# With revenue metrics: the DECIMAL sum of the goal's revenue in its currency and how many events had it.
REVENUE_PARTS = ("revenue_sum", "revenue_count")
REVENUE_COLUMNS = ("revenue_amount", "revenue_currency")


def wants_revenue(query: Query) -> bool:
    """Revenue is summed when asked for and there is a currency to sum in: per goal (by event:goal),
    or the one currency of the revenue goals the filter names."""
    if not any(m in REVENUE_METRICS for m in query.metrics):
        return False
    return GOAL_DIMENSION in query.dimensions or revenue_goals(query)[1] is not None


def goal_condition(goal: Goal) -> exp.Expression:
    """An event is a conversion of the goal: its name (and properties), or a page view of a page the
    pattern matches. Values are literals; the page pattern an escaped, anchored regular expression."""
    if goal.page is not None:
        return exp.paren(exp.and_(is_page_view(), exp.Coalesce(
            this=exp.RegexpLike(this=col("page_path"), expression=string(page_regex(goal.page))),
            expressions=[exp.false()])), copy=False)
    tests = [exp.EQ(this=col("event_type"), expression=string(goal.event))]
    tests += [exp.Coalesce(this=exp.EQ(this=exp.Bracket(this=col("properties"), expressions=[string(key)], safe=True),
                                       expression=string(value)), expressions=[exp.false()])
              for key, value in goal.props]
    return exp.paren(exp.and_(*tests), copy=False)


def goal_events_cte(query: Query) -> exp.Expression:
    """Each event of visit_events once per goal it converts, beside the goal's name and currency."""
    selects = []
    for goal in query.goals:
        currency = string(goal.currency) if goal.currency else exp.cast(exp.null(), exp.DataType.build("VARCHAR"))
        selects.append(exp.select(exp.Star(), exp.alias_(string(goal.name), "goal", quoted=True),
                                  exp.alias_(currency, "goal_currency", quoted=True))
                       .from_("visit_events").where(goal_condition(goal), copy=False))
    tree = selects[0]
    for select in selects[1:]:
        tree = exp.union(tree, select, distinct=False)
    return tree


def _revenue_test(query: Query) -> exp.Expression:
    """The events whose revenue counts: in the goal's currency (other currencies are left out, never
    converted), of a revenue goal (the row's, by event:goal, else one the filter names)."""
    if GOAL_DIMENSION in query.dimensions:
        return exp.EQ(this=col("revenue_currency"), expression=col("goal_currency"))
    goals, currency = revenue_goals(query)
    return exp.and_(exp.EQ(this=col("revenue_currency"), expression=string(currency)),
                    any_of([goal_condition(g) for g in goals]))


def revenue_per_visit(query: Query) -> list[exp.Expression]:
    """Per visit and group (with revenue metrics): the REVENUE_PARTS of its events whose revenue counts."""
    if not wants_revenue(query):
        return []
    amount = exp.If(this=_revenue_test(query), true=col("revenue_amount"))
    return [exp.alias_(exp.Sum(this=amount), "revenue_sum"),
            exp.alias_(exp.Count(this=amount.copy()), "revenue_count")]

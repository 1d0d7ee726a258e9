"""One query description -> one sqlglot expression tree, printed as DuckDB SQL and as Athena (Trino)
SQL. User input reaches the tree only as string literals (sqlglot quotes them for each dialect);
names of columns and functions come from this module and the schema, never from the request.

Visit facts are derived from the events the way sessions/model.py derives them, so that they agree
with GET /sessions: entry/exit page = first/last page view by time, duration = last event time -
first event time, bounce = exactly one page view and no engagement (is_engagement), acquisition and
device facts = those of the visit's first event. A visit may start up to MAX_SESSION_MS before the
range or end after it, so its facts are read from a window padded by that much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlglot import exp

from chalicelib.core.goals import Goal, page_regex
from chalicelib.query.description import (
    ENGAGEMENT_METRICS,
    EVENT_DIMENSIONS,
    GOAL_DIMENSION,
    PROPS_PREFIX,
    REVENUE_METRICS,
    VISIT_DIMENSIONS,
    Condition,
    Filter,
    Query,
    default_order,
    goals_named,
    revenue_goals,
)
from chalicelib.sessions.model import ENGAGED_AFTER_MS, ENGAGEMENT_EVENT, MAX_SESSION_MS, PAGE_VIEW

DUCKDB, TRINO = "duckdb", "trino"
DEFAULT_TABLE = "events"  # the Glue table (terraform) and the DuckDB view over the local cache
PATH_COLUMN = "$path"  # Athena's pseudo-column: the object a row was read from
# Integer parts of every metric; the runner makes the metrics from them (one rounding, in Python).
PARTS = ("visitors", "visits", "pageviews", "events", "bounces", "duration_ms", "visit_pageviews")
# With revenue metrics: the DECIMAL sum of the goal's revenue in its currency and how many events had it.
REVENUE_PARTS = ("revenue_sum", "revenue_count")
TOTAL_VISITORS = "total_visitors"  # Query.with_total: the visitors of all groups, on every row
REVENUE_COLUMNS = ("revenue_amount", "revenue_currency")
# With time_on_page / scroll_depth: Plausible's totals over engagement events (scroll beyond 100 left out).
ENGAGEMENT_PARTS = ("engaged_ms_sum", "engaged_visits", "scroll_sum", "scroll_visits")
_BASE_COLUMNS = ("event_id", "received_time", "event_type", "time", "session_id", "visitor_id", "page_path",
                 "engaged_ms", "properties")
_TIME_FORMATS = {"time:hour": ("HOUR", "%Y-%m-%d %H:00:00"), "time:day": ("DAY", "%Y-%m-%d"),
                 "time:week": ("WEEK", "%Y-%m-%d"), "time:month": ("MONTH", "%Y-%m-%d")}


@dataclass(frozen=True)
class Scan:
    """Which rows of the table the query reads: one site's partitions and, for Athena (which reads
    every object of a partition it finds), only the live objects of the plan, named by `$path`."""

    site: str
    first_date: str
    last_date: str
    live_paths: dict[str, tuple[str, ...]] | None = None  # date -> the paths to read, for such dates
    # Dates whose live objects may hold copies of an event (more than one object); None: any date.
    # One object never does (compaction keeps one row per event_id), so only these pay for it.
    dedupe_dates: tuple[str, ...] | None = None


def padded_dates(query: Query) -> tuple[str, str]:
    """The partitions a query reads: its dates and the day either side (visits crossing the range)."""
    first = query.first_date - timedelta(days=1)
    last = query.last_date + timedelta(days=1)
    return first.isoformat(), last.isoformat()


def _timestamp(ms: int) -> exp.Expression:
    text = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP"))


def _str(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.If(this=condition, true=exp.Literal.number(1), false=exp.Literal.number(0)))


def _is_page_view(table: str | None = None) -> exp.Expression:
    return exp.EQ(this=_col("event_type", table), expression=_str(PAGE_VIEW))


# --- columns each part of the query needs --------------------------------------------------------

def _visit_column(dimension: str) -> str:
    return VISIT_DIMENSIONS[dimension]


def _filter_dimensions(node: Filter | None) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node.dimension]
    return [d for child in node.children for d in _filter_dimensions(child)]


def _needed(query: Query) -> tuple[list[str], list[str]]:
    """(event columns to read, first-event visit facts to carry), in a stable order."""
    used = list(query.dimensions) + _filter_dimensions(query.filter)
    columns = list(_BASE_COLUMNS)
    facts: list[str] = []
    for dimension in used:
        if dimension in EVENT_DIMENSIONS:
            column = EVENT_DIMENSIONS[dimension]
        elif dimension.startswith(PROPS_PREFIX):
            column = "properties"
        elif dimension in VISIT_DIMENSIONS:
            column = _visit_column(dimension)
            if column not in facts:
                facts.append(column)
            if column in ("entry_page", "exit_page"):  # derived from page_path
                continue
        else:
            continue
        if column not in columns:
            columns.append(column)
    if wants_revenue(query):
        columns.extend(REVENUE_COLUMNS)
    if wants_engagement(query):
        columns.append("scroll_pct")
    return columns, facts


def wants_engagement(query: Query) -> bool:
    return any(m in ENGAGEMENT_METRICS for m in query.metrics)


def _engagement_per_visit() -> list[exp.Expression]:
    """Per visit and group: its engaged time, whether it has an engagement event, and its deepest
    scroll (Plausible: max scroll_depth per session, of engagement events up to 100)."""
    is_engagement = exp.EQ(this=_col("event_type"), expression=_str(ENGAGEMENT_EVENT))
    scroll = exp.If(this=exp.and_(is_engagement.copy(), exp.LTE(this=_col("scroll_pct"),
                                                                 expression=exp.Literal.number(100))),
                    true=_col("scroll_pct"))
    return [exp.alias_(exp.Sum(this=exp.If(this=is_engagement, true=_col("engaged_ms"))), "engaged_ms_sum"),
            exp.alias_(exp.Max(this=exp.If(this=is_engagement.copy(), true=exp.Literal.number(1),
                                           false=exp.Literal.number(0))), "engaged_visits"),
            exp.alias_(exp.Max(this=scroll), "scroll_max")]


def _engagement_totals() -> list[exp.Expression]:
    zero = exp.Literal.number(0)
    return [exp.alias_(exp.Coalesce(this=exp.Sum(this=_col("engaged_ms_sum")), expressions=[zero]), "engaged_ms_sum"),
            exp.alias_(exp.Coalesce(this=exp.Sum(this=_col("engaged_visits")), expressions=[zero.copy()]),
                       "engaged_visits"),
            exp.alias_(exp.Coalesce(this=exp.Sum(this=_col("scroll_max")), expressions=[zero.copy()]), "scroll_sum"),
            exp.alias_(exp.Count(this=_col("scroll_max")), "scroll_visits")]


def wants_revenue(query: Query) -> bool:
    """Revenue is summed when asked for and there is a currency to sum in: per goal (by event:goal),
    or the one currency of the revenue goals the filter names."""
    if not any(m in REVENUE_METRICS for m in query.metrics):
        return False
    return GOAL_DIMENSION in query.dimensions or revenue_goals(query)[1] is not None


# --- goals ---------------------------------------------------------------------------------------

def goal_condition(goal: Goal) -> exp.Expression:
    """An event is a conversion of the goal: its name (and properties), or a page view of a page the
    pattern matches. Values are literals; the page pattern an escaped, anchored regular expression."""
    if goal.page is not None:
        return exp.paren(exp.and_(_is_page_view(), exp.Coalesce(
            this=exp.RegexpLike(this=_col("page_path"), expression=_str(page_regex(goal.page))),
            expressions=[exp.false()])), copy=False)
    tests = [exp.EQ(this=_col("event_type"), expression=_str(goal.event))]
    tests += [exp.Coalesce(this=exp.EQ(this=exp.Bracket(this=_col("properties"), expressions=[_str(key)], safe=True),
                                       expression=_str(value)), expressions=[exp.false()])
              for key, value in goal.props]
    return exp.paren(exp.and_(*tests), copy=False)


def _goal_events_cte(query: Query) -> exp.Expression:
    """Each event of visit_events once per goal it converts, beside the goal's name and currency."""
    selects = []
    for goal in query.goals:
        currency = _str(goal.currency) if goal.currency else exp.cast(exp.null(), exp.DataType.build("VARCHAR"))
        selects.append(exp.select(exp.Star(), exp.alias_(_str(goal.name), "goal", quoted=True),
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
        return exp.EQ(this=_col("revenue_currency"), expression=_col("goal_currency"))
    goals, currency = revenue_goals(query)
    return exp.and_(exp.EQ(this=_col("revenue_currency"), expression=_str(currency)),
                    _any([goal_condition(g) for g in goals]))


# --- expressions over `visit_events` (events joined to their visit) ----------------------------

def dimension_expression(dimension: str) -> exp.Expression:
    if dimension in EVENT_DIMENSIONS:
        return _col(EVENT_DIMENSIONS[dimension])
    if dimension.startswith(PROPS_PREFIX):
        return exp.Bracket(this=_col("properties"), expressions=[_str(dimension[len(PROPS_PREFIX):])], safe=True)
    if dimension in VISIT_DIMENSIONS:
        return _col("visit_" + _visit_column(dimension))
    if dimension == GOAL_DIMENSION:
        return _col("goal")
    unit, text_format = _TIME_FORMATS[dimension]
    return exp.TimeToStr(this=exp.TimestampTrunc(this=_col("time"), unit=exp.var(unit)), format=_str(text_format))


def _goal_filter(node: Condition, query: Query) -> exp.Expression:
    """The goals the condition selects by name: by event:goal, the row's goal is (not) one of them;
    else the event converts (none of) them. Selecting no goal is false (its `_not` true)."""
    names = goals_named(node, query.goals)
    if not names:
        test: exp.Expression = exp.false()
    elif GOAL_DIMENSION in query.dimensions:
        test = exp.In(this=_col("goal"), expressions=[_str(v) for v in names])
    else:
        test = _any([goal_condition(query.goal(name)) for name in names])
    return exp.not_(exp.paren(test)) if node.operator.endswith("_not") else test


def _condition(node: Condition, query: Query) -> exp.Expression:
    if node.dimension == GOAL_DIMENSION:
        return _goal_filter(node, query)
    value = dimension_expression(node.dimension)
    target = value if node.case_sensitive else exp.Lower(this=value)

    def literal(v: str) -> exp.Expression:
        return _str(v) if node.case_sensitive else exp.Lower(this=_str(v))

    positive = node.operator.removesuffix("_not")
    if positive == "is":
        test: exp.Expression = exp.In(this=target, expressions=[literal(v) for v in node.values])
    elif positive == "contains":
        test = _any([exp.GT(this=exp.StrPosition(this=target, substr=literal(v)), expression=exp.Literal.number(0))
                     for v in node.values])
    else:  # matches: a search (not anchored) in both engines; (?i) works in RE2 and Java regexes
        test = _any([exp.RegexpLike(this=value, expression=_str(v if node.case_sensitive else "(?i)" + v))
                     for v in node.values])
    # Two-valued logic: a missing value is no value (false), so "is_not" and "not" match it.
    known = exp.Coalesce(this=test, expressions=[exp.false()])
    return exp.not_(known) if node.operator.endswith("_not") else known


def _any(tests: list[exp.Expression]) -> exp.Expression:
    return tests[0] if len(tests) == 1 else exp.paren(exp.or_(*tests), copy=False)


def filter_expression(node: Filter, query: Query) -> exp.Expression:
    if isinstance(node, Condition):
        return _condition(node, query)
    parts = [filter_expression(child, query) for child in node.children]
    if node.operator == "not":
        return exp.not_(exp.paren(parts[0]))
    joined = exp.and_(*parts) if node.operator == "and" else exp.or_(*parts)
    return exp.paren(joined, copy=False)


# --- the query ---------------------------------------------------------------------------------

def _scan_condition(scan: Scan, pad_start_ms: int, pad_end_ms: int) -> exp.Expression:
    condition = exp.and_(
        exp.EQ(this=_col("site"), expression=_str(scan.site)),
        exp.Between(this=_col("date"), low=_str(scan.first_date), high=_str(scan.last_date)),
        exp.GTE(this=_col("time"), expression=_timestamp(pad_start_ms)),
        exp.LT(this=_col("time"), expression=_timestamp(pad_end_ms)),
    )
    if scan.live_paths:
        dates = sorted(scan.live_paths)
        paths = [p for d in dates for p in scan.live_paths[d]]
        # The planned partitions: only their planned live objects (a partition empty then is read as it is).
        restriction = exp.or_(
            exp.not_(exp.In(this=_col("date"), expressions=[_str(d) for d in dates])),
            exp.In(this=_col(PATH_COLUMN), expressions=[_str(p) for p in paths]))
        condition = exp.and_(condition, exp.paren(restriction, copy=False))
    return condition


def _events_cte(query: Query, scan: Scan, table: str, columns: list[str]) -> exp.Expression:
    """The scanned events of the padded window, one row per event_id. Copies (a safety net: the
    writer avoids them) can only be in dates of several objects: only those are de-duplicated."""
    pad_start_ms, pad_end_ms = query.start_ms - MAX_SESSION_MS, query.end_ms + MAX_SESSION_MS

    def scan_of(extra: exp.Expression | None) -> exp.Select:
        condition = _scan_condition(scan, pad_start_ms, pad_end_ms)
        return (exp.select(*[_col(c) for c in columns]).from_(exp.to_table(table, quoted=True))
                .where(exp.and_(condition, extra) if extra is not None else condition, copy=False))

    if scan.dedupe_dates is not None and not scan.dedupe_dates:
        return scan_of(None)
    copies_possible = (exp.In(this=_col("date"), expressions=[_str(d) for d in scan.dedupe_dates])
                       if scan.dedupe_dates is not None else None)
    copy_number = exp.Window(this=exp.RowNumber(), partition_by=[_col("event_id")],
                             order=exp.Order(expressions=[exp.Ordered(this=_col("received_time")),
                                                          exp.Ordered(this=_col("session_id"))]))
    numbered = scan_of(copies_possible).select(exp.alias_(copy_number, "copy_number"), copy=False)
    deduped = exp.select(*[_col(c) for c in columns]).from_(numbered.subquery("numbered")).where(
        exp.EQ(this=_col("copy_number"), expression=exp.Literal.number(1)), copy=False)
    if copies_possible is None:
        return deduped
    return exp.union(scan_of(exp.not_(copies_possible.copy())), deduped, distinct=False)


def _engaging() -> exp.Expression:
    # sessions/model.py is_engagement: any non-page-view event, but an `engagement` only when its
    # numeric engaged_ms property reaches 10 s. The engaged_ms column is set only for a numeric
    # property, but rounded: at exactly 10,000 the property's text decides (9999.6 does not engage).
    as_sent = exp.TryCast(this=exp.Bracket(this=_col("properties"), expressions=[_str("engaged_ms")], safe=True),
                          to=exp.DataType.build("DOUBLE"))
    reached = exp.or_(
        exp.GT(this=_col("engaged_ms"), expression=exp.Literal.number(ENGAGED_AFTER_MS)),
        exp.and_(exp.EQ(this=_col("engaged_ms"), expression=exp.Literal.number(ENGAGED_AFTER_MS)),
                 exp.GTE(this=as_sent, expression=exp.Literal.number(ENGAGED_AFTER_MS))))
    return exp.and_(
        exp.NEQ(this=_col("event_type"), expression=_str(PAGE_VIEW)),
        exp.paren(exp.or_(exp.NEQ(this=_col("event_type"), expression=_str(ENGAGEMENT_EVENT)),
                          exp.paren(reached))))


def _in_range(query: Query, table: str | None = None) -> exp.Expression:
    return exp.and_(exp.GTE(this=_col("time", table), expression=_timestamp(query.start_ms)),
                    exp.LT(this=_col("time", table), expression=_timestamp(query.end_ms)))


def _first_value(column: str) -> exp.Expression:
    """The value of the visit's first event (by time), NULL included: both engines' MIN_BY skip a
    NULL value, so NULL travels as '' (no enriched fact is an empty string)."""
    as_text = exp.Coalesce(this=_col(column), expressions=[_str("")])
    return exp.func("NULLIF", exp.ArgMin(this=as_text, expression=_col("time")), _str(""))


def _visits_cte(query: Query, facts: list[str]) -> exp.Select:
    """One row per visit: its facts (as sessions/model.py derives them), its events in the range,
    and whether it has any there (only those are counted)."""
    page_views = exp.Where(this=_is_page_view())
    in_range = _in_range(query)
    entry = exp.Filter(this=exp.ArgMin(this=_col("page_path"), expression=_col("time")), expression=page_views)
    exit_ = exp.Filter(this=exp.ArgMax(this=_col("page_path"), expression=_col("time")),
                       expression=page_views.copy())
    derived = {"entry_page": entry, "exit_page": exit_}
    visit_pageviews = _count_if(_is_page_view())
    engaged = exp.Max(this=exp.If(this=_engaging(), true=exp.Literal.number(1), false=exp.Literal.number(0)))
    bounce = exp.If(this=exp.and_(exp.EQ(this=visit_pageviews.copy(), expression=exp.Literal.number(1)),
                                  exp.EQ(this=engaged.copy(), expression=exp.Literal.number(0))),
                    true=exp.Literal.number(1), false=exp.Literal.number(0))
    return exp.select(
        _col("session_id"),
        exp.alias_(exp.Min(this=_col("visitor_id")), "visitor_id"),
        exp.alias_(visit_pageviews, "visit_pageviews"),
        exp.alias_(exp.DateDiff(this=exp.Max(this=_col("time")), expression=exp.Min(this=_col("time")),
                                unit=exp.var("MILLISECOND")), "duration_ms"),
        exp.alias_(bounce, "bounce"),
        *[exp.alias_(derived.get(fact) or _first_value(fact), "visit_" + fact, quoted=True) for fact in facts],
        exp.alias_(_count_if(exp.and_(in_range, _is_page_view())), "pageviews"),
        exp.alias_(_count_if(exp.and_(in_range.copy(), exp.NEQ(this=_col("event_type"),
                                                               expression=_str(ENGAGEMENT_EVENT)))), "events"),
        exp.alias_(exp.Max(this=exp.If(this=in_range.copy(), true=exp.Literal.number(1),
                                       false=exp.Literal.number(0))), "in_range"),
    ).from_("ev").group_by(_col("session_id"))


def _visit_events_cte(query: Query, facts: list[str]) -> exp.Select:
    """Each event of the range beside its visit's facts (for event-level dimensions and filters)."""
    selected = [exp.Column(this=exp.Star(), table=exp.to_identifier("e")),
                *[_col(name, "v") for name in ("visit_pageviews", "duration_ms", "bounce")],
                *[_col("visit_" + fact, "v") for fact in facts]]
    return (exp.select(*selected).from_("ev AS e")
            .join("visits AS v", on=exp.EQ(this=_col("session_id", "e"), expression=_col("session_id", "v")))
            .where(_in_range(query, "e"), copy=False))


def _visit_level(query: Query) -> bool:
    """Every dimension and filter is a fact of the visit: the answer needs no event-level join."""
    return all(d in VISIT_DIMENSIONS for d in list(query.dimensions) + _filter_dimensions(query.filter))


def _per_visit(query: Query, facts: list[str]) -> tuple[exp.Select, list[tuple[str, exp.Expression]]]:
    """One row per visit and combination of dimension values, and the CTEs it reads."""
    dims = [exp.alias_(dimension_expression(d), f"d{i}") for i, d in enumerate(query.dimensions)]
    if _visit_level(query):
        per_visit = exp.select(*dims, *[_col(c) for c in ("session_id", "visitor_id", "pageviews", "events",
                                                          "bounce", "duration_ms", "visit_pageviews")])
        per_visit = per_visit.from_("visits").where(
            exp.EQ(this=_col("in_range"), expression=exp.Literal.number(1)), copy=False)
        if query.filter is not None:
            per_visit = per_visit.where(filter_expression(query.filter, query), copy=False)
        return per_visit, [("visits", _visits_cte(query, facts))]
    revenue = []
    if wants_revenue(query):
        amount = exp.If(this=_revenue_test(query), true=_col("revenue_amount"))
        revenue = [exp.alias_(exp.Sum(this=amount), "revenue_sum"),
                   exp.alias_(exp.Count(this=amount.copy()), "revenue_count")]
    by_goal = GOAL_DIMENSION in query.dimensions
    per_visit = (exp.select(*dims, _col("session_id"), exp.alias_(exp.Min(this=_col("visitor_id")), "visitor_id"),
                            exp.alias_(_count_if(_is_page_view()), "pageviews"),
                            exp.alias_(_count_if(exp.NEQ(this=_col("event_type"), expression=_str(ENGAGEMENT_EVENT))),
                                       "events"),
                            *[exp.alias_(exp.Min(this=_col(c)), c) for c in ("bounce", "duration_ms",
                                                                             "visit_pageviews")], *revenue,
                            *(_engagement_per_visit() if wants_engagement(query) else []))
                 .from_("goal_events" if by_goal else "visit_events"))
    if query.filter is not None:
        per_visit = per_visit.where(filter_expression(query.filter, query), copy=False)
    per_visit = per_visit.group_by(*[dimension_expression(d) for d in query.dimensions], _col("session_id"),
                                   copy=False)
    ctes = [("visits", _visits_cte(query, facts)), ("visit_events", _visit_events_cte(query, facts))]
    if by_goal:
        ctes.append(("goal_events", _goal_events_cte(query)))
    return per_visit, ctes


def _order_expression(name: str, query: Query) -> exp.Expression:
    if name in query.dimensions:
        return exp.column(f"d{query.dimensions.index(name)}")

    def ratio(numerator: str, denominator: str) -> exp.Expression:
        return exp.Div(this=exp.cast(_col(numerator), exp.DataType.build("DOUBLE")),
                       expression=exp.func("NULLIF", _col(denominator), exp.Literal.number(0)))

    revenue = wants_revenue(query)
    return {"views_per_visit": lambda: ratio("visit_pageviews", "visits"),
            "bounce_rate": lambda: ratio("bounces", "visits"),
            "visit_duration": lambda: ratio("duration_ms", "visits"),
            # one divisor for every group: by visitors (group_conversion_rate too: its divisors differ
            # per group and come from a second query, so the engine orders by the converted visitors)
            "conversion_rate": lambda: _col("visitors"), "group_conversion_rate": lambda: _col("visitors"),
            "time_on_page": lambda: ratio("engaged_ms_sum", "engaged_visits"),
            "scroll_depth": lambda: ratio("scroll_sum", "scroll_visits"),
            "total_revenue": lambda: _col("revenue_sum") if revenue else _col("visitors"),
            "average_revenue": lambda: (exp.Div(this=_col("revenue_sum"), expression=exp.func(
                "NULLIF", _col("revenue_count"), exp.Literal.number(0))) if revenue else _col("visitors")),
            }.get(name, lambda: _col(name))()


def build(query: Query, scan: Scan, table: str = DEFAULT_TABLE) -> exp.Expression:
    """The aggregate query: one row per combination of dimension values, with the integer PARTS."""
    columns, facts = _needed(query)
    dim_names = [exp.column(f"d{i}") for i in range(len(query.dimensions))]
    per_visit, ctes = _per_visit(query, facts)
    zero = exp.Literal.number(0)
    outer = exp.select(
        *dim_names,
        exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col("visitor_id")])), "visitors"),
        exp.alias_(exp.Count(this=exp.Star()), "visits"),
        *[exp.alias_(exp.Coalesce(this=exp.Sum(this=_col(name)), expressions=[zero.copy()]), name)
          for name in ("pageviews", "events")],
        exp.alias_(exp.Coalesce(this=exp.Sum(this=_col("bounce")), expressions=[zero.copy()]), "bounces"),
        *[exp.alias_(exp.Coalesce(this=exp.Sum(this=_col(name)), expressions=[zero.copy()]), name)
          for name in ("duration_ms", "visit_pageviews")],
        *([exp.alias_(exp.Sum(this=_col(name)), name) for name in REVENUE_PARTS] if wants_revenue(query) else []),
        *(_engagement_totals() if wants_engagement(query) else []),
    ).from_("per_visit")
    if query.with_total:  # every group's visitors together: a visitor in two groups counts once
        outer = outer.select(exp.alias_(exp.Max(this=_col(TOTAL_VISITORS, "total")), TOTAL_VISITORS), copy=False)
        outer = outer.join("total", join_type="CROSS", copy=False)
    if dim_names:
        outer = outer.group_by(*[d.copy() for d in dim_names], copy=False)
    order = [exp.Ordered(this=_order_expression(name, query), desc=direction == "desc", nulls_first=False)
             for name, direction in default_order(query)]
    if dim_names:
        outer = outer.order_by(*order, copy=False).limit(query.limit, copy=False).offset(query.offset, copy=False)
    outer = outer.with_("ev", as_=_events_cte(query, scan, table, columns), copy=False)
    for name, cte in ctes:
        outer = outer.with_(name, as_=cte, copy=False)
    outer = outer.with_("per_visit", as_=per_visit, copy=False)
    if query.with_total:
        total = exp.select(exp.alias_(exp.Count(this=exp.Distinct(expressions=[_col("visitor_id")])),
                                      TOTAL_VISITORS)).from_("per_visit")
        outer = outer.with_("total", as_=total, copy=False)
    return outer


def build_rows(query: Query, scan: Scan, table: str = DEFAULT_TABLE, columns: tuple[str, ...] = ()) -> exp.Expression:
    """The raw events of the range (export), one per event_id, ordered by time."""
    from chalicelib.schema.lake import COLUMN_NAMES

    chosen = list(columns or COLUMN_NAMES)
    pad = exp.select(*[_col(c) for c in chosen]).from_("ev").where(_in_range(query))
    ordered = pad.order_by(_col("time"), _col("event_id"))
    return ordered.with_("ev", as_=_events_cte(query, scan, table, chosen), copy=False)


def sql(tree: exp.Expression, dialect: str) -> str:
    return tree.sql(dialect=dialect)

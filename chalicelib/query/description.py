"""A lake query as data: parsed and validated once from the query function's JSON request, then
handed to the SQL builder. Names follow Plausible's Stats API v2 (metrics, `event:`/`visit:`/`time:`
dimensions, filters as nested lists), so that API maps onto this description without translation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from chalicelib.core.goals import Goal, GoalError, parse_goals
from chalicelib.core.settings import DEFAULT_TIMEZONE, SITE_ID_PATTERN, is_timezone
from chalicelib.query.timezones import day_start_ms

DAY_MS = 86_400_000
MAX_RANGE_DAYS = 400
# The longest range in ms: 400 days, and an hour more for 400 local days holding a DST fall-back (25 h).
MAX_RANGE_MS = MAX_RANGE_DAYS * DAY_MS + 3_600_000
MAX_LIMIT = 10_000
MAX_FILTER_VALUES = 100
MAX_FILTER_DEPTH = 8
MAX_VALUE_CHARS = 1_000

# Metric -> what it counts (docs/lake.md "Queries").
METRICS = ("visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate", "visit_duration")
# From engagement events (engaged_ms, scroll_pct): need an event:page dimension or filter (Plausible's rule).
ENGAGEMENT_METRICS = ("time_on_page", "scroll_depth")
# Metrics that need goals: an `event:goal` dimension or filter (Plausible's rule).
GOAL_METRICS = ("conversion_rate", "group_conversion_rate", "total_revenue", "average_revenue")
ALL_METRICS = METRICS + ENGAGEMENT_METRICS + GOAL_METRICS
REVENUE_METRICS = ("total_revenue", "average_revenue")
GOAL_DIMENSION = "event:goal"
# Event-level dimensions: the event's own column.
EVENT_DIMENSIONS = {"event:page": "page_path", "event:name": "event_type", "event:hostname": "page_host"}
PROPS_PREFIX = "event:props:"
# Visit-level dimensions: the column of the visit's first event (entry/exit pages are derived).
VISIT_DIMENSIONS = {
    "visit:entry_page": "entry_page", "visit:exit_page": "exit_page", "visit:source": "source",
    "visit:referrer": "referrer", "visit:channel": "channel", "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium", "visit:utm_campaign": "utm_campaign", "visit:utm_term": "utm_term",
    "visit:utm_content": "utm_content", "visit:device": "device_type", "visit:browser": "browser",
    "visit:browser_version": "browser_version", "visit:os": "os", "visit:os_version": "os_version",
    "visit:country": "country",
}
TIME_DIMENSIONS = ("time:hour", "time:day", "time:week", "time:month", "time:minute")
# time:minute (a LiveInsight extension: Plausible keeps it for its own dashboard) only over short ranges,
# so that one query never asks for tens of thousands of buckets: 2 days, and the hour a DST change adds.
MINUTE_DIMENSION = "time:minute"
MAX_MINUTE_RANGE_DAYS = 2
MAX_MINUTE_RANGE_MS = MAX_MINUTE_RANGE_DAYS * DAY_MS + 3_600_000
OPERATORS = ("is", "is_not", "contains", "contains_not", "matches", "matches_not")
LOGICAL = ("and", "or", "not")
ORDER = ("asc", "desc")
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_KNOWN_FIELDS = {"site", "date_range", "time_range_ms", "metrics", "dimensions", "filters", "order_by",
                 "limit", "offset", "goals", "with_total", "timezone"}


class QueryError(ValueError):
    """The request is not a valid query; the message names the offending part (the API answers 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Condition:
    operator: str  # one of OPERATORS
    dimension: str
    values: tuple[str, ...]
    case_sensitive: bool = True


@dataclass(frozen=True)
class Logical:
    operator: str  # and, or, not (not: one child)
    children: tuple[Filter, ...]


Filter = Condition | Logical


@dataclass(frozen=True)
class Query:
    site: str
    start_ms: int  # inclusive
    end_ms: int  # exclusive
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()
    filter: Filter | None = None
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int = MAX_LIMIT
    offset: int = 0
    goals: tuple[Goal, ...] = ()  # the site's goals (the API puts them in the request)
    # Also answer the visitors of every group together (the divisor of Plausible's `percentage`),
    # from the same pass over the lake instead of a second query.
    with_total: bool = False
    # The site's IANA time zone (the API puts it in the request): time:* buckets are its local wall
    # clock. The range is already instants; first_date/last_date stay UTC dates: the lake's partitions.
    timezone: str = DEFAULT_TIMEZONE

    def goal(self, name: str) -> Goal:
        return next(g for g in self.goals if g.name == name)

    @property
    def first_date(self) -> date:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=timezone.utc).date()

    @property
    def last_date(self) -> date:
        return datetime.fromtimestamp((self.end_ms - 1) / 1000, tz=timezone.utc).date()


def is_dimension(name: str) -> bool:
    if name.startswith(PROPS_PREFIX):
        return bool(_PROPERTY_KEY.match(name[len(PROPS_PREFIX):]))
    return name in EVENT_DIMENSIONS or name in VISIT_DIMENSIONS or name in TIME_DIMENSIONS or name == GOAL_DIMENSION


def parse_query(request: object) -> Query:
    """The Query a JSON request describes, or QueryError naming what is wrong."""
    if not isinstance(request, dict):
        raise QueryError("query", "must be a JSON object")
    unknown = sorted(set(request) - _KNOWN_FIELDS)
    if unknown:
        raise QueryError(unknown[0], f"unknown field (known: {', '.join(sorted(_KNOWN_FIELDS))})")
    site = request.get("site")
    if not isinstance(site, str) or not SITE_ID_PATTERN.match(site):
        raise QueryError("site", "must be a site id (1-64 lower-case letters, digits, '_' or '-')")
    zone = request.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(zone, str) or not is_timezone(zone):
        raise QueryError("timezone", f"{zone!r} is not an IANA time zone name (such as \"Europe/Berlin\")")
    start_ms, end_ms = _time_range(request, zone)
    metrics = _names(request.get("metrics"), "metrics", lambda m: m in ALL_METRICS, ALL_METRICS, required=True)
    dimensions = _names(request.get("dimensions", []), "dimensions", is_dimension,
                        (*EVENT_DIMENSIONS, GOAL_DIMENSION, *VISIT_DIMENSIONS, *TIME_DIMENSIONS,
                         PROPS_PREFIX + "<key>"))
    if MINUTE_DIMENSION in dimensions and end_ms - start_ms > MAX_MINUTE_RANGE_MS:
        raise QueryError("dimensions", minute_range_problem(start_ms, end_ms))
    filters = request.get("filters", [])
    if not isinstance(filters, list):
        raise QueryError("filters", "must be a list of filters")
    parsed = tuple(_filter(f, f"filters[{i}]", 0) for i, f in enumerate(filters))
    combined = parsed[0] if len(parsed) == 1 else (Logical("and", parsed) if parsed else None)
    goals = _goals(request.get("goals", []))
    _check_goal_use(goals, metrics, dimensions, parsed)
    _check_page_use(metrics, dimensions, parsed)
    return Query(site=site, start_ms=start_ms, end_ms=end_ms, metrics=metrics, dimensions=dimensions,
                 filter=combined, order_by=_order_by(request.get("order_by", []), metrics, dimensions),
                 limit=_whole(request.get("limit", MAX_LIMIT), "limit", 1, MAX_LIMIT),
                 offset=_whole(request.get("offset", 0), "offset", 0, 10**9), goals=goals,
                 with_total=_with_total(request.get("with_total", False), dimensions), timezone=zone)


def minute_range_problem(start_ms: int, end_ms: int) -> str:
    return (f"time:minute needs a range of at most {MAX_MINUTE_RANGE_DAYS} days ({MAX_MINUTE_RANGE_MS // 60_000} "
            f"minutes); this one has {-(-(end_ms - start_ms) // 60_000)} minutes: use time:hour or a shorter range")


def _with_total(value: object, dimensions: tuple[str, ...]) -> bool:
    if not isinstance(value, bool):
        raise QueryError("with_total", "must be true or false")
    if value and (not dimensions or GOAL_DIMENSION in dimensions):
        # A goal row counts converting events only: the total of its rows is not every visitor.
        raise QueryError("with_total", "needs dimensions, and none of them event:goal")
    return value


def _goals(raw: object) -> tuple[Goal, ...]:
    try:
        return parse_goals(raw)
    except GoalError as exc:
        raise QueryError("goals", str(exc)) from None


def goal_conditions(node: Filter | None) -> list[Condition]:
    """Every event:goal condition of the filter tree, at any depth."""
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node] if node.dimension == GOAL_DIMENSION else []
    return [c for child in node.children for c in goal_conditions(child)]


def goals_named(condition: Condition, goals: tuple[Goal, ...]) -> tuple[str, ...]:
    """The names of the goals a goal condition's positive operator selects: `is` equal names,
    `contains` a name containing a value, `matches` a name a regular expression finds (Plausible
    matches goal NAMES; case_sensitive false folds both sides). `_not` is the negation of this set
    (the builder's job: an event converting none of them)."""
    positive = condition.operator.removesuffix("_not")
    fold = (lambda text: text) if condition.case_sensitive else str.lower
    values = [fold(v) for v in condition.values]

    def selected(name: str) -> bool:
        if positive == "is":
            return fold(name) in values
        if positive == "contains":
            return any(v in fold(name) for v in values)
        return any(re.search(v, name, 0 if condition.case_sensitive else re.IGNORECASE) for v in condition.values)

    return tuple(g.name for g in goals if selected(g.name))


def without_goal_conditions(node: Filter | None) -> Filter | None:
    """The filter without the restriction of its event:goal conditions: each one is replaced by the
    value that restricts least where it stands (true, or false under a `not`), so the divisor of a
    conversion rate holds every visitor the filtered query counts. Top-level goal filters simply go,
    as Plausible's remove_top_level_filters; ["or", [goal, X]] divides by every visitor."""
    widened = _widen(node, True) if node is not None else True
    return None if widened is True else widened  # never False: every constant is flipped back by its `not`


def _widen(node: Filter, positive: bool):
    if isinstance(node, Condition):
        return positive if node.dimension == GOAL_DIMENSION else node
    if node.operator == "not":
        child = _widen(node.children[0], not positive)
        return (not child) if isinstance(child, bool) else Logical("not", (child,))
    children = [_widen(c, positive) for c in node.children]
    absorbing = node.operator == "or"  # true absorbs an or, false an and
    if absorbing in children:
        return absorbing
    kept = tuple(c for c in children if not isinstance(c, bool))
    if not kept:
        return not absorbing
    return kept[0] if len(kept) == 1 else Logical(node.operator, kept)


def _top_level(filters: tuple[Filter, ...], dimension: str) -> list[Condition]:
    return [f for f in filters if isinstance(f, Condition) and f.dimension == dimension]


def _check_goal_use(goals: tuple[Goal, ...], metrics: tuple[str, ...], dimensions: tuple[str, ...],
                    filters: tuple[Filter, ...]) -> None:
    """`is` goal filters name configured goals (as Plausible checks; contains and matches may match
    none); goal metrics need a goal dimension or a goal filter at any depth."""
    names = {g.name for g in goals}
    conditions = [c for f in filters for c in goal_conditions(f)]
    for condition in conditions:
        if condition.operator.removesuffix("_not") != "is":
            continue
        for value in condition.values:
            known = names if condition.case_sensitive else {n.lower() for n in names}
            if (value if condition.case_sensitive else value.lower()) not in known:
                raise QueryError("filters", f"event:goal {value!r} is not a goal of this site (goals: "
                                            f"{', '.join(sorted(names)) or 'none configured'})")
    if (GOAL_DIMENSION in dimensions or conditions) and not goals:
        raise QueryError("dimensions" if GOAL_DIMENSION in dimensions else "filters",
                         "event:goal needs goals: this site has none configured")
    wanted = [m for m in metrics if m in GOAL_METRICS]
    if wanted and GOAL_DIMENSION not in dimensions and not conditions:
        raise QueryError("metrics", f"{wanted[0]} needs an event:goal dimension or filter")


def _filter_dimensions(node: Filter) -> list[str]:
    if isinstance(node, Condition):
        return [node.dimension]
    return [d for child in node.children for d in _filter_dimensions(child)]


def _check_page_use(metrics: tuple[str, ...], dimensions: tuple[str, ...], filters: tuple[Filter, ...]) -> None:
    """Plausible's rules: scroll_depth needs an event:page dimension or top-level filter;
    time_on_page an event:page dimension or filter at any depth."""
    page_dimension = "event:page" in dimensions
    if "scroll_depth" in metrics and not page_dimension and not _top_level(filters, "event:page"):
        raise QueryError("metrics", "scroll_depth needs an event:page dimension or a top-level event:page filter")
    anywhere = any("event:page" in _filter_dimensions(f) for f in filters)
    if "time_on_page" in metrics and not page_dimension and not anywhere:
        raise QueryError("metrics", "time_on_page needs an event:page dimension or filter")


def _whole(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QueryError(name, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _time_range(request: dict, zone: str) -> tuple[int, int]:
    if ("date_range" in request) == ("time_range_ms" in request):
        raise QueryError("date_range", "give exactly one of date_range [first, last] (local dates, inclusive) "
                                       "or time_range_ms [start, end) (epoch milliseconds)")
    if "date_range" in request:
        pair = _pair(request["date_range"], "date_range")
        try:
            first, last = (date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 else None for v in pair)
        except ValueError:
            first = last = None
        if first is None or last is None:
            raise QueryError("date_range", "must be two dates YYYY-MM-DD")
        start_ms, end_ms = day_start_ms(first, zone), day_start_ms(last + timedelta(days=1), zone)
    else:
        start_ms, end_ms = (_whole(v, "time_range_ms", 0, 253_402_300_799_999)
                            for v in _pair(request["time_range_ms"], "time_range_ms"))
    if end_ms <= start_ms:
        raise QueryError("date_range", "the range ends before it starts")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise QueryError("date_range", f"covers more than {MAX_RANGE_DAYS} days")
    return start_ms, end_ms


def _pair(value: object, name: str) -> list:
    if not isinstance(value, list) or len(value) != 2:
        raise QueryError(name, "must be a list of two values")
    return value


def _names(value: object, name: str, valid, known, required: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (required and not value):
        raise QueryError(name, "must be a non-empty list of names" if required else "must be a list of names")
    for item in value:
        if not isinstance(item, str) or not valid(item):
            raise QueryError(name, f"unknown {name[:-1]} {item!r} (known: {', '.join(known)})")
    if len(set(value)) != len(value):
        raise QueryError(name, "names a value twice")
    return tuple(value)


def _filter(raw: object, where: str, depth: int) -> Filter:
    if depth > MAX_FILTER_DEPTH:
        raise QueryError(where, f"filters nest deeper than {MAX_FILTER_DEPTH}")
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise QueryError(where, 'must be a list like ["is", "visit:country", ["US"]] or ["and", [...]]')
    operator = raw[0]
    if operator in LOGICAL:
        return _logical(raw, where, depth)
    if operator not in OPERATORS:
        raise QueryError(where, f"unknown operator {operator!r} (known: {', '.join(OPERATORS + LOGICAL)})")
    if len(raw) not in (3, 4):
        raise QueryError(where, 'must be [operator, dimension, [values]] or with options {"case_sensitive": false}')
    dimension, values = raw[1], raw[2]
    _check_operands(dimension, values, where)
    case_sensitive = _options(raw[3] if len(raw) == 4 else {}, where)
    if operator.startswith("matches"):
        _check_patterns(values, where)
    return Condition(operator, dimension, tuple(values), case_sensitive)


def _check_operands(dimension: object, values: object, where: str) -> None:
    if not isinstance(dimension, str) or not is_dimension(dimension) or dimension in TIME_DIMENSIONS:
        raise QueryError(where, f"cannot filter by {dimension!r}: unknown dimension")
    if (not isinstance(values, list) or not 1 <= len(values) <= MAX_FILTER_VALUES
            or not all(isinstance(v, str) and len(v) <= MAX_VALUE_CHARS for v in values)):
        raise QueryError(where, f"values must be a list of 1-{MAX_FILTER_VALUES} strings of at most "
                                f"{MAX_VALUE_CHARS} characters")


def _check_patterns(values: list[str], where: str) -> None:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise QueryError(where, f"{value!r} is not a regular expression: {exc}") from None


def _options(options: object, where: str) -> bool:
    if not isinstance(options, dict) or set(options) - {"case_sensitive"}:
        raise QueryError(where, 'options must be {"case_sensitive": true|false}')
    value = options.get("case_sensitive", True)
    if not isinstance(value, bool):
        raise QueryError(where, "case_sensitive must be true or false")
    return value


def _logical(raw: list, where: str, depth: int) -> Logical:
    operator = raw[0]
    if operator == "not":
        if len(raw) != 2:
            raise QueryError(where, '"not" takes one filter: ["not", filter]')
        return Logical("not", (_filter(raw[1], f"{where}[1]", depth + 1),))
    if len(raw) != 2 or not isinstance(raw[1], list) or not raw[1]:
        raise QueryError(where, f'"{operator}" takes a list of filters: ["{operator}", [filter, ...]]')
    return Logical(operator, tuple(_filter(f, f"{where}[1][{i}]", depth + 1) for i, f in enumerate(raw[1])))


def _order_by(raw: object, metrics: tuple[str, ...], dimensions: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise QueryError("order_by", 'must be a list like [["visitors", "desc"]]')
    out = []
    for item in raw:
        if (not isinstance(item, list) or len(item) != 2 or item[0] not in metrics + dimensions
                or item[1] not in ORDER):
            raise QueryError("order_by", f"{item!r}: each item is [a metric or dimension of the query, "
                                         "\"asc\" or \"desc\"]")
        out.append((item[0], item[1]))
    return tuple(out)


def default_order(query: Query) -> tuple[tuple[str, str], ...]:
    """Plausible's: by time ascending when grouped by time, else the first metric descending; then
    every dimension ascending so that pages of a result never overlap."""
    order = list(query.order_by)
    if not order:
        times = [d for d in query.dimensions if d in TIME_DIMENSIONS]
        order = [(t, "asc") for t in times] or [(query.metrics[0], "desc")]
    named = {name for name, _ in order}
    return tuple(order + [(d, "asc") for d in query.dimensions if d not in named])


def days(query: Query) -> list[date]:
    first = query.first_date
    return [first + timedelta(days=n) for n in range((query.last_date - first).days + 1)]


def revenue_goals(query: Query) -> tuple[tuple[Goal, ...], str | None]:
    """Without an event:goal dimension: the revenue goals the top-level goal filters select (every
    one of them, as Plausible's matching_toplevel_filters) and their one currency; None when there is
    none or they differ (revenue is never converted, so not summed)."""
    top = query.filter.children if isinstance(query.filter, Logical) and query.filter.operator == "and" else (
        (query.filter,) if query.filter is not None else ())
    conditions = [c for c in _top_level(tuple(top), GOAL_DIMENSION) if not c.operator.endswith("_not")]
    if not conditions:
        return (), None
    selected = set.intersection(*(set(goals_named(c, query.goals)) for c in conditions))
    goals = tuple(g for g in query.goals if g.name in selected and g.currency)
    currencies = {g.currency for g in goals}
    return goals, (currencies.pop() if len(currencies) == 1 else None)

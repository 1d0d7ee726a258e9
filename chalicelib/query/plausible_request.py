"""A Plausible Stats API v2 request -> the lake request `query.runner.answer()` takes (Translated), or a
400 naming the offending part. The reference is plausible/docs `docs/stats-api.md` and Plausible's own
parser and validations (lib/plausible/stats/query_parser.ex, query_builder.ex)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from chalicelib.query import comparisons
from chalicelib.query.description import (
    ENGAGEMENT_METRICS,
    EVENT_DIMENSIONS,
    GOAL_DIMENSION,
    GOAL_METRICS,
    LOGICAL,
    MAX_LIMIT,
    MAX_MINUTE_RANGE_MS,
    METRICS,
    MINUTE_DIMENSION,
    OPERATORS,
    PROPS_PREFIX,
    TIME_DIMENSIONS,
    VISIT_DIMENSIONS,
    minute_range_problem,
)
from chalicelib.query.plausible_dates import (
    REALTIME_MINUTES,
    _date,
    _iso,
    auto_time_dimension,
    comparison_range,
    resolve_date_range,
    time_labels,
)
from chalicelib.query.plausible_errors import invalid

PERCENTAGE = "percentage"
# Documented metrics LiveInsight cannot answer yet, and why (the error says so; nothing is guessed).
NOT_YET_METRICS: dict[str, str] = {}
NOT_YET_DIMENSIONS = {
    "visit:entry_page_hostname": "the lake keeps no entry page hostname yet",
    "visit:exit_page_hostname": "the lake keeps no exit page hostname yet",
    "visit:region": "the lake keeps the country only", "visit:city": "the lake keeps the country only",
    "visit:country_name": "the lake keeps the ISO country code only (visit:country)",
    "visit:region_name": "the lake keeps the country only", "visit:city_name": "the lake keeps the country only",
    "segment": "saved segments are not supported",
}
NOT_YET_OPERATORS = {
    "has_done": "behavioral filters are not supported yet", "has_not_done": "behavioral filters are not supported yet",
    "matches_wildcard": "use matches (a regular expression)", "matches_wildcard_not": "use matches_not",
}
AUTO_TIME = "time"
FIELDS = ("site_id", "metrics", "date_range", "dimensions", "filters", "order_by", "include", "pagination")
INCLUDE_KEYS = ("imports", "time_labels", "total_rows", "comparisons")
DEFAULT_LIMIT = MAX_LIMIT  # Plausible's default pagination: {"limit": 10000, "offset": 0}


@dataclass(frozen=True)
class Translated:
    """A Plausible query resolved: the lake requests to make and what the answer needs besides."""

    lake: dict  # the request runner.answer() takes
    total: dict | None  # the same without dimensions (the divisor of `percentage`), or None
    echo: dict  # Plausible's `query` in the answer: the query as executed
    metrics: tuple[str, ...]  # Plausible's, in order
    lake_metrics: tuple[str, ...]
    limit: int
    offset: int
    first_date: date
    time_labels: tuple[str, ...] | None = None
    total_rows: bool = False
    slice_here: bool = False  # pagination done here (total_rows needs every row)
    time_dimensions: tuple[str, ...] = field(default=())
    comparison_range: tuple[int, int] | None = None  # include.comparisons: [start, end) in epoch ms
    timezone: str = "UTC"  # the site's: its local dates, hours and labels


def known_site(body: object, fields: tuple[str, ...], sites) -> str:
    """The site_id of a request body of these fields, or a 400 naming what is wrong (a body that is not
    an object, an unknown field, an unknown site)."""
    if not isinstance(body, dict):
        raise invalid("query", "the request body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise invalid(unknown[0], f"unknown field (known: {', '.join(fields)})")
    site = body.get("site_id")
    if not isinstance(site, str) or (sites and site not in sites):
        raise invalid("site_id", f"unknown site {site!r} (GET /stats/sites lists the configured sites)")
    return site


def translate(body: object, sites, retention_days: int, now_ms: int) -> Translated:
    """The Translated query of a Plausible request, or a 400 ApiError naming the offending part."""
    site = known_site(body, FIELDS, sites)
    tz = site_timezone(sites, site)
    start_ms, end_ms = resolve_date_range(body.get("date_range"), now_ms, retention_days, tz)
    metrics = _metrics(body.get("metrics"))
    dimensions = _dimensions(body.get("dimensions", []), start_ms, end_ms)
    if PERCENTAGE in metrics and not dimensions:
        raise invalid("metrics", "percentage needs at least one dimension (the share of visitors of each group)")
    filters = body.get("filters", [])
    if not isinstance(filters, list):
        raise invalid("filters", "must be a list of filters")
    for i, item in enumerate(filters):
        _check_filter(item, f"filters[{i}]")
    _check_goal_use(metrics, dimensions, filters, site_goals(sites, site))
    _check_page_use(metrics, dimensions, filters)
    order_by = _order_by(body.get("order_by"), metrics, dimensions)
    include = _include(body.get("include", {}), dimensions)
    _check_minute_range_comparison(body.get("date_range"), include)
    limit, offset = _pagination(body.get("pagination", {}))
    lake_metrics = tuple(m for m in metrics if m != PERCENTAGE) or ("visitors",)
    if PERCENTAGE in metrics and "visitors" not in lake_metrics:
        lake_metrics += ("visitors",)
    slice_here = bool(include.get("total_rows")) and bool(dimensions)
    lake = {"site": site, "time_range_ms": [start_ms, end_ms], "metrics": list(lake_metrics),
            "dimensions": list(dimensions), "filters": filters,
            "order_by": [[_lake_order_name(n), d] for n, d in order_by],
            "limit": MAX_LIMIT if slice_here else limit, "offset": 0 if slice_here else offset}
    total = None
    if PERCENTAGE in metrics and GOAL_DIMENSION in dimensions:  # goal rows: the divisor needs its own query
        total = {"site": site, "time_range_ms": [start_ms, end_ms], "metrics": ["visitors"], "filters": filters,
                 **site_goals(sites, site)}
    elif PERCENTAGE in metrics:
        lake["with_total"] = True  # the divisor from the same pass over the lake
    lake.update(site_goals(sites, site))  # the site's goals (settings): the lake knows none
    if tz != "UTC":  # the time buckets' wall clock (a UTC site's request is as it always was)
        lake["timezone"] = tz
    echo = {"site_id": site, "metrics": list(metrics), "date_range": [_iso(start_ms, tz), _iso(end_ms - 1000, tz)],
            "filters": filters, "dimensions": list(dimensions), "order_by": [list(o) for o in order_by],
            "include": body.get("include", {}), "pagination": {"offset": offset, "limit": limit}}
    times = tuple(d for d in dimensions if d in TIME_DIMENSIONS)
    labels = time_labels(times[0], start_ms, end_ms, tz) if include.get("time_labels") else None
    compared = comparison_range(include.get("comparisons"), start_ms, end_ms, now_ms, tz)
    return Translated(lake=lake, total=total, echo=echo, metrics=metrics, lake_metrics=lake_metrics, limit=limit,
                      offset=offset, first_date=_date(start_ms, tz), time_labels=labels,
                      total_rows=bool(include.get("total_rows")), slice_here=slice_here, time_dimensions=times,
                      comparison_range=compared, timezone=tz)


def _metrics(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("metrics", "must be a non-empty list of metric names")
    for name in value:
        if name in NOT_YET_METRICS:
            raise invalid("metrics", f"{name!r} is not supported yet: {NOT_YET_METRICS[name]}")
        if name not in METRICS and name not in ENGAGEMENT_METRICS and name not in GOAL_METRICS and name != PERCENTAGE:
            known = ", ".join((*METRICS, *ENGAGEMENT_METRICS, *GOAL_METRICS, PERCENTAGE))
            raise invalid("metrics", f"unknown metric {name!r} (known: {known})")
    if len(set(value)) != len(value):
        raise invalid("metrics", "names a metric twice")
    return tuple(value)


def _known_dimension(name: object, part: str, *, time_allowed: bool) -> str:
    if isinstance(name, str) and name in NOT_YET_DIMENSIONS:
        raise invalid(part, f"{name!r} is not supported yet: {NOT_YET_DIMENSIONS[name]}")
    ok = isinstance(name, str) and (name in EVENT_DIMENSIONS or name in VISIT_DIMENSIONS or name == GOAL_DIMENSION
                                    or (name.startswith(PROPS_PREFIX) and len(name) > len(PROPS_PREFIX)))
    if isinstance(name, str) and (name in TIME_DIMENSIONS or name == AUTO_TIME):
        if not time_allowed:
            raise invalid(part, f"{name!r}: time dimensions cannot filter; set date_range instead")
        ok = True
    if not ok:
        known = (*EVENT_DIMENSIONS, *VISIT_DIMENSIONS, PROPS_PREFIX + "<name>", AUTO_TIME, *TIME_DIMENSIONS)
        raise invalid(part, f"unknown dimension {name!r} (known: {', '.join(known)})")
    return name


def _dimensions(value: object, start_ms: int, end_ms: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise invalid("dimensions", "must be a list of dimension names")
    names = [_known_dimension(d, "dimensions", time_allowed=True) for d in value]
    names = [auto_time_dimension(start_ms, end_ms) if d == AUTO_TIME else d for d in names]
    if len(set(names)) != len(names):
        raise invalid("dimensions", "names a dimension twice")
    if sum(d in TIME_DIMENSIONS for d in names) > 1:
        raise invalid("dimensions", "at most one time dimension")
    if MINUTE_DIMENSION in names and end_ms - start_ms > MAX_MINUTE_RANGE_MS:
        raise invalid("dimensions", minute_range_problem(start_ms, end_ms))
    return tuple(names)


def _check_filter(raw: object, part: str) -> None:
    """Names every operator and dimension Plausible documents that LiveInsight cannot honour; the lake
    checks the rest (values, modifiers, regular expressions) with the same filter names."""
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise invalid(part, 'must be a list like ["is", "visit:country", ["US"]] or ["and", [...]]')
    operator = raw[0]
    if operator in NOT_YET_OPERATORS:
        raise invalid(part, f"operator {operator!r} is not supported yet: {NOT_YET_OPERATORS[operator]}")
    if operator not in OPERATORS and operator not in LOGICAL:
        raise invalid(part, f"unknown operator {operator!r} (known: {', '.join(OPERATORS + LOGICAL)})")
    if operator == "not" and len(raw) == 2:
        _check_filter(raw[1], f"{part}[1]")
    elif operator in ("and", "or") and len(raw) == 2 and isinstance(raw[1], list):
        for i, child in enumerate(raw[1]):
            _check_filter(child, f"{part}[1][{i}]")
    elif operator in OPERATORS and len(raw) >= 2:
        _known_dimension(raw[1], part, time_allowed=False)


def _order_by(value: object, metrics: tuple[str, ...], dimensions: tuple[str, ...]) -> list[tuple[str, str]]:
    """Plausible's order: as given, else [time, asc] when grouped by time, then the first metric descending."""
    if value is None:
        times = [(d, "asc") for d in dimensions if d in TIME_DIMENSIONS]
        return [*times, (metrics[0], "desc")]
    if not isinstance(value, list):
        raise invalid("order_by", 'must be a list like [["visitors", "desc"]]')
    time_dimension = next((d for d in dimensions if d in TIME_DIMENSIONS), None)
    out = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2 or item[1] not in ("asc", "desc"):
            raise invalid("order_by", f"{item!r}: each entry is [a metric or dimension, \"asc\" or \"desc\"]")
        name = time_dimension if item[0] == AUTO_TIME and time_dimension else item[0]
        if name not in metrics and name not in dimensions:
            raise invalid("order_by", f"{item!r}: {item[0]!r} is not a metric or dimension of this query")
        out.append((name, item[1]))
    return out


def _lake_order_name(name: str) -> str:
    # Every group's percentage has the same divisor: ordering by it is ordering by visitors.
    return "visitors" if name == PERCENTAGE else name


def _include(value: object, dimensions: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise invalid("include", "must be an object like {\"total_rows\": true}")
    unknown = sorted(set(value) - set(INCLUDE_KEYS))
    if unknown:
        raise invalid(f"include.{unknown[0]}", f"unknown option (known: {', '.join(INCLUDE_KEYS)})")
    for key in ("imports", "time_labels", "total_rows"):
        if key in value and not isinstance(value[key], bool):
            raise invalid(f"include.{key}", "must be true or false")
    if value.get("imports"):
        raise invalid("include.imports", "is not supported yet: LiveInsight has no imported data")
    if "comparisons" in value:
        _check_comparisons(value["comparisons"])
    if value.get("time_labels") and not any(d in TIME_DIMENSIONS for d in dimensions):
        raise invalid("include.time_labels", "needs a time dimension")
    return value


def _check_minute_range_comparison(date_range: object, include: dict) -> None:
    """Comparisons are of whole days (comparisons.ex), and Plausible's dashboard offers none for realtime:
    a minute range has nothing to compare with."""
    if include.get("comparisons") and isinstance(date_range, str) and date_range in REALTIME_MINUTES:
        raise invalid("include.comparisons", f"not available with date_range {date_range!r}: comparisons are of "
                                             "whole days; compare a day or a timestamp range instead")


def _check_comparisons(value: object) -> None:
    """include.comparisons as Plausible's parser takes it: {"mode", "date_range" (custom only),
    "match_day_of_week"}; anything else is a 400 naming the part."""
    part = "include.comparisons"
    if not isinstance(value, dict):
        raise invalid(part, 'must be an object like {"mode": "previous_period"}')
    unknown = sorted(set(value) - set(comparisons.OPTIONS))
    if unknown:
        raise invalid(f"{part}.{unknown[0]}", f"unknown option (known: {', '.join(comparisons.OPTIONS)})")
    if value.get("mode") not in comparisons.MODES:
        raise invalid(f"{part}.mode", f"must be one of {', '.join(comparisons.MODES)}, got {value.get('mode')!r}")
    if "match_day_of_week" in value and not isinstance(value["match_day_of_week"], bool):
        raise invalid(f"{part}.match_day_of_week", "must be true or false")
    if (value["mode"] == "custom") != ("date_range" in value):
        raise invalid(f"{part}.date_range", "is required with mode custom, and only with it")


def _pagination(value: object) -> tuple[int, int]:
    if not isinstance(value, dict):
        raise invalid("pagination", 'must be an object like {"limit": 100, "offset": 0}')
    unknown = sorted(set(value) - {"limit", "offset"})
    if unknown:
        raise invalid(f"pagination.{unknown[0]}", "unknown option (known: limit, offset)")
    limit, offset = value.get("limit", DEFAULT_LIMIT), value.get("offset", 0)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise invalid("pagination.limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10**9:
        raise invalid("pagination.offset", f"must be a whole number from 0, got {offset!r}")
    return limit, offset


def _filters_on(node: object, dimension: str) -> bool:
    """Whether a (checked) filter has a condition on `dimension` at any depth."""
    if not isinstance(node, list) or not node:
        return False
    if node[0] == "not" and len(node) == 2:
        return _filters_on(node[1], dimension)
    if node[0] in ("and", "or") and len(node) == 2 and isinstance(node[1], list):
        return any(_filters_on(child, dimension) for child in node[1])
    return len(node) > 1 and node[1] == dimension


def _check_page_use(metrics: tuple[str, ...], dimensions: tuple[str, ...], filters: list) -> None:
    """Plausible's validations: scroll_depth needs an event:page dimension or top-level filter,
    time_on_page an event:page dimension or a filter on it at any depth."""
    by_page = "event:page" in dimensions
    top = any(isinstance(f, list) and len(f) > 1 and f[0] in OPERATORS and f[1] == "event:page" for f in filters)
    if "scroll_depth" in metrics and not by_page and not top:
        raise invalid("metrics", "'scroll_depth' can only be queried with an event:page dimension or a top-level "
                                 "event:page filter (as in Plausible)")
    if "time_on_page" in metrics and not by_page and not any(_filters_on(f, "event:page") for f in filters):
        raise invalid("metrics", "'time_on_page' can only be queried with event:page filters or dimensions "
                                 "(as in Plausible)")


def _check_goal_use(metrics: tuple[str, ...], dimensions: tuple[str, ...], filters: list, goals: dict) -> None:
    """Plausible's rules: goal metrics need an event:goal dimension or filter; goals need configuring."""
    goal_filter = any(_filters_on(f, GOAL_DIMENSION) for f in filters)
    for name in metrics:
        if name in GOAL_METRICS and GOAL_DIMENSION not in dimensions and not goal_filter:
            raise invalid("metrics", f"{name!r} needs an event:goal dimension or filter (as in Plausible)")
    if (GOAL_DIMENSION in dimensions or goal_filter) and not goals:
        raise invalid("dimensions" if GOAL_DIMENSION in dimensions else "filters",
                      "'event:goal' needs goals: this site has none (\"goals\" in LIVEINSIGHT_SITES)")


def site_timezone(sites, site: str) -> str:
    """The site's IANA time zone (LIVEINSIGHT_SITES "timezone"; UTC when not configured)."""
    configured = sites.get(site) if sites else None
    return getattr(configured, "timezone", "UTC")


def site_goals(sites, site: str) -> dict:
    """{"goals": [...]}: the goals LIVEINSIGHT_SITES configures for the site, as the lake request
    carries them; {} for a site without goals."""
    configured = sites.get(site) if sites else None
    goals = [goal.as_json() for goal in getattr(configured, "goals", ())]
    return {"goals": goals} if goals else {}

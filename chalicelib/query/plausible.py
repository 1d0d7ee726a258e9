"""Plausible's Stats API v2 (`POST /api/v2/query`) on the event lake: a Plausible request -> the lake
request `query.runner.answer()` takes, and the lake's answer -> Plausible's response shape.

Pure: the caller passes the clock (`now_ms`), the configured sites and a function that answers a lake
request (in process, or the query function). The reference is plausible/docs `docs/stats-api.md` and
Plausible's own parser (lib/plausible/stats/query_parser.ex, query_optimizer.ex); docs/api.md lists
what is supported and what is not yet. Ranges resolve in UTC: site time zones come with issue 15.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from chalicelib.core.errors import ApiError
from chalicelib.core.goals import revenue_json
from chalicelib.query import comparisons
from chalicelib.query.description import (
    DAY_MS,
    EVENT_DIMENSIONS,
    GOAL_DIMENSION,
    GOAL_METRICS,
    LOGICAL,
    MAX_LIMIT,
    MAX_RANGE_DAYS,
    METRICS,
    OPERATORS,
    PROPS_PREFIX,
    REVENUE_METRICS,
    TIME_DIMENSIONS,
    VISIT_DIMENSIONS,
)

PERCENTAGE = "percentage"
# Documented metrics LiveInsight cannot answer yet, and why (the error says so; nothing is guessed).
NOT_YET_METRICS = {
    "time_on_page": "the lake does not measure time on page yet",
    "scroll_depth": "the lake does not record scroll depth",
}
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
SHORTCUTS = ("day", "24h", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "<n>d", "<n>mo")
DEFAULT_LIMIT = MAX_LIMIT  # Plausible's default pagination: {"limit": 10000, "offset": 0}
_SHORTHAND = re.compile(r"^([1-9][0-9]{0,3})(d|mo)$")
# Lake request fields -> the Plausible field a lake error is about.
_LAKE_FIELDS = {"site": "site_id", "time_range_ms": "date_range", "date_range": "date_range", "limit":
                "pagination", "offset": "pagination"}


def invalid(part: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{part}: {message}", field=part)


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


# --- request -------------------------------------------------------------------------------------

def translate(body: object, sites, retention_days: int, now_ms: int) -> Translated:
    """The Translated query of a Plausible request, or a 400 ApiError naming the offending part."""
    if not isinstance(body, dict):
        raise invalid("query", "the request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise invalid(unknown[0], f"unknown field (known: {', '.join(FIELDS)})")
    site = body.get("site_id")
    if not isinstance(site, str) or (sites and site not in sites):
        raise invalid("site_id", f"unknown site {site!r} (GET /stats/sites lists the configured sites)")
    start_ms, end_ms = resolve_date_range(body.get("date_range"), now_ms, retention_days)
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
    order_by = _order_by(body.get("order_by"), metrics, dimensions)
    include = _include(body.get("include", {}), dimensions)
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
    if PERCENTAGE in metrics:
        total = {"site": site, "time_range_ms": [start_ms, end_ms], "metrics": ["visitors"], "filters": filters,
                 **site_goals(sites, site)}
    lake.update(site_goals(sites, site))  # the site's goals (settings): the lake knows none
    echo = {"site_id": site, "metrics": list(metrics), "date_range": [_iso(start_ms), _iso(end_ms - 1000)],
            "filters": filters, "dimensions": list(dimensions), "order_by": [list(o) for o in order_by],
            "include": body.get("include", {}), "pagination": {"offset": offset, "limit": limit}}
    times = tuple(d for d in dimensions if d in TIME_DIMENSIONS)
    labels = time_labels(times[0], start_ms, end_ms) if include.get("time_labels") else None
    compared = comparison_range(include.get("comparisons"), start_ms, end_ms, now_ms)
    _no_revenue_comparison(compared, metrics)
    return Translated(lake=lake, total=total, echo=echo, metrics=metrics, lake_metrics=lake_metrics, limit=limit,
                      offset=offset, first_date=_date(start_ms), time_labels=labels,
                      total_rows=bool(include.get("total_rows")), slice_here=slice_here, time_dimensions=times,
                      comparison_range=compared)


def _date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()


def _ms(day: date) -> int:
    return calendar.timegm(day.timetuple()) * 1000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=timezone.utc).isoformat()


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def resolve_date_range(value: object, now_ms: int, retention_days: int) -> tuple[int, int]:
    """[start, end) in epoch ms, as Plausible's parser resolves it (UTC). `<n>d` are the n whole days
    before today, `<n>mo` the n whole months before this one; day, month and year are the whole
    current day, month and year; all runs from the retention start to the end of today."""
    today = _date(now_ms)
    tomorrow = today + timedelta(days=1)
    if isinstance(value, list):
        return _explicit_range(value)
    if value == "day":
        first, end = today, tomorrow
    elif value == "24h":
        end_ms = now_ms - now_ms % 1000 + 1000  # to the current second, inclusive
        return end_ms - DAY_MS, end_ms
    elif value == "month":
        first, end = today.replace(day=1), _months_back(today, -1)
    elif value == "year":
        first, end = date(today.year, 1, 1), date(today.year + 1, 1, 1)
    elif value == "all":
        first, end = today - timedelta(days=min(retention_days, MAX_RANGE_DAYS) - 1), tomorrow
    elif isinstance(value, str) and _SHORTHAND.match(value):
        n, unit = _SHORTHAND.match(value).groups()
        if unit == "d":
            first, end = today - timedelta(days=int(n)), today
        else:
            first, end = _months_back(today, int(n)), today.replace(day=1)
    else:
        raise invalid("date_range", f"{value!r} is not a date range (known: {', '.join(SHORTCUTS)}, "
                                    "or [first, last] as ISO dates or ISO8601 timestamps with an offset)")
    return _checked(_ms(first), _ms(end))


def _explicit_range(pair: list) -> tuple[int, int]:
    if len(pair) != 2 or not all(isinstance(v, str) for v in pair):
        raise invalid("date_range", "must be a shortcut or [first, last]")
    dates = [_parse_date(v) for v in pair]
    if all(dates):
        return _checked(_ms(dates[0]), _ms(dates[1]) + DAY_MS)
    moments = [_parse_timestamp(v) for v in pair]
    if not all(moments):
        raise invalid("date_range", f"{pair!r}: give two ISO dates (2024-01-01) or two ISO8601 timestamps with "
                                    "an offset (2024-01-01T12:00:00+02:00)")
    start, last = (int(m.timestamp() * 1000) for m in moments)
    return _checked(start, (last // 1000) * 1000 + 1000)  # the last second is in the range, as in Plausible


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _parse_timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _checked(start_ms: int, end_ms: int) -> tuple[int, int]:
    if end_ms <= start_ms:
        raise invalid("date_range", "the range ends before it starts")
    if end_ms - start_ms > MAX_RANGE_DAYS * DAY_MS:
        raise invalid("date_range", f"covers more than {MAX_RANGE_DAYS} days, the longest range the lake answers")
    return start_ms, end_ms


def _metrics(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("metrics", "must be a non-empty list of metric names")
    for name in value:
        if name in NOT_YET_METRICS:
            raise invalid("metrics", f"{name!r} is not supported yet: {NOT_YET_METRICS[name]}")
        if name not in METRICS and name not in GOAL_METRICS and name != PERCENTAGE:
            known = ", ".join((*METRICS, *GOAL_METRICS, PERCENTAGE))
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


def auto_time_dimension(start_ms: int, end_ms: int) -> str:
    """Plausible's `time`: hours up to 48 hours, days up to 40 days, weeks up to 52 weeks, else months."""
    span_ms = end_ms - 1000 - start_ms  # Plausible measures from the first to the last second
    if span_ms <= 48 * 3_600_000:
        return "time:hour"
    if span_ms <= 40 * DAY_MS + DAY_MS - 1000:
        return "time:day"
    return "time:week" if span_ms <= 52 * 7 * DAY_MS + DAY_MS - 1000 else "time:month"


def _dimensions(value: object, start_ms: int, end_ms: int) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise invalid("dimensions", "must be a list of dimension names")
    names = [_known_dimension(d, "dimensions", time_allowed=True) for d in value]
    names = [auto_time_dimension(start_ms, end_ms) if d == AUTO_TIME else d for d in names]
    if len(set(names)) != len(names):
        raise invalid("dimensions", "names a dimension twice")
    if sum(d in TIME_DIMENSIONS for d in names) > 1:
        raise invalid("dimensions", "at most one time dimension")
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


def comparison_range(value: dict | None, start_ms: int, end_ms: int, now_ms: int) -> tuple[int, int] | None:
    """[start, end) of the comparison period in epoch ms (whole UTC days, as comparisons.ex), or None."""
    if not value:
        return None
    if value["mode"] == "custom":
        try:
            return _explicit_range(value["date_range"] if isinstance(value["date_range"], list) else [])
        except ApiError as exc:
            raise invalid("include.comparisons.date_range", exc.message.split(": ", 1)[1]) from None
    first, last = comparisons.period(value["mode"], _date(start_ms), _date(end_ms - 1), _date(now_ms),
                                     bool(value.get("match_day_of_week")))
    return _checked(_ms(first), _ms(last) + DAY_MS)


def compare(query: Translated, main: dict, ask) -> dict:
    """The main response with each row's comparison (a second lake query over the comparison period,
    every group, so each row of the page finds its own), and meta.comparison_date_range."""
    start_ms, end_ms = query.comparison_range
    within = {"time_range_ms": [start_ms, end_ms]}
    other = replace(query, lake={**query.lake, **within, "limit": MAX_LIMIT, "offset": 0},
                    total={**query.total, **within} if query.total else None, first_date=_date(start_ms),
                    time_labels=None, total_rows=False, slice_here=False)
    answer = checked(ask(other.lake))
    total = checked(ask(other.total)) if other.total else None
    compared = respond(other, answer, total)
    dimensions = query.echo["dimensions"]
    times = [d for d in dimensions if d in TIME_DIMENSIONS]
    labels = compared_labels = descending = None
    if times:
        labels = time_labels(times[0], *query.lake["time_range_ms"])
        compared_labels = time_labels(times[0], start_ms, end_ms)
        first_order = query.echo["order_by"][0]
        descending = first_order[1] == "desc" if first_order[0] == times[0] else None
    results = comparisons.merge(main["results"], compared["results"], query.metrics, dimensions, labels,
                                compared_labels, descending)
    meta = {**main["meta"], "comparison_date_range": [_iso(start_ms), _iso(end_ms - 1000)]}
    meta["liveinsight"] = main["meta"]["liveinsight"] + compared["meta"]["liveinsight"]
    if len(answer["results"]) >= MAX_LIMIT:  # the comparison has more groups than the lake answers
        meta["comparison_rows_capped"] = True
    return {"results": results, "meta": meta, "query": main["query"]}


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


def time_labels(dimension: str, start_ms: int, end_ms: int) -> tuple[str, ...]:
    """Every bucket of the range, as Plausible's meta.time_labels (weeks start on Monday, the first one
    not before the range)."""
    if dimension == "time:hour":
        first = start_ms - start_ms % 3_600_000
        return tuple(datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:00:00")
                     for ms in range(first, end_ms, 3_600_000))
    first, last = _date(start_ms), _date(end_ms - 1)
    if dimension == "time:day":
        return tuple((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))
    if dimension == "time:week":
        monday = first - timedelta(days=first.weekday())
        starts = [monday + timedelta(weeks=n) for n in range((last - monday).days // 7 + 1)]
        return tuple(max(s, first).isoformat() for s in starts)
    months = (last.year - first.year) * 12 + last.month - first.month
    return tuple(_months_back(last, months - n).isoformat() for n in range(months + 1))


# --- answer --------------------------------------------------------------------------------------

def checked(answer: dict) -> dict:
    """A lake answer, or the ApiError its error maps to (400 stays 400, an engine failure is a 503)."""
    status = answer.get("status")
    if status is None:
        return answer
    error = answer.get("error") or {}
    if status == 400:
        part = _LAKE_FIELDS.get(error.get("field"), error.get("field") or "query")
        message = error.get("message", "invalid query")
        lake_field = error.get("field") or ""
        if lake_field and message.startswith(f"{lake_field}:"):
            message = message[len(lake_field) + 1:].strip()
        raise invalid(part, message)
    raise ApiError(503, error.get("code", "engine_failed"), "the query could not be answered; try again shortly",
                   headers={"Retry-After": "5"})


def respond(query: Translated, answer: dict, total: dict | None = None) -> dict:
    """Plausible's response: results with dimensions and metrics, meta, and the query as executed."""
    rows = answer["results"]
    meta: dict = {}
    if query.total_rows:
        meta["total_rows"] = len(rows)
        if len(rows) >= MAX_LIMIT:  # the lake answers at most MAX_LIMIT groups: there may be more
            meta["total_rows_capped"] = True
    if query.slice_here:
        rows = rows[query.offset:query.offset + query.limit]
    if query.time_labels is not None:
        meta["time_labels"] = list(query.time_labels)
    divisor = total["results"][0]["metrics"][0] if total and total["results"] else 0
    results = [{"dimensions": _dimension_values(query, row["dimensions"]),
                "metrics": _metric_values(query, row["metrics"], divisor)} for row in rows]
    meta["liveinsight"] = [a["meta"] for a in (answer, total) if a]
    return {"results": results, "meta": meta, "query": query.echo}


def _dimension_values(query: Translated, values: list) -> list:
    if "time:week" not in query.time_dimensions:
        return list(values)
    index = list(query.echo["dimensions"]).index("time:week")
    first = query.first_date.isoformat()
    out = list(values)
    if isinstance(out[index], str) and out[index] < first:  # Plausible's weeks start no earlier than the range
        out[index] = first
    return out


def _metric_values(query: Translated, values: list, divisor: int) -> list:
    named = dict(zip(query.lake_metrics, values, strict=True))
    if PERCENTAGE in query.metrics:
        named[PERCENTAGE] = round(named["visitors"] * 100 / divisor, 1) if divisor else None
    return [revenue_json(named[m]) if m in REVENUE_METRICS else named[m] for m in query.metrics]


def _check_goal_use(metrics: tuple[str, ...], dimensions: tuple[str, ...], filters: list, goals: dict) -> None:
    """Plausible's rules: goal metrics need an event:goal dimension or filter; goals need configuring."""
    goal_filter = any(isinstance(f, list) and len(f) > 1 and f[1] == GOAL_DIMENSION for f in filters)
    for name in metrics:
        if name in GOAL_METRICS and GOAL_DIMENSION not in dimensions and not goal_filter:
            raise invalid("metrics", f"{name!r} needs an event:goal dimension or filter (as in Plausible)")
    if (GOAL_DIMENSION in dimensions or goal_filter) and not goals:
        raise invalid("dimensions" if GOAL_DIMENSION in dimensions else "filters",
                      "'event:goal' needs goals: this site has none (\"goals\" in LIVEINSIGHT_SITES)")


def _no_revenue_comparison(compared, metrics: tuple[str, ...]) -> None:
    if compared and any(m in REVENUE_METRICS for m in metrics):
        raise invalid("include.comparisons", "is not supported yet with total_revenue or average_revenue")


def site_goals(sites, site: str) -> dict:
    """{"goals": [...]}: the goals LIVEINSIGHT_SITES configures for the site, as the lake request
    carries them; {} for a site without goals."""
    configured = sites.get(site) if sites else None
    goals = [goal.as_json() for goal in getattr(configured, "goals", ())]
    return {"goals": goals} if goals else {}


def run(body: object, ask, sites, retention_days: int, now_ms: int) -> dict:
    """One Plausible query answered: `ask(lake_request)` returns the lake's answer (runner.answer's shape)."""
    query = translate(body, sites, retention_days, now_ms)
    answer = checked(ask(query.lake))
    total = checked(ask(query.total)) if query.total else None
    if query.comparison_range:
        return compare(query, respond(query, answer, total), ask)
    return respond(query, answer, total)


def request_body(raw: bytes | str | None) -> object:
    """The request's JSON (any Content-Type: clients differ), or a 400 saying what is wrong with it."""
    if not raw:
        raise invalid("query", "the request body is empty: send the query as JSON")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("query", f"the request body is not JSON: {exc}") from None


def error_body(error: ApiError) -> dict:
    """Plausible's error shape ({"error": "<message>"}: its clients show the string), with LiveInsight's
    code and the offending field beside it."""
    body: dict = {"error": error.message, "code": error.code}
    if error.field is not None:
        body["field"] = error.field
    return body

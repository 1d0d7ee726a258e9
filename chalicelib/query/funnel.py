"""Funnels (`POST /api/v2/funnel`): the Plausible-shaped request -> the lake's funnel request, the
lake's counts -> Plausible's funnel shape (lib/plausible/stats/funnel.ex), and the lake request parsed.

Pure, like plausible.py: the caller passes the clock, the sites and a function answering a lake
request. The SQL and the query function's side are in funnel_sql.py; docs/api.md "Funnels" has the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from chalicelib.core.errors import ApiError
from chalicelib.core.goals import Goal, GoalError, parse_goals
from chalicelib.query import plausible
from chalicelib.query.description import Query, QueryError, goal_conditions, parse_query
from chalicelib.query.plausible_request import known_site

FIELDS = ("site_id", "date_range", "filters", "steps", "window")
MIN_STEPS, MAX_STEPS = 2, 8
DEFAULT_WINDOW_SECONDS = 86_400  # Plausible's funnel window (windowFunnel(86400) in funnel.ex)
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 60, 31 * 86_400
LAKE_FIELDS = ("site", "date_range", "time_range_ms", "filters", "steps", "window_seconds")
FUNNEL = "funnel"  # the lake request's key: services.query_lake answers {"funnel": {...}} with funnel_sql


@dataclass(frozen=True)
class Funnel:
    """A lake funnel request, validated: the range and filters (as a lake Query), the steps' goals
    in order (a goal may repeat) and the window from a step-1 event, in milliseconds."""

    query: Query
    steps: tuple[Goal, ...]
    window_ms: int


# --- the lake request ------------------------------------------------------------------------------

def funnel_request(site: str, steps: list[dict], date_range: list[str] | None = None, window_seconds: int =
                   DEFAULT_WINDOW_SECONDS, *, filters: list | None = None,
                   time_range_ms: list[int] | None = None) -> dict:
    """The query function's request for a funnel (bench and tests call it): `steps` are goals in
    core/goals.py's shape, `date_range` [first, last] UTC dates (or `time_range_ms` [start, end): the API
    sends the site's local days as instants)."""
    body: dict = {"site": site, "steps": steps, "window_seconds": window_seconds, "filters": filters or []}
    body.update({"date_range": date_range} if time_range_ms is None else {"time_range_ms": time_range_ms})
    return {FUNNEL: body}


def parse_funnel(request: object) -> Funnel:
    """The Funnel a lake request's {"funnel": ...} body describes, or QueryError naming the part."""
    if not isinstance(request, dict):
        raise QueryError("funnel", "must be a JSON object")
    unknown = sorted(set(request) - set(LAKE_FIELDS))
    if unknown:
        raise QueryError(unknown[0], f"unknown field (known: {', '.join(LAKE_FIELDS)})")
    ranged = {k: request[k] for k in ("site", "date_range", "time_range_ms") if k in request}
    query = parse_query({**ranged, "metrics": ["visitors"], "filters": request.get("filters", [])})
    if goal_conditions(query.filter):
        raise QueryError("filters", "event:goal filters do not apply to funnels: the steps are the goals")
    raw_steps = request.get("steps")
    if not isinstance(raw_steps, list) or not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        raise QueryError("steps", f"must be a list of {MIN_STEPS} to {MAX_STEPS} goals")
    steps = []
    for i, raw in enumerate(raw_steps):
        try:
            steps.append(parse_goals([raw])[0])
        except GoalError as exc:
            raise QueryError("steps", f"steps[{i}]: {str(exc).removeprefix('goals[0]')}") from None
    window = request.get("window_seconds", DEFAULT_WINDOW_SECONDS)
    if isinstance(window, bool) or not isinstance(window, int) or not (
            MIN_WINDOW_SECONDS <= window <= MAX_WINDOW_SECONDS):
        raise QueryError("window_seconds", f"must be a whole number of seconds from {MIN_WINDOW_SECONDS} to "
                                           f"{MAX_WINDOW_SECONDS} (31 days), got {window!r}")
    return Funnel(query=query, steps=tuple(steps), window_ms=window * 1000)


# --- POST /api/v2/funnel ---------------------------------------------------------------------------

def invalid(part: str, message: str) -> ApiError:
    return plausible.invalid(part, message)


def translate(body: object, sites, retention_days: int, now_ms: int) -> tuple[dict, dict, list[str]]:
    """(the lake request, the query as executed, the steps' labels) of a Plausible-shaped funnel
    request, or a 400 ApiError naming the offending part."""
    site = known_site(body, FIELDS, sites)
    tz = plausible.site_timezone(sites, site)
    start_ms, end_ms = plausible.resolve_date_range(body.get("date_range"), now_ms, retention_days, tz)
    filters = _filters(body.get("filters", []))
    steps = _steps(body.get("steps"), plausible.site_goals(sites, site).get("goals", []))
    window = body.get("window", DEFAULT_WINDOW_SECONDS)
    if isinstance(window, bool) or not isinstance(window, int) or not (
            MIN_WINDOW_SECONDS <= window <= MAX_WINDOW_SECONDS):
        raise invalid("window", f"must be a whole number of seconds from {MIN_WINDOW_SECONDS} to "
                                f"{MAX_WINDOW_SECONDS} (31 days), got {window!r}")
    lake = funnel_request(site, [g.as_json() for g in steps], window_seconds=window, filters=filters,
                          time_range_ms=[start_ms, end_ms])
    echo = {"site_id": site, "date_range": [plausible._iso(start_ms, tz), plausible._iso(end_ms - 1000, tz)],
            "filters": filters, "steps": body.get("steps"), "window": window}
    return lake, echo, [g.name for g in steps]


def _filters(value: object) -> list:
    if not isinstance(value, list):
        raise invalid("filters", "must be a list of filters")
    for i, item in enumerate(value):
        plausible._check_filter(item, f"filters[{i}]")
        if _names_goal(item):
            raise invalid(f"filters[{i}]", "event:goal filters do not apply to funnels: the steps are the goals")
    return value


def _names_goal(node: object) -> bool:
    if not isinstance(node, list) or len(node) < 2:
        return False
    if node[0] == "not":
        return _names_goal(node[1])
    if node[0] in ("and", "or"):
        return isinstance(node[1], list) and any(_names_goal(child) for child in node[1])
    return node[1] == "event:goal"


def _steps(value: object, configured: list[dict]) -> list[Goal]:
    """Each step: the name of a goal the site configures, or a goal object in its configuration shape."""
    if not isinstance(value, list) or not MIN_STEPS <= len(value) <= MAX_STEPS:
        raise invalid("steps", f"must be a list of {MIN_STEPS} to {MAX_STEPS} steps, each a goal's name, got "
                               f"{len(value) if isinstance(value, list) else value!r}")
    by_name = {g["name"]: g for g in configured}
    out = []
    for i, step in enumerate(value):
        part = f"steps[{i}]"
        if isinstance(step, str):
            if step not in by_name:
                raise invalid(part, f"{step!r} is not a goal of this site (goals: "
                                    f"{', '.join(sorted(by_name)) or 'none configured in LIVEINSIGHT_SITES'})")
            step = by_name[step]
        elif not isinstance(step, dict):
            raise invalid(part, 'must be a goal\'s name or a goal like {"name": "Signup", "event": "signup"}')
        try:
            out.append(parse_goals([step])[0])
        except GoalError as exc:
            raise invalid(part, str(exc).removeprefix("goals[0]").lstrip(" .:")) from None
    return out


def percentage(part: int, whole: int | None) -> str:
    """Plausible's funnel percentage (funnel.ex): "0" when either is 0 (or there is no previous
    step), else part / whole * 100 as a Decimal (28 digits, half up) to two places, ".00" dropped."""
    if not part or not whole:
        return "0"
    with localcontext() as context:
        context.prec, context.rounding = 28, ROUND_HALF_UP
        text = str((Decimal(part) / Decimal(whole) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    whole_digits, decimals = text.split(".")
    return whole_digits if decimals == "00" and len(whole_digits) <= 3 else text


def results(all_visitors: int, visitors: list[int], labels: list[str]) -> dict:
    """Plausible's funnel shape from the visitors who reached each step (cumulative) and all visitors."""
    steps, first, previous = [], None, None
    for label, at_step in zip(labels, visitors, strict=True):
        first = at_step if first is None else first
        dropoff = previous - at_step if previous is not None else 0
        steps.append({"label": label, "visitors": at_step, "conversion_rate": percentage(at_step, first),
                      "conversion_rate_step": percentage(at_step, previous), "dropoff": dropoff,
                      "dropoff_percentage": percentage(dropoff, previous)})
        previous = at_step
    entering = visitors[0]
    return {"steps": steps, "all_visitors": all_visitors, "entering_visitors": entering,
            "entering_visitors_percentage": percentage(entering, all_visitors),
            "never_entering_visitors": all_visitors - entering,
            "never_entering_visitors_percentage": percentage(all_visitors - entering, all_visitors)}


def run(body: object, ask, sites, retention_days: int, now_ms: int) -> dict:
    """One funnel answered: `ask(lake_request)` returns the lake's answer (funnel_sql.answer's shape)."""
    lake, echo, labels = translate(body, sites, retention_days, now_ms)
    answer = ask(lake)
    if answer.get("status") == 400 and (answer.get("error") or {}).get("field") == "window_seconds":
        answer["error"]["field"] = "window"
    answer = plausible.checked(answer)
    return {"results": results(answer["all_visitors"], answer["visitors"], labels),
            "meta": {"liveinsight": [answer["meta"]]}, "query": echo}

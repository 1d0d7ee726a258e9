"""Plausible's Stats API v1 (GET /api/v1/stats/...) as a thin translation onto the v2 query
(`plausible.run`): v1 parameters -> a v2 body, the v2 answer -> v1's response shapes.

Pure: the caller passes the clock, the sites and the lake function, as for v2. The reference is
plausible/docs `docs/stats-api-v1.md` and Plausible's v1 controller (external_stats_controller.ex,
stats/legacy/*.ex, filters/stats_api_filter_parser.ex). Ranges resolve in the site's time zone, as v2's do.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from chalicelib.core.errors import ApiError
from chalicelib.core.goals import page_regex
from chalicelib.query import plausible
from chalicelib.query.timezones import local_date

# Query parameters each endpoint takes (anything else is a 400 naming it).
PARAMETERS = {
    "realtime": ("site_id",),
    "aggregate": ("site_id", "period", "date", "metrics", "filters", "compare", "with_imported"),
    "breakdown": ("site_id", "period", "date", "property", "metrics", "filters", "limit", "page", "compare",
                  "with_imported"),
    "timeseries": ("site_id", "period", "date", "metrics", "filters", "interval", "with_imported"),
}
METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events",
           "conversion_rate", "time_on_page")
SESSION_METRICS = ("visits", "bounce_rate", "visit_duration", "views_per_visit")
ROUNDED = ("bounce_rate", "visit_duration")  # Legacy.Aggregate rounds these to whole numbers
PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "custom")
INTERVALS = ("day", "month")
# Plausible's Legacy.Dimensions: every property v1 filters and breaks down by.
PROPERTIES = ("event:page", "event:name", "event:goal", "event:hostname", "visit:source", "visit:channel",
              "visit:country", "visit:region", "visit:city", "visit:entry_page", "visit:exit_page", "visit:referrer",
              "visit:utm_medium", "visit:utm_source", "visit:utm_campaign", "visit:utm_content", "visit:utm_term",
              "visit:device", "visit:os", "visit:os_version", "visit:browser", "visit:browser_version")
PROPS_PREFIX = "event:props:"
EVENT_ONLY = ("event:name", "event:goal")  # and event:props:*: session metrics cannot use them
# Legacy.Breakdown leaves out rows without a value for these (its dimension_filters).
NON_EMPTY = ("visit:country", "visit:region", "visit:city", "visit:utm_medium", "visit:utm_source",
             "visit:utm_campaign", "visit:utm_content", "visit:utm_term", "visit:entry_page", "visit:exit_page")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
REALTIME_MS = 5 * 60_000  # "a visitor who triggered a pageview in the last 5 minutes"
_PIPE = re.compile(r"(?<!\\)\|")


def invalid(part: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{part}: {message}", field=part)


# --- parameters ----------------------------------------------------------------------------------

def _site(given: dict) -> str:
    if "site_id" not in given:
        raise invalid("site_id", "is required: the domain of the site, as configured")
    return given["site_id"]


def date_range(given: dict, now_ms: int, tz: str = "UTC") -> list[str]:
    """[first, last] ISO dates as Plausible's Legacy.QueryBuilder resolves `period` around `date`:
    7d is `date` and the 6 days before, 30d `date` and the 30 before, 6mo/12mo whole months to the end
    of `date`'s month; `date` defaults to today in the site's zone `tz`."""
    period = given.get("period", "30d")
    if period not in PERIODS:
        raise invalid("period", f"invalid period {period!r} (known: {', '.join(PERIODS)})")
    if period == "custom":
        parts = given.get("date", "").split(",")
        days = [_day(p.strip()) for p in parts] if len(parts) == 2 else [None]
        if not all(days):
            raise invalid("date", "with period=custom give two ISO-8601 dates joined by a comma "
                                  "(2021-01-01,2021-01-31)")
        return [d.isoformat() for d in days]
    day = _day(given["date"]) if "date" in given else local_date(now_ms, tz)
    if day is None:
        raise invalid("date", f"{given['date']!r} is not an ISO-8601 date (2021-01-31)")
    if period == "day":
        first, last = day, day
    elif period in ("7d", "30d"):
        first, last = day - timedelta(days=6 if period == "7d" else 30), day
    elif period == "month":
        first, last = day.replace(day=1), _month_end(day)
    else:
        last = _month_end(day)
        first = _month_start(last, 5 if period == "6mo" else 11)
    return [first.isoformat(), last.isoformat()]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def filters(text: str | None) -> list:
    """v1's `a==x;b!=y|z` filters as v2 filters (StatsAPIFilterParser): `;` is AND, `|` is IN (`\\|` a
    literal pipe), `*` a wildcard (Plausible's page pattern: any run of characters)."""
    if text is None:
        return []
    out = []
    for part in text.split(";"):
        negated = "!=" in part
        pieces = [p.strip() for p in re.split("==|!=", part.strip())]
        if len(pieces) != 2 or not all(pieces):
            raise invalid("filters", f"{part!r} is not `property==value` or `property!=value`")
        key, raw = pieces
        if key not in PROPERTIES and not (key.startswith(PROPS_PREFIX) and len(key) > len(PROPS_PREFIX)):
            raise invalid("filters", f"invalid filter property {key!r} (known: {', '.join(PROPERTIES)}, "
                                     f"{PROPS_PREFIX}<name>)")
        out.append(_filter(key, raw, negated))
    return out


def _filter(key: str, raw: str, negated: bool) -> list:
    values = [v.replace("\\|", "|") for v in _PIPE.split(raw)]
    wildcard = "*" in raw
    if negated and (len(values) > 1 or key == "event:goal"):
        raise invalid("filters", f"{key}!={raw}: != takes one value and not event:goal (Plausible's v1 limits)")
    if key == "event:goal":
        return ["is", key, values]  # goal names are literal (a pageview goal's name may hold a *)
    if wildcard and len(values) > 1:
        raise invalid("filters", f"{key}=={raw}: a wildcard cannot be combined with | (Plausible's v1 limit)")
    if key == "visit:country" and any(len(v) != 2 for v in values):
        raise invalid("filters", f"{key}: {raw!r} is not a two-letter ISO 3166-1 country code")
    if wildcard:
        return ["matches_not" if negated else "matches", key, [page_regex(values[0])]]
    return ["is_not" if negated else "is", key, values]


def metrics(given: dict, dimensions: tuple[str, ...], v2_filters: list) -> list[str]:
    """The v1 metrics, checked by Plausible's controller rules (validate_metric)."""
    names = given.get("metrics", "visitors").split(",")
    if len(set(names)) != len(names):
        raise invalid("metrics", "metrics cannot be queried multiple times")
    filtered = {f[1] for f in v2_filters}
    event_only = next((f for f in sorted(filtered) if f in EVENT_ONLY or f.startswith(PROPS_PREFIX)), None)
    for name in names:
        if name not in METRICS:
            raise invalid("metrics", f"the metric {name!r} is not recognized (known: {', '.join(METRICS)})")
        if name == "time_on_page":
            raise invalid("metrics", "'time_on_page' is not supported yet: the lake does not measure time on page")
        if name == "conversion_rate" and dimensions != ("event:goal",) and "event:goal" not in filtered:
            raise invalid("metrics", "'conversion_rate' can only be queried in a goal breakdown or with a goal filter")
        if name == "views_per_visit" and ("event:page" in filtered or dimensions):
            raise invalid("metrics", "'views_per_visit' cannot be queried with an event:page filter or in a breakdown")
        if name in SESSION_METRICS:
            if len(dimensions) == 1 and (dimensions[0] in EVENT_ONLY or dimensions[0].startswith(PROPS_PREFIX)):
                raise invalid("metrics", f"session metric {name!r} cannot be queried for breakdown by {dimensions[0]}")
            if event_only:
                raise invalid("metrics", f"session metric {name!r} cannot be queried with a filter on {event_only}")
    return names


def _common(given: dict, now_ms: int, sites) -> dict:
    """The v2 body's site, range and filters; with_imported=true is refused as v2 refuses imports."""
    if given.get("with_imported", "false") not in ("true", "false"):
        raise invalid("with_imported", "must be true or false")
    if given.get("with_imported") == "true":
        raise invalid("with_imported", "is not supported yet: LiveInsight has no imported data")
    site = _site(given)
    tz = plausible.site_timezone(sites, site) if isinstance(site, str) else "UTC"
    return {"site_id": site, "date_range": date_range(given, now_ms, tz), "filters": filters(given.get("filters"))}


def _compare(given: dict) -> dict:
    mode = given.get("compare")
    if mode is None:
        return {}
    if mode != "previous_period":
        raise invalid("compare", f"{mode!r}: the only comparison v1 offers is previous_period")
    return {"include": {"comparisons": {"mode": "previous_period"}}}


# --- endpoints -----------------------------------------------------------------------------------

def realtime_visitors(given: dict, ask, sites, retention_days: int, now_ms: int) -> int:
    """Visitors with an event in the last 5 minutes: a bare number, as Plausible answers it."""
    first = datetime.fromtimestamp((now_ms - REALTIME_MS) // 1000, tz=timezone.utc).isoformat()
    last = datetime.fromtimestamp(now_ms // 1000, tz=timezone.utc).isoformat()
    body = {"site_id": _site(given), "metrics": ["visitors"], "date_range": [first, last]}
    rows = plausible.run(body, ask, sites, retention_days, now_ms)["results"]
    return rows[0]["metrics"][0] if rows else 0


def aggregate(given: dict, ask, sites, retention_days: int, now_ms: int) -> dict:
    """{"results": {metric: {"value": v}}}; with compare, also "comparison_value" and "change"."""
    body = _common(given, now_ms, sites)
    names = metrics(given, (), body["filters"])
    answer = plausible.run({**body, "metrics": names, **_compare(given)}, ask, sites, retention_days, now_ms)
    row = answer["results"][0] if answer["results"] else {"metrics": [_empty(m) for m in names]}
    results = {}
    for i, name in enumerate(names):
        results[name] = {"value": _rounded(name, row["metrics"][i])}
        if "comparison" in row:
            results[name]["comparison_value"] = _rounded(name, row["comparison"]["metrics"][i])
            results[name]["change"] = row["comparison"]["change"][i]
    return {"results": results}


def breakdown(given: dict, ask, sites, retention_days: int, now_ms: int) -> dict:
    """{"results": [{<property key>: value, metric: value, ...}]} ordered by the first metric, then the
    property (Legacy.Breakdown); rows without a value are left out for visit properties that can lack one."""
    body = _common(given, now_ms, sites)
    prop = _property(given.get("property"))
    dimensions = ("visit:browser", prop) if prop == "visit:browser_version" else (
        ("visit:os", prop) if prop == "visit:os_version" else (prop,))
    names = metrics(given, (prop,), body["filters"])
    limit, page = _whole(given, "limit", DEFAULT_LIMIT, MAX_LIMIT), _whole(given, "page", 1, 10**6)
    v2_names = [_breakdown_metric(n, prop) for n in names]
    order = [[v2_names[0], "desc"]] + ([] if prop == "event:goal" else [[prop, "asc"]])
    extra = [["matches", prop, ["."]]] if prop in NON_EMPTY else []  # "." finds any non-empty value
    answer = plausible.run({**body, "filters": body["filters"] + extra, "metrics": v2_names,
                            "dimensions": list(dimensions), "order_by": order,
                            "pagination": {"limit": limit, "offset": (page - 1) * limit}, **_compare(given)},
                           ask, sites, retention_days, now_ms)
    keys = [_result_key(d) for d in dimensions]
    results = []
    for row in answer["results"]:
        out = {**dict(zip(keys, row["dimensions"], strict=True)), **dict(zip(names, row["metrics"], strict=True))}
        if "comparison" in row:
            out["comparison"] = {**dict(zip(names, row["comparison"]["metrics"], strict=True)),
                                 "change": dict(zip(names, row["comparison"]["change"], strict=True))}
        results.append(out)
    return {"results": results}


def timeseries(given: dict, ask, sites, retention_days: int, now_ms: int) -> dict:
    """{"results": [{"date": label, metric: value}]}, one row per bucket of the range (empty ones too)."""
    body = _common(given, now_ms, sites)
    interval = {"date": "day"}.get(given.get("interval", ""), given.get("interval"))
    if interval is not None and interval not in INTERVALS:
        raise invalid("interval", f"invalid interval {given['interval']!r} (known: day, month; date means day)")
    if interval is None:  # Plausible's Interval.default_for_period
        interval = {"day": "hour", "6mo": "month", "12mo": "month"}.get(given.get("period", "30d"), "day")
    names = metrics(given, (), body["filters"])
    time = f"time:{interval}"
    v2_names = ["group_conversion_rate" if n == "conversion_rate" else n for n in names]
    answer = plausible.run({**body, "metrics": v2_names, "dimensions": [time], "order_by": [[time, "asc"]],
                            "include": {"time_labels": True}}, ask, sites, retention_days, now_ms)
    found = {row["dimensions"][0]: row["metrics"] for row in answer["results"]}
    results = []
    for label in answer["meta"]["time_labels"]:
        values = found.get(label) or [_empty(n) for n in names]
        results.append({"date": label, **dict(zip(names, values, strict=True))})
    return {"results": results}


ENDPOINTS = {"realtime": realtime_visitors, "aggregate": aggregate, "breakdown": breakdown, "timeseries": timeseries}


def run(endpoint: str, given: dict, ask, sites, retention_days: int, now_ms: int):
    """One v1 request (its query parameters, one value each) answered through the v2 query."""
    return ENDPOINTS[endpoint](given, ask, sites, retention_days, now_ms)


# --- helpers -------------------------------------------------------------------------------------

def _property(value: str | None) -> str:
    if value is None:
        raise invalid("property", "is required: the property to break down by (e.g. event:page)")
    if value == "event:hostname":
        raise invalid("property", "'event:hostname' is not supported for breakdowns (as in Plausible)")
    if value not in PROPERTIES and not (value.startswith(PROPS_PREFIX) and len(value) > len(PROPS_PREFIX)):
        raise invalid("property", f"invalid property {value!r} (known: {', '.join(PROPERTIES)}, {PROPS_PREFIX}<name>)")
    return value


def _whole(given: dict, name: str, default: int, most: int) -> int:
    raw = given.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise invalid(name, f"must be a whole number from 1 to {most}, got {raw!r}")
    return int(raw)


def _breakdown_metric(name: str, prop: str) -> str:
    # Legacy.Breakdown: conversion_rate by anything but a goal or a property is the group's rate.
    if name == "conversion_rate" and prop != "event:goal" and not prop.startswith(PROPS_PREFIX):
        return "group_conversion_rate"
    return name


def _result_key(dimension: str) -> str:
    """Legacy.Breakdown's key: a custom property's name, else the name after `event:` or `visit:`."""
    if dimension.startswith(PROPS_PREFIX):
        return dimension[len(PROPS_PREFIX):]
    return dimension.split(":", 1)[1]


def _rounded(name: str, value):
    return round(value) if name in ROUNDED and value is not None else value


def _empty(name: str):
    """An empty bucket's value: no visits have no duration; rates and ratios are 0.0, counts 0."""
    if name == "visit_duration":
        return None
    return 0.0 if name in ("views_per_visit", "conversion_rate") else 0

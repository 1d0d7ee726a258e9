"""Plausible's Stats API v2 (`POST /api/v2/query`) on the event lake: one query answered (run), the
lake's answer in Plausible's response shape (respond) and with include.comparisons (compare).

Pure: the caller passes the clock (`now_ms`), the configured sites and a function that answers a lake
request (in process, or the query function). The request side is plausible_request.py, date ranges
plausible_dates.py, errors plausible_errors.py; their public names are importable from here too.
docs/api.md lists what is supported and what is not yet. Ranges, buckets and labels are in the site's
time zone (plausible_dates.py).
"""

from __future__ import annotations

from dataclasses import replace

from chalicelib.core.goals import revenue_json
from chalicelib.query import comparisons
from chalicelib.query.description import MAX_LIMIT, REVENUE_METRICS, TIME_DIMENSIONS
from chalicelib.query.plausible_dates import (  # noqa: F401 (re-exported)
    SHORTCUTS,
    _date,
    _explicit_range,
    _iso,
    auto_time_dimension,
    comparison_range,
    resolve_date_range,
    time_labels,
)
from chalicelib.query.plausible_errors import checked, error_body, invalid, request_body  # noqa: F401
from chalicelib.query.plausible_request import (  # noqa: F401 (re-exported)
    NOT_YET_DIMENSIONS,
    NOT_YET_METRICS,
    NOT_YET_OPERATORS,
    PERCENTAGE,
    Translated,
    _check_filter,
    site_goals,
    site_timezone,
    translate,
)


def compare(query: Translated, main: dict, ask) -> dict:
    """The main response with each row's comparison (a second lake query over the comparison period,
    every group, so each row of the page finds its own), and meta.comparison_date_range."""
    start_ms, end_ms = query.comparison_range
    within = {"time_range_ms": [start_ms, end_ms]}
    other = replace(query, lake={**query.lake, **within, "limit": MAX_LIMIT, "offset": 0},
                    total={**query.total, **within} if query.total else None,
                    first_date=_date(start_ms, query.timezone),
                    time_labels=None, total_rows=False, slice_here=False)
    answer = checked(ask(other.lake))
    total = checked(ask(other.total)) if other.total else None
    compared = respond(other, answer, total)
    dimensions = query.echo["dimensions"]
    times = [d for d in dimensions if d in TIME_DIMENSIONS]
    labels = compared_labels = descending = None
    if times:
        labels = time_labels(times[0], *query.lake["time_range_ms"], query.timezone)
        compared_labels = time_labels(times[0], start_ms, end_ms, query.timezone)
        first_order = query.echo["order_by"][0]
        descending = first_order[1] == "desc" if first_order[0] == times[0] else None
    results = comparisons.merge(main["results"], compared["results"], query.metrics, dimensions, labels,
                                compared_labels, descending)
    meta = {**main["meta"], "comparison_date_range": [_iso(start_ms, query.timezone),
                                                      _iso(end_ms - 1000, query.timezone)]}
    meta["liveinsight"] = main["meta"]["liveinsight"] + compared["meta"]["liveinsight"]
    if len(answer["results"]) >= MAX_LIMIT:  # the comparison has more groups than the lake answers
        meta["comparison_rows_capped"] = True
    return {"results": results, "meta": meta, "query": main["query"]}


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
    if total is not None:
        divisor = total["results"][0]["metrics"][0] if total["results"] else 0
    else:
        divisor = answer.get("total_visitors", 0)
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


def run(body: object, ask, sites, retention_days: int, now_ms: int) -> dict:
    """One Plausible query answered: `ask(lake_request)` returns the lake's answer (runner.answer's shape)."""
    query = translate(body, sites, retention_days, now_ms)
    answer = checked(ask(query.lake))
    total = checked(ask(query.total)) if query.total else None
    if query.comparison_range:
        return compare(query, respond(query, answer, total), ask)
    return respond(query, answer, total)



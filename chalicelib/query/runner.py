"""The query function's use case: parse a request, pick the engine by the Parquet bytes it would
read (DuckDB here up to settings.lake_embedded_limit_bytes, Athena beyond), run, answer.

Bad input is an answer ({"error": ..., "status": 400}), never an exception: the API maps it to 400.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from chalicelib.core.metrics import LAKE_QUERY_BYTES
from chalicelib.lake.layout import PartitionFiles, partitions_between
from chalicelib.query import sql_visit_parts as visit_parts
from chalicelib.query.builder import (
    DUCKDB,
    ENGAGEMENT_PARTS,
    TOTAL_VISITORS,
    TRINO,
    Scan,
    build,
    build_rows,
    padded_dates,
)
from chalicelib.query.description import (
    GOAL_DIMENSION,
    MAX_LIMIT,
    PROPS_PREFIX,
    Condition,
    Logical,
    Query,
    QueryError,
    parse_query,
    revenue_goals,
    without_goal_conditions,
)

ENGINE_DIMENSION = "Engine"
DUCKDB_ENGINE, ATHENA_ENGINE = "duckdb", "athena"
DEFAULT_TIME_LEFT_SECONDS = 60.0
BYTES = "Bytes"
_CACHE = None  # one local cache per warm function instance


class EngineFailed(Exception):
    """The engine could not answer (not the request's fault)."""


def _cache():
    global _CACHE
    if _CACHE is None:
        from chalicelib.store.lake_duckdb import LakeCache

        _CACHE = LakeCache()
    return _CACHE


def memory_limit_mb() -> int:
    """DuckDB's share of the function's memory: the rest is Python, the Parquet reader's buffers."""
    function_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0)
    return int(function_mb * 0.7) if function_mb else 1024


def error_answer(exc: QueryError) -> dict:
    return {"status": 400, "error": {"code": "invalid_query", "message": str(exc), "field": exc.field}}


def _rate(numerator: int, divisor: int) -> float:
    # Plausible's conversion rates (special_metrics.ex: round(x / y * 100, 1), 0 without visitors): one
    # decimal, half to even as ClickHouse rounds a float, here on the exact ratio.
    return float(round(Fraction(numerator * 100, divisor), 1)) if divisor else 0.0


def _revenue(query: Query, parts: dict, goal: str | None) -> dict:
    """total_revenue and average_revenue of a row: {"value", "currency"} in the goal's currency (the
    revenue of events in other currencies is left out), or None without one currency."""
    currency = query.goal(goal).currency if goal is not None else revenue_goals(query)[1]
    if currency is None or "revenue_sum" not in parts:
        return {"total_revenue": None, "average_revenue": None}
    total = Fraction(Decimal(str(parts["revenue_sum"] or 0)))
    count = int(parts["revenue_count"] or 0)
    return {"total_revenue": {"value": float(round(total, 2)), "currency": currency},
            "average_revenue": {"value": float(round(total / count, 2)) if count else 0.0, "currency": currency}}


def metric_values(query: Query, parts: dict, dimensions: list | None = None, divisors: dict | None = None) -> list:
    """The query's metrics from the integer parts (one exact rounding, the same for both engines).
    `divisors`: the visitors without goal filters, in total ("total") and per group of the other
    dimensions ("groups"), for the conversion rates."""
    visits = parts["visits"] or 0
    divisors = divisors or {}

    def ratio(numerator: int, scale: int = 1) -> Fraction:
        return Fraction(numerator * scale, visits) if visits else Fraction(0)

    values = {
        "visitors": parts["visitors"], "visits": visits, "pageviews": parts["pageviews"], "events": parts["events"],
        "views_per_visit": float(round(ratio(parts["visit_pageviews"]), 2)),
        "bounce_rate": float(round(ratio(parts["bounces"], 100), 1)),
        "visit_duration": float(round(ratio(parts["duration_ms"]) / 1000, 1)),
    }
    if "conversion_rate" in query.metrics:
        values["conversion_rate"] = _rate(parts["visitors"], divisors.get("total", 0))
    if "group_conversion_rate" in query.metrics:
        key = tuple(v for d, v in zip(query.dimensions, dimensions or [], strict=True) if d != GOAL_DIMENSION)
        values["group_conversion_rate"] = _rate(parts["visitors"], divisors.get("groups", {}).get(key, 0))
    if "time_on_page" in query.metrics:
        engaged = parts.get("engaged_visits") or 0
        # Plausible: whole seconds per visit with engagement (rounded half to even, as ClickHouse's
        # round of a float), null without any
        values["time_on_page"] = round(Fraction(parts["engaged_ms_sum"] or 0, 1000 * engaged)) if engaged else None
    if "scroll_depth" in query.metrics:
        scrolled = parts.get("scroll_visits") or 0
        values["scroll_depth"] = round(Fraction(parts["scroll_sum"] or 0, scrolled)) if scrolled else None
    if "total_revenue" in query.metrics or "average_revenue" in query.metrics:
        goal = dimensions[query.dimensions.index(GOAL_DIMENSION)] if GOAL_DIMENSION in query.dimensions else None
        values.update(_revenue(query, parts, goal))
    return [values[m] for m in query.metrics]


def results(query: Query, columns: list[str], rows: list[tuple], divisors: dict | None = None) -> list[dict]:
    out = []
    for row in rows:
        named = dict(zip(columns, row, strict=True))
        parts = {k: int(named[k] or 0) for k in ("visitors", "visits", "pageviews", "events", "bounces",
                                                  "duration_ms", "visit_pageviews")}
        parts.update({k: named[k] for k in ("revenue_sum", "revenue_count") if k in named})
        parts.update({k: int(named[k] or 0) for k in ENGAGEMENT_PARTS if k in named})
        dimensions = [named[f"d{i}"] for i in range(len(query.dimensions))]
        out.append({"dimensions": dimensions, "metrics": metric_values(query, parts, dimensions, divisors)})
    return out


def without_goals(query: Query, dimensions: tuple[str, ...]) -> Query:
    """The visitors a conversion rate divides by: the query without its goal filters (at any depth)
    and its top-level property filters (Plausible's remove_top_level_filters(["event:goal",
    "event:props"]): "signups with plan=pro" divide by every visitor), grouped by `dimensions`."""
    node = without_goal_conditions(_without_top_level_props(query.filter))
    return replace(query, metrics=("visitors",), dimensions=dimensions, filter=node, order_by=(), limit=MAX_LIMIT,
                   offset=0)


def _without_top_level_props(node):
    def is_props(child) -> bool:
        return isinstance(child, Condition) and child.dimension.startswith(PROPS_PREFIX)

    if is_props(node):
        return None
    if isinstance(node, Logical) and node.operator == "and":
        kept = tuple(c for c in node.children if not is_props(c))
        return (kept[0] if len(kept) == 1 else Logical("and", kept)) if kept else None
    return node


def divisor_queries(query: Query) -> dict[str, Query]:
    out = {}
    if "conversion_rate" in query.metrics:
        out["total"] = without_goals(query, ())
    if "group_conversion_rate" in query.metrics:
        out["groups"] = without_goals(query, tuple(d for d in query.dimensions if d != GOAL_DIMENSION))
    return out


def divisors_of(answers: dict[str, tuple[list, list]]) -> dict:
    """{"total": visitors, "groups": {dimension values: visitors}} from the divisor queries' rows."""
    out: dict = {}
    for name, (columns, rows) in answers.items():
        named = [dict(zip(columns, row, strict=True)) for row in rows]
        if name == "total":
            out["total"] = int(named[0]["visitors"] or 0) if named else 0
        else:
            width = sum(1 for c in columns if c.startswith("d") and c[1:].isdigit())
            out["groups"] = {tuple(r[f"d{i}"] for i in range(width)): int(r["visitors"] or 0) for r in named}
    return out


def plan(query: Query, objects) -> list[PartitionFiles]:
    from chalicelib.store.lake_duckdb import resolve_partitions

    first, last = (date.fromisoformat(d) for d in padded_dates(query))
    return resolve_partitions(objects, partitions_between(query.site, first, last))


def athena_scan(query: Query, files: list[PartitionFiles], bucket: str) -> Scan:
    """Athena reads every object it finds in a partition when the query runs: a compaction or an
    erasure finishing meanwhile would show it an object and the ones it replaces. So the query names
    the live objects it planned with (`$path`), in every partition that has any: the answer is that
    snapshot's, whatever rewrites run during it."""
    first, last = padded_dates(query)
    live = {f.partition.date: tuple(f"s3://{bucket}/{o.key}" for o in f.live) for f in files if f.live}
    return Scan(query.site, first, last, live or None, dedupe_dates(files))


def dedupe_dates(files: list[PartitionFiles]) -> tuple[str, ...]:
    return tuple(f.partition.date for f in files if len(f.live) > 1)


def answer(request: dict, objects, settings, metrics, *, time_left_seconds: float | None = None,
           athena=None, cache=None, rows: bool = False) -> dict:
    """{"results": [...], "meta": {...}}, or {"status": 400, "error": {...}} for a bad request."""
    started = time.perf_counter()
    try:
        query = parse_query(request)
        if settings.sites and query.site not in settings.sites:
            raise QueryError("site", f"unknown site {query.site!r}")
    except QueryError as exc:
        return error_answer(exc)
    files = plan(query, objects)
    planned_bytes = sum(f.size_bytes for f in files)
    engine = DUCKDB_ENGINE if planned_bytes <= settings.lake_embedded_limit_bytes else ATHENA_ENGINE
    make = build_rows if rows else build

    def run(one: Query) -> tuple[list, list, dict]:
        if engine == DUCKDB_ENGINE:
            return run_duckdb(one, files, objects, settings, make, cache)
        return run_athena(one, files, settings, make, athena, time_left_seconds or DEFAULT_TIME_LEFT_SECONDS)

    try:
        columns, found, meta = run(query)
        extra = {} if rows else {name: run(q) for name, q in divisor_queries(query).items()}
    except QueryError as exc:
        return error_answer(exc)
    except EngineFailed as exc:
        return {"status": 503, "error": {"code": "engine_failed", "message": str(exc)}}
    for _, _, more in extra.values():  # the divisor queries read the same objects again
        meta["bytes_read"] += more["bytes_read"]
    metrics.job({LAKE_QUERY_BYTES: (meta["bytes_read"], BYTES)}, {ENGINE_DIMENSION: engine})
    meta.update(engine=engine, planned_bytes=planned_bytes, partitions=len(files),
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
    if rows:
        return {"columns": columns, "rows": [list(r) for r in found], "meta": meta}
    divisors = divisors_of({name: (c, r) for name, (c, r, _) in extra.items()})
    out = {"results": results(query, columns, found, divisors), "meta": meta}
    if query.with_total:  # the same on every row; no row, no visitor
        out[TOTAL_VISITORS] = int(found[0][columns.index(TOTAL_VISITORS)] or 0) if found else 0
    return out


def run_duckdb(query, files, objects, settings, make, cache) -> tuple[list, list, dict]:
    import duckdb

    from chalicelib.store.lake_duckdb import run_sql

    _check_patterns(query, duckdb)
    first, last = padded_dates(query)
    # Days whose visit parts stand for their events in this query (the tiles' visit totals), if it has any
    # (the aggregate's builder only: raw rows and funnels need every event)
    parts = ((lambda one: visit_parts.stands_for_events(query, one))
             if make is build and visit_parts.answers(query) else None)

    read_as_parts: list[str] = []

    def sql(resolved: list[PartitionFiles]) -> str:
        by_parts = [f for f in resolved if parts is not None and parts(f)]
        read_as_parts[:] = [f.partition.date for f in by_parts]
        by_events = [f for f in resolved if f not in by_parts]
        scan = Scan(query.site, first, last, dedupe_dates=dedupe_dates(by_events), parts_dates=tuple(read_as_parts))
        return make(query, scan).sql(dialect=DUCKDB)

    try:
        result = run_sql(objects, files, sql, cache=cache or _cache(), bucket=settings.lake_bucket or "lake",
                         memory_limit_mb=memory_limit_mb(), parts=parts)
    except duckdb.InvalidInputException as exc:  # e.g. a regular expression RE2 refuses
        raise QueryError("filters", f"the engine refused a filter value: {exc}") from None
    except duckdb.Error as exc:
        raise EngineFailed(f"DuckDB: {exc}") from exc
    return result.columns, result.rows, {"bytes_read": result.bytes_read, "files_read": result.files_read,
                                         "downloaded_bytes": result.downloaded_bytes,
                                         "partitions_read_as_visit_parts": len(read_as_parts)}


def _patterns(node) -> list[str]:
    if node is None:
        return []
    if isinstance(node, Condition):
        if node.operator.removesuffix("_not") != "matches":
            return []
        return [v if node.case_sensitive else "(?i)" + v for v in node.values]  # as sql_filters writes them
    return [p for child in node.children for p in _patterns(child)]


def _check_patterns(query: Query, duckdb) -> None:
    """A pattern RE2 refuses is a 400 whatever the range holds: in the query the engine only compiles it
    when a row reaches the test, and a range whose rows the time condition leaves out would answer 0."""
    if not (patterns := _patterns(query.filter)):
        return
    con = duckdb.connect()
    try:
        for pattern in patterns:
            con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.InvalidInputException as exc:
        raise QueryError("filters", f"the engine refused a filter value: {exc}") from None
    finally:
        con.close()


def run_athena(query, files, settings, make, athena, time_left_seconds: float) -> tuple[list, list, dict]:
    from chalicelib.store.athena import AthenaError, AthenaRunner, create_athena_client

    runner = athena or AthenaRunner(create_athena_client(), settings.athena_workgroup, settings.athena_database)
    sql = make(query, athena_scan(query, files, settings.lake_bucket)).sql(dialect=TRINO)
    try:
        result = runner.run(sql, time_left_seconds)
    except AthenaError as exc:
        raise EngineFailed(str(exc)) from exc
    live = sum(len(f.live) for f in files)
    return result.columns, result.rows, {"bytes_read": result.bytes_scanned, "files_read": live,
                                         "execution_id": result.execution_id}

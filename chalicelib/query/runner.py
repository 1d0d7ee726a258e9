"""The query function's use case: parse a request, pick the engine by the Parquet bytes it would
read (DuckDB here up to settings.lake_embedded_limit_bytes, Athena beyond), run, answer.

Bad input is an answer ({"error": ..., "status": 400}), never an exception: the API maps it to 400.
"""

from __future__ import annotations

import os
import time
from datetime import date
from fractions import Fraction

from chalicelib.core.metrics import LAKE_QUERY_BYTES
from chalicelib.lake.layout import PartitionFiles, partitions_between
from chalicelib.query.builder import DUCKDB, TRINO, Scan, build, build_rows, padded_dates
from chalicelib.query.description import Query, QueryError, parse_query

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


def metric_values(query: Query, parts: dict) -> list:
    """The query's metrics from the integer parts (one exact rounding, the same for both engines)."""
    visits = parts["visits"] or 0

    def ratio(numerator: int, scale: int = 1) -> Fraction:
        return Fraction(numerator * scale, visits) if visits else Fraction(0)

    values = {
        "visitors": parts["visitors"], "visits": visits, "pageviews": parts["pageviews"], "events": parts["events"],
        "views_per_visit": float(round(ratio(parts["visit_pageviews"]), 2)),
        "bounce_rate": float(round(ratio(parts["bounces"], 100), 1)),
        "visit_duration": float(round(ratio(parts["duration_ms"]) / 1000, 1)),
    }
    return [values[m] for m in query.metrics]


def results(query: Query, columns: list[str], rows: list[tuple]) -> list[dict]:
    out = []
    for row in rows:
        named = dict(zip(columns, row, strict=True))
        parts = {k: int(named[k] or 0) for k in ("visitors", "visits", "pageviews", "events", "bounces",
                                                  "duration_ms", "visit_pageviews")}
        dimensions = [named[f"d{i}"] for i in range(len(query.dimensions))]
        out.append({"dimensions": dimensions, "metrics": metric_values(query, parts)})
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
    try:
        if engine == DUCKDB_ENGINE:
            columns, found, meta = _run_duckdb(query, files, objects, settings, make, cache)
        else:
            columns, found, meta = _run_athena(query, files, settings, make, athena,
                                               time_left_seconds or DEFAULT_TIME_LEFT_SECONDS)
    except QueryError as exc:
        return error_answer(exc)
    except EngineFailed as exc:
        return {"status": 503, "error": {"code": "engine_failed", "message": str(exc)}}
    metrics.job({LAKE_QUERY_BYTES: (meta["bytes_read"], BYTES)}, {ENGINE_DIMENSION: engine})
    meta.update(engine=engine, planned_bytes=planned_bytes, partitions=len(files),
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
    if rows:
        return {"columns": columns, "rows": [list(r) for r in found], "meta": meta}
    return {"results": results(query, columns, found), "meta": meta}


def _run_duckdb(query, files, objects, settings, make, cache) -> tuple[list, list, dict]:
    import duckdb

    from chalicelib.store.lake_duckdb import run_sql

    first, last = padded_dates(query)
    def sql(resolved: list[PartitionFiles]) -> str:
        return make(query, Scan(query.site, first, last, dedupe_dates=dedupe_dates(resolved))).sql(dialect=DUCKDB)

    try:
        result = run_sql(objects, files, sql, cache=cache or _cache(), bucket=settings.lake_bucket or "lake",
                         memory_limit_mb=memory_limit_mb())
    except duckdb.InvalidInputException as exc:  # e.g. a regular expression RE2 refuses
        raise QueryError("filters", f"the engine refused a filter value: {exc}") from None
    except duckdb.Error as exc:
        raise EngineFailed(f"DuckDB: {exc}") from exc
    return result.columns, result.rows, {"bytes_read": result.bytes_read, "files_read": result.files_read,
                                         "downloaded_bytes": result.downloaded_bytes}


def _run_athena(query, files, settings, make, athena, time_left_seconds: float) -> tuple[list, list, dict]:
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

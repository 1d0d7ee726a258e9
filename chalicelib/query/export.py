"""Raw export of the lake (GET /export, run by the query function): one site's events of a range, one
row per event_id, ordered by time, written by DuckDB as CSV or Parquet under exports/ in the lake
bucket and handed out as a presigned link. Bad input is a 400 answer, an engine failure a 503 answer.

Columns: every column of schema/lake.py, then site and date. No IP address exists in the lake.
CSV cells of text that a spreadsheet would run as a formula (starting with = + - @ tab or CR) get a
leading ' (OWASP, "CSV Injection"); times are ISO-8601 UTC with milliseconds; properties are JSON.
Parquet keeps the lake's types and compression.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import datetime, timezone
from typing import Protocol

from chalicelib.core.errors import ApiError
from chalicelib.core.metrics import LAKE_QUERY_BYTES
from chalicelib.core.settings import SITE_ID_PATTERN
from chalicelib.schema.lake import COLUMN_NAMES, COLUMNS, STRING, STRING_MAP, TIMESTAMP

EXPORTS_PREFIX = "exports/"  # terraform/modules/lake expires it after a day; only the query function writes it
EXPORT_COLUMNS = (*COLUMN_NAMES, "site", "date")
LINK_SECONDS = 900  # the presigned link's life
MAX_EXPORT_DAYS = 31
# The objects read and the file built share the function's /tmp (512 MB) and the API's 27 s wait: a
# CSV is ~5 times the compacted Parquet it comes from (~200 B an event), so at most this much is read.
MAX_EXPORT_PARQUET_BYTES = 64_000_000
DAY_MS = 86_400_000
FORMATS = {"csv": (".csv", "text/csv; charset=utf-8"), "parquet": (".parquet", "application/vnd.apache.parquet")}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ISO_MS = "%Y-%m-%dT%H:%M:%S.%gZ"  # DuckDB's strftime: %g is milliseconds
_FIELDS = {"site", "time_range_ms", "format"}


class ExportFiles(Protocol):
    def put_file(self, key: str, path: str, content_type: str, download_name: str) -> None: ...

    def link(self, key: str, expires_seconds: int) -> str: ...


class ExportError(ValueError):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code


def export_request(site: str, from_ms: int, to_ms: int, fmt: str) -> dict:
    """The query function's request for an export (its one entry point tells it by the `export` key)."""
    return {"export": {"site": site, "time_range_ms": [from_ms, to_ms], "format": fmt}}


def _bad(exc: ExportError) -> dict:
    return {"status": 400, "error": {"code": exc.code, "message": str(exc), "field": exc.field}}


def parse_export(request: object, sites) -> tuple[str, int, int, str]:
    if not isinstance(request, dict) or set(request) - _FIELDS:
        raise ExportError("export", "invalid_export", f"an export is an object of {', '.join(sorted(_FIELDS))}")
    site = request.get("site")
    if not isinstance(site, str) or not SITE_ID_PATTERN.match(site) or (sites and site not in sites):
        raise ExportError("site", "unknown_site", f"site {str(site)[:64]!r} is not configured")
    span = request.get("time_range_ms")
    if not (isinstance(span, list) and len(span) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in span) and span[0] < span[1]):
        raise ExportError("from", "invalid_range", "time_range_ms is [start, end) in epoch milliseconds, start < end")
    if span[1] - span[0] > MAX_EXPORT_DAYS * DAY_MS:
        raise ExportError("from", "range_too_long", f"an export covers at most {MAX_EXPORT_DAYS} days")
    fmt = request.get("format", "csv")
    if fmt not in FORMATS:
        raise ExportError("format", "invalid_format", f"format must be one of {', '.join(FORMATS)}")
    return site, span[0], span[1], fmt


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _compact(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def formula_safe(text: str) -> str:
    """A text cell a spreadsheet would not run as a formula (the same rule as csv_cell's SQL)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(name: str, kind: str) -> str:
    """The DuckDB expression of one CSV cell (names come from the schema, never from a request)."""
    column = f'"{name}"'
    if kind == TIMESTAMP:
        return f"STRFTIME({column}, '{ISO_MS}') AS {column}"
    if kind == STRING_MAP:
        return f"CAST(TO_JSON({column}) AS VARCHAR) AS {column}"
    if kind == STRING:
        starts = ", ".join("CHR(9)" if c == "\t" else "CHR(13)" if c == "\r" else f"'{c}'" for c in FORMULA_STARTS)
        return f"CASE WHEN LEFT({column}, 1) IN ({starts}) THEN '''' || {column} ELSE {column} END AS {column}"
    return column  # numbers (a negative revenue is a number, not a formula)


def copy_sql(query, resolved, fmt: str, path: str) -> str:
    """COPY of the range's rows (de-duplicated where a partition has several objects) to `path`."""
    from sqlglot import exp, parse_one

    from chalicelib.lake import parquet
    from chalicelib.query.builder import DUCKDB, Scan, build_rows
    from chalicelib.query.runner import dedupe_dates

    scan = Scan(query.site, query.first_date.isoformat(), query.last_date.isoformat(),
                dedupe_dates=dedupe_dates(resolved))
    tree = build_rows(query, scan, columns=EXPORT_COLUMNS)
    if fmt == "csv":
        kinds = {c.name: c.type for c in COLUMNS}
        cells = [parse_one(csv_cell(name, kinds.get(name, "")), read=DUCKDB) for name in EXPORT_COLUMNS]
        # Ordered by the source columns ("ev"), not by the formatted cells of the same names.
        tree = tree.select(*cells, append=False).order_by(
            exp.column("time", table="ev", quoted=True), exp.column("event_id", table="ev", quoted=True),
            append=False)
        options = "FORMAT csv, HEADER true"
    else:
        options = f"FORMAT parquet, COMPRESSION {parquet.COMPRESSION}, ROW_GROUP_SIZE {parquet.ROW_GROUP_ROWS}"
    return f"COPY ({tree.sql(dialect=DUCKDB)}) TO {exp.Literal.string(path).sql(dialect=DUCKDB)} ({options})"


def export(request: dict, objects, files: ExportFiles, settings, metrics, *, now_ms: int, cache=None) -> dict:
    """{"url", "rows", "bytes", "expires_at", "key", "format", "meta"}, or {"status": 400|503, "error"}."""
    started = time.perf_counter()
    try:
        site, start_ms, end_ms, fmt = parse_export(request.get("export"), settings.sites)
    except ExportError as exc:
        return _bad(exc)
    import duckdb

    from chalicelib.lake.layout import partitions_between
    from chalicelib.query import runner
    from chalicelib.query.description import Query
    from chalicelib.store.lake_duckdb import resolve_partitions, run_sql

    query = Query(site=site, start_ms=start_ms, end_ms=end_ms, metrics=("events",))
    planned = resolve_partitions(objects, partitions_between(site, query.first_date, query.last_date))
    planned_bytes = sum(f.size_bytes for f in planned)
    limit_bytes = min(settings.lake_embedded_limit_bytes, MAX_EXPORT_PARQUET_BYTES)
    if planned_bytes > limit_bytes:
        return _bad(ExportError("from", "export_too_large", f"the range holds {planned_bytes} bytes of Parquet, "
                                f"more than one export builds ({limit_bytes}): split it, or use make sql"))
    extension, content_type = FORMATS[fmt]
    key = f"{EXPORTS_PREFIX}{site}/{_compact(now_ms)}-{uuid.uuid4().hex[:16]}{extension}"
    with tempfile.TemporaryDirectory(prefix="export-") as work:
        path = os.path.join(work, "export" + extension)
        try:
            result = run_sql(objects, planned, lambda resolved: copy_sql(query, resolved, fmt, path),
                             cache=cache or runner._cache(), bucket=settings.lake_bucket or "lake",
                             memory_limit_mb=runner.memory_limit_mb())
        except duckdb.Error as exc:
            return {"status": 503, "error": {"code": "engine_failed", "message": f"DuckDB: {exc}"}}
        size_bytes = os.path.getsize(path)
        download_name = f"liveinsight-{site}-{_compact(start_ms)}-{_compact(end_ms)}{extension}"
        files.put_file(key, path, content_type, download_name)
    metrics.job({LAKE_QUERY_BYTES: (result.bytes_read, runner.BYTES)}, {runner.ENGINE_DIMENSION: runner.DUCKDB_ENGINE})
    return {"url": files.link(key, LINK_SECONDS), "rows": int(result.rows[0][0]), "bytes": size_bytes,
            "expires_at": _iso(now_ms + LINK_SECONDS * 1000), "key": key, "format": fmt,
            "meta": {"bytes_read": result.bytes_read, "files_read": result.files_read, "partitions": len(planned),
                     "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}}


def checked(answer: dict) -> dict:
    """The query function's answer as the API's: its 400s stay 400s, an engine failure is a 503."""
    status = answer.get("status")
    if status is None:
        return answer
    error = answer.get("error") or {}
    if status == 400:
        raise ApiError(400, error.get("code", "invalid_export"), error.get("message", "invalid export"),
                       field=error.get("field"))
    raise ApiError(503, error.get("code", "engine_failed"), "the export could not be built; try again shortly",
                   headers={"Retry-After": "5"})

"""Lake rows to Parquet and back, with DuckDB (from the lake layer; never INSTALLs an extension).

A row is a dict of schema.lake column names: timestamps as epoch milliseconds, `properties` a dict
of strings, `revenue_amount` a decimal string. Rows travel to DuckDB as newline-delimited JSON in a
temporary file (DuckDB reads it natively, ~100,000 rows a second), so no dataframe library is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import timezone
from pathlib import Path

from chalicelib.schema.lake import COLUMNS, STRING_MAP, TIMESTAMP

COMPRESSION = "zstd"
# Rows per row group: a compacted day of a busy site is a few row groups a scan can skip by
# min/max statistics; DuckDB's default (122,880) would make hundreds of tiny groups.
ROW_GROUP_ROWS = 1_000_000


def _json_type(column) -> str:
    if column.type == TIMESTAMP:
        return "BIGINT"
    if column.type == STRING_MAP:
        return "JSON"
    return "VARCHAR" if column.duckdb_type.startswith("DECIMAL") else column.duckdb_type


def _select_typed() -> str:
    """Each JSON field turned into its column's type (names come from the schema, never from input)."""
    parts = []
    for column in COLUMNS:
        name = f'"{column.name}"'
        if column.type == TIMESTAMP:
            parts.append(f"make_timestamp_ms({name}) AS {name}")
        else:
            parts.append(f"CAST({name} AS {column.duckdb_type}) AS {name}")
    return ", ".join(parts)


def connect(temp_dir: str | None = None):
    """A DuckDB connection for lake work: in memory, spilling to `temp_dir` (Lambda: /tmp)."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    if temp_dir:
        con.execute("SET temp_directory = ?", [temp_dir])
    return con


def load_rows(con, table: str, rows: Iterable[dict], work_dir: str) -> int:
    """Creates `table` (an identifier of ours) holding `rows`; returns how many."""
    path = os.path.join(work_dir, f"{table}.ndjson")
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
            count += 1
    columns = {c.name: _json_type(c) for c in COLUMNS}
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {_select_typed()} FROM read_json(?, "
                "format='newline_delimited', columns=?, maximum_object_size=1048576)", [path, columns])
    os.remove(path)
    return count


def copy_to_parquet(con, select_sql: str, path: str, parameters: list | None = None) -> None:
    """Writes the rows of `select_sql` (SQL of ours; values only as parameters) to a Parquet file."""
    con.execute(f"COPY ({select_sql}) TO '{_quoted_path(path)}' "
                f"(FORMAT parquet, COMPRESSION {COMPRESSION}, ROW_GROUP_SIZE {ROW_GROUP_ROWS})", parameters or [])


def _quoted_path(path: str) -> str:
    # Paths are ours (a temporary directory and our own object names), but quote them safely anyway.
    return str(path).replace("'", "''")


def rows_to_parquet(rows: list[dict]) -> bytes:
    """One Parquet object holding `rows` in schema order, sorted by time (scans skip by min/max)."""
    with tempfile.TemporaryDirectory(prefix="lake-") as work:
        con = connect(work)
        try:
            load_rows(con, "rows_in", rows, work)
            out = os.path.join(work, "out.parquet")
            copy_to_parquet(con, "SELECT * FROM rows_in ORDER BY time, event_id", out)
            return Path(out).read_bytes()
        finally:
            con.close()


def parquet_rows(body: bytes) -> list[dict]:
    """The rows of a Parquet object, as `rows_to_parquet` took them (for tests and tools)."""
    with tempfile.TemporaryDirectory(prefix="lake-") as work:
        path = os.path.join(work, "in.parquet")
        Path(path).write_bytes(body)
        con = connect(work)
        try:
            cursor = con.execute(f"SELECT * FROM read_parquet('{_quoted_path(path)}')")
            names = [d[0] for d in cursor.description]
            return [_plain(dict(zip(names, values, strict=True))) for values in cursor.fetchall()]
        finally:
            con.close()


def _plain(row: dict) -> dict:
    """DuckDB's Python values back to a row's: epoch milliseconds, decimal strings, a dict."""
    for column in COLUMNS:
        value = row.get(column.name)
        if value is None:
            continue
        if column.type == TIMESTAMP:
            row[column.name] = int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)
        elif column.duckdb_type.startswith("DECIMAL"):
            row[column.name] = format(value, "f")
        elif column.type == STRING_MAP:
            row[column.name] = dict(value)
    return {k: v for k, v in row.items() if v is not None}

"""`make sql`: a SQL prompt on the event lake.

Locally (`make local` running) the lake's live objects (chalicelib/lake/layout.py resolve: the newest
compacted object and the stream objects it does not replace) are copied from the emulator's S3 to a
temporary directory and read by DuckDB as the view `events`: every column of schema/lake.py, the
partitions `site` and `date`, and `$path` (the object a row came from, as in Athena). --site and --days
limit what is copied. With --athena (or --stage/STAGE naming a deployed stage) each statement runs in
Athena, in the workgroup and database of LIVEINSIGHT_ATHENA_WORKGROUP / LIVEINSIGHT_ATHENA_DATABASE
(`terraform output athena_workgroup` / `athena_database`), on the Glue table `events`.

Statements end with `;`; `.quit` (or Ctrl-D) ends. `-c "SQL"` runs one statement and exits.
The lake's rows are as stored: an event re-delivered in another stream object is in two objects until
compaction keeps one (GET /export and the query engine de-duplicate; SELECT DISTINCT ON (event_id) here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

HOST = "127.0.0.1"
DEFAULT_LAKE_BUCKET = "liveinsight-local-lake"  # scripts/local_stack.py's
MAX_CELL_CHARS = 60
ATHENA_SECONDS = 300.0  # one statement's time in Athena before it is stopped
PROMPT, MORE = "lake> ", "  ...> "

Runner = Callable[[str], tuple[list[str], list[tuple], str]]  # SQL -> columns, rows, a note


class LakeSqlError(Exception):
    """A statement failed (the prompt goes on; -c exits 1)."""


# --- printing -------------------------------------------------------------------------------------

def _text(value) -> str:
    if value is None:
        return "NULL"
    text = str(value).replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def _numeric(values: Iterable) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present)


def render(columns: list[str], rows: list[tuple]) -> str:
    """An aligned table (numbers to the right), then the number of rows."""
    cells = [[_text(v) for v in row] for row in rows]
    widths = [max([len(name)] + [len(r[i]) for r in cells]) for i, name in enumerate(columns)]
    right = [_numeric(row[i] for row in rows) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))

    out = [line(list(columns)), "-+-".join("-" * w for w in widths), *[line(r) for r in cells]]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(text.rstrip() for text in out)


# --- the local lake (DuckDB) -----------------------------------------------------------------------

def _local_environment() -> None:
    """The emulator of `make local` unless the shell points elsewhere (its credentials are any)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    port = os.environ.get("LIVEINSIGHT_DDB_PORT") or "8001"
    os.environ.setdefault("AWS_ENDPOINT_URL_S3", f"http://{HOST}:{port}")


def lake_partitions(objects, site: str | None, days: int | None, today: date):
    """The partitions holding objects, of one site and of the last `days` UTC days if asked."""
    from chalicelib.lake.layout import Partition, site_prefix
    from chalicelib.schema.lake import EVENTS_PREFIX

    first = (today - timedelta(days=days - 1)).isoformat() if days else ""
    found = set()
    for obj in objects.list(site_prefix(site) if site else EVENTS_PREFIX):
        try:
            partition = Partition.from_key(obj.key)
        except ValueError:
            continue
        if partition.date >= first:
            found.add(partition)
    return sorted(found)


def local_runner(bucket: str, site: str | None, days: int | None, work_dir: str, today: date) -> tuple[Runner, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.lake import parquet
    from chalicelib.store.lake import S3LakeObjects, create_s3_client
    from chalicelib.store.lake_duckdb import LakeCache, create_events_view, fetch_partitions, resolve_partitions

    objects = S3LakeObjects(create_s3_client(), bucket)
    try:
        partitions = lake_partitions(objects, site, days, today)
        cache = LakeCache(root=os.path.join(work_dir, "lake"))
        _, paths = fetch_partitions(objects, cache, resolve_partitions(objects, partitions))
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"cannot read s3://{bucket} at {os.environ['AWS_ENDPOINT_URL_S3']} ({exc}): "
                         "is `make local` running?") from None
    con = parquet.connect(os.path.join(work_dir, "spill"))
    create_events_view(con, "events", paths, cache.root, bucket)

    def run(sql: str) -> tuple[list[str], list[tuple], str]:
        import duckdb

        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise LakeSqlError(str(exc)) from None
        if cursor.description is None:
            return [], [], "done"
        return [d[0] for d in cursor.description], cursor.fetchall(), ""

    about = (f"DuckDB over s3://{bucket}: {len(partitions)} partition(s), {len(paths)} object(s), "
             f"{sum(p.stat().st_size for p in paths):,} bytes; view `events`")
    return run, about


# --- Athena ----------------------------------------------------------------------------------------

def athena_runner(timeout_seconds: float) -> tuple[Runner, str]:
    from chalicelib.store.athena import AthenaError, AthenaRunner, create_athena_client

    workgroup = os.environ.get("LIVEINSIGHT_ATHENA_WORKGROUP", "")
    database = os.environ.get("LIVEINSIGHT_ATHENA_DATABASE", "")
    if not (workgroup and database):
        raise SystemExit("Athena needs LIVEINSIGHT_ATHENA_WORKGROUP and LIVEINSIGHT_ATHENA_DATABASE "
                         "(terraform output -raw athena_workgroup / athena_database)")
    runner = AthenaRunner(create_athena_client(), workgroup, database)

    def run(sql: str) -> tuple[list[str], list[tuple], str]:
        try:
            result = runner.run(sql.strip().rstrip(";").strip(), timeout_seconds)
        except AthenaError as exc:
            raise LakeSqlError(str(exc)) from None
        return result.columns, result.rows, f"{result.bytes_scanned:,} bytes scanned ({result.execution_id})"

    return run, f"Athena: workgroup {workgroup}, database {database}, table `events`"


# --- the prompt ------------------------------------------------------------------------------------

def execute(run: Runner, sql: str, out) -> bool:
    try:
        columns, rows, note = run(sql)
    except LakeSqlError as exc:
        print(f"Error: {exc}", file=out)
        return False
    if columns:
        print(render(columns, rows), file=out)
    if note:
        print(note, file=out)
    return True


def prompt(run: Runner, read: Callable[[str], str], out, interactive: bool) -> None:
    """Statements end with ';'; `.quit` or the end of input ends."""
    buffer: list[str] = []
    while True:
        try:
            line = read((MORE if buffer else PROMPT) if interactive else "")
        except EOFError:
            break
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as psql does
            buffer = []
            print(file=out)
            continue
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit", "\\q"):
            break
        if not buffer and not stripped:
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            execute(run, "\n".join(buffer), out)
            buffer = []
    if buffer:
        execute(run, "\n".join(buffer), out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A SQL prompt on LiveInsight's event lake.")
    parser.add_argument("--site", help="only this site's partitions (local)")
    parser.add_argument("--days", type=int, help="only the last N UTC days (local)")
    parser.add_argument("--athena", action="store_true", help="run the statements in Athena")
    parser.add_argument("--stage", default=os.environ.get("STAGE", "local"),
                        help="local (DuckDB, the default) or a deployed stage (Athena)")
    parser.add_argument("-c", dest="command", help="run one statement and exit")
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: list[str] | None = None, out=sys.stdout) -> int:
    args = parse_args(argv)
    work_dir = tempfile.mkdtemp(prefix="lake-sql-")
    try:
        if args.athena or args.stage != "local":
            if args.site or args.days:
                print("note: --site/--days limit what is copied locally; in Athena say it in WHERE "
                      "(site = '...' AND date >= 'YYYY-MM-DD')", file=sys.stderr)
            run, about = athena_runner(ATHENA_SECONDS)
        else:
            _local_environment()
            bucket = os.environ.get("LIVEINSIGHT_LAKE_BUCKET") or DEFAULT_LAKE_BUCKET
            run, about = local_runner(bucket, args.site, args.days, work_dir, datetime.now(timezone.utc).date())
        if args.command is not None:
            return 0 if execute(run, args.command, out) else 1
        interactive = sys.stdin.isatty()
        if interactive:
            try:
                import readline  # noqa: F401 - line editing and history for input()
            except ImportError:
                pass
            print(f"{about}\nStatements end with ';'. .quit ends.", file=out)
        prompt(run, input if interactive else lambda _: _read_line(), out, interactive)
        return 0
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


if __name__ == "__main__":
    sys.exit(main())

"""DuckDB over the lake: the live objects of a query's partitions copied to a local cache (Lambda:
/tmp), laid out as events/site=S/date=D/name.parquet, and read with read_parquet. DuckDB reads no
object store itself (httpfs would be downloaded at run time: never)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlglot import exp

from chalicelib.lake import parquet
from chalicelib.lake.layout import VISIT_PARTS_PREFIX, LakeObject, Partition, PartitionFiles, resolve, site_prefix
from chalicelib.lake.ports import LakeObjects, ObjectMissing
from chalicelib.schema.lake import COLUMNS, PARTITION_KEYS

DEFAULT_CACHE_DIR = os.path.join(tempfile.gettempdir(), "liveinsight-lake")
DEFAULT_CACHE_BUDGET_BYTES = 400_000_000  # Lambda's /tmp is 512 MB unless configured larger
DEFAULT_MEMORY_LIMIT_MB = 1024
RESOLVE_ATTEMPTS = 4  # compaction replaced a listed object: list that partition again, this often
DOWNLOAD_THREADS = 8
LIST_THREADS = 16  # a partition's LIST and manifest GET wait on S3 (~20 ms each): 30 days in two rounds
PATH_COLUMN = "$path"
PARTS_TABLE = "visit_parts"  # query/sql_visit_parts.TABLE (the store does not import the query package)
T = TypeVar("T")


def resolve_partitions(objects: LakeObjects, partitions: Sequence[Partition]) -> list[PartitionFiles]:
    """The objects a query of these partitions reads (layout.resolve on each listing), in order.
    Days are listed a month at a time (events/site=S/date=YYYY-MM: a 30-day query LISTs twice, not 32
    times) and the manifests read in parallel: one after another, a 30-day query waited ~1 s on S3."""
    if len(partitions) <= 1:
        return [resolve_partition(objects, p) for p in partitions]
    months = sorted({_month_prefix(p) for p in partitions})
    with ThreadPoolExecutor(max_workers=min(LIST_THREADS, len(partitions))) as pool:
        listings = dict(zip(months, pool.map(lambda m: _shared(("list", id(objects), m), lambda: objects.list(m)),
                                             months), strict=True))
        return list(pool.map(lambda p: _resolve_listed(objects, p, listings[_month_prefix(p)]), partitions))


def _month_prefix(partition: Partition) -> str:
    return f"{site_prefix(partition.site)}date={partition.date[:7]}"  # every day of the month, none of another


def _resolve_listed(objects: LakeObjects, partition: Partition, month: list[LakeObject]) -> PartitionFiles:
    """One day of its month's listing (resolve skips the other days' keys)."""
    sizes = {o.key: o.size_bytes for o in month}
    try:
        return resolve(partition, month, lambda key: _manifest(objects, key, sizes.get(key)))
    except ObjectMissing:  # compaction replaced the manifest since the month was listed: list this day again
        return resolve_partition(objects, partition)


MANIFESTS_KEPT = 4096  # ~100 bytes each: a year of days of ten sites
_manifests: dict[tuple[str, int], bytes] = {}


def _manifest(objects: LakeObjects, key: str, size_bytes: int | None) -> bytes:
    """A manifest's body, read once per process: resolve reads generation N's manifest only once the
    compacted object N exists, and nothing writes that manifest again (the next compaction writes N+1),
    so the body of a key of the listed size never changes. Warm queries skip ~30 GETs (one per day)."""
    kept = _manifests.get((key, size_bytes)) if size_bytes is not None else None
    if kept is not None:
        return kept
    body = _shared(("get", id(objects), key), lambda: objects.get(key))
    if size_bytes == len(body):
        if len(_manifests) >= MANIFESTS_KEPT:
            _manifests.clear()
        _manifests[(key, size_bytes)] = body
    return body


_running: dict[tuple, Future] = {}
_running_lock = threading.Lock()


def _shared(key: tuple, call: Callable[[], T]) -> T:
    """call(), shared by the queries of one process that make the same S3 request while it is under way (a
    dashboard sends ~10 queries of the same days at once; a threaded server answers them together).
    Nothing is kept once it is answered: a later query asks S3 again."""
    with _running_lock:
        running = _running.get(key)
        if running is None:
            mine = _running[key] = Future()
    if running is not None:
        return running.result()
    try:
        value = call()
        mine.set_result(value)
        return value
    except BaseException as exc:
        mine.set_exception(exc)
        raise
    finally:
        with _running_lock:
            del _running[key]


def resolve_partition(objects: LakeObjects, partition: Partition) -> PartitionFiles:
    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            return resolve(partition, objects.list(partition.prefix), objects.get)
        except ObjectMissing:
            # The manifest went with an older generation between listing and reading: list again.
            if attempt == RESOLVE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class LakeCache:
    """Local copies of lake objects, named by key and checked by size (objects are never changed
    in place: a stream object rewritten by a re-delivered batch holds the same events)."""

    root: str = DEFAULT_CACHE_DIR
    budget_bytes: int = DEFAULT_CACHE_BUDGET_BYTES
    downloaded_bytes: int = 0
    downloaded_files: int = 0

    def path(self, key: str) -> Path:
        return Path(self.root) / key

    def fetch(self, objects: LakeObjects, obj: LakeObject) -> Path:
        """The local copy of `obj`, downloaded unless already here; ObjectMissing if it is gone."""
        local = self.path(obj.key)
        try:
            if local.stat().st_size == obj.size_bytes:
                os.utime(local)  # recently used: evicted last
                return local
        except FileNotFoundError:
            pass
        # a dashboard's concurrent queries of the same days download each object once
        body = _shared(("get", id(objects), obj.key), lambda: objects.get(obj.key))
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f".{local.name}.{os.getpid()}.{time.monotonic_ns()}")
        partial.write_bytes(body)
        os.replace(partial, local)  # readers never see half a file
        self.downloaded_bytes += len(body)
        self.downloaded_files += 1
        return local

    def evict(self, keep: set[Path]) -> int:
        """Deletes least recently used copies beyond the budget (never one in `keep`); bytes freed."""
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in Path(self.root).rglob("*.parquet")]
        total = sum(size for _, size, _ in files)
        freed = 0
        for _, size, path in sorted(files):
            if total - freed <= self.budget_bytes:
                break
            if path not in keep:
                path.unlink(missing_ok=True)
                freed += size
        return freed


def fetch_partitions(objects: LakeObjects, cache: LakeCache, files: list[PartitionFiles],
                     include_superseded: bool = False,
                     parts: Callable[[PartitionFiles], bool] | None = None) -> tuple[list[PartitionFiles], list[Path]]:
    """Local copies of every live object (and superseded ones if asked), or of a partition's visit parts
    instead where `parts` says so. A partition whose object vanished (compaction ran) is resolved again,
    at most RESOLVE_ATTEMPTS times."""
    resolved = list(files)
    paths: dict[int, list[Path]] = {}
    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        pending = list(range(len(resolved)))
        for attempt in range(RESOLVE_ATTEMPTS):
            futures = {i: [pool.submit(cache.fetch, objects, o)
                           for o in _wanted(resolved[i], include_superseded, parts)] for i in pending}
            retry = []
            for i, partition_futures in futures.items():
                try:
                    paths[i] = [f.result() for f in partition_futures]
                except ObjectMissing:
                    if attempt == RESOLVE_ATTEMPTS - 1:
                        raise
                    retry.append(i)
            for i in retry:
                resolved[i] = resolve_partition(objects, resolved[i].partition)
            pending = retry
            if not pending:
                break
    return resolved, [p for i in range(len(resolved)) for p in paths[i]]


def _wanted(files: PartitionFiles, include_superseded: bool,
            parts: Callable[[PartitionFiles], bool] | None) -> tuple[LakeObject, ...]:
    if parts is not None and files.visit_parts is not None and parts(files):
        return (files.visit_parts,)
    return files.live + (files.superseded if include_superseded else ())


def is_visit_parts(path: Path) -> bool:
    return path.name.startswith(VISIT_PARTS_PREFIX)


def _empty_table_sql(table: str) -> str:
    columns = [f'"{c.name}" {c.duckdb_type}' for c in COLUMNS + PARTITION_KEYS] + [f'"{PATH_COLUMN}" VARCHAR']
    return f'CREATE TEMP TABLE "{table}" ({", ".join(columns)})'


_databases: dict[tuple[str, int], object] = {}
_databases_lock = threading.Lock()


def _connection(spill_dir: str, memory_limit_mb: int):
    """A connection of its own (`.cursor()`: its view a TEMP one) to the process's DuckDB database for these
    settings, so a query pays no new database (~40 ms each on Lambda's CPU). Made under the lock: DuckDB's
    Python connection is not thread-safe, its cursors are."""
    key = (spill_dir, int(memory_limit_mb))
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            _databases.clear()  # one at a time: another cache or limit (tests) drops the old one
            database = _databases[key] = parquet.connect(spill_dir)
            database.execute("SET memory_limit = ?", [f"{int(memory_limit_mb)}MB"])
            database.execute("SET preserve_insertion_order = false")  # lets large sorts and aggregates stream
        return database.cursor()


def create_parts_view(con, paths: list[Path]) -> None:
    """sql_visit_parts.TABLE: the visit parts of these files with their partition's date."""
    files = exp.Array(expressions=[exp.Literal.string(str(p)) for p in sorted(paths)])
    con.execute(f'CREATE TEMP VIEW "{PARTS_TABLE}" AS SELECT * FROM read_parquet({files.sql("duckdb")}, '
                "hive_partitioning = true, hive_types = {'site': VARCHAR, 'date': VARCHAR})")


def create_events_view(con, table: str, paths: list[Path], cache_root: str, bucket: str) -> None:
    """`table`: the events of these files with their partitions (site, date as VARCHAR) and Athena's
    `$path` (s3://bucket/key), so Athena's SQL runs unchanged here. Paths are ours, quoted by sqlglot."""
    if not paths:
        con.execute(_empty_table_sql(table))
        return
    files = exp.Array(expressions=[exp.Literal.string(str(p)) for p in sorted(paths)])
    root_chars = len(str(Path(cache_root))) + 2  # the key starts after "<root>/"
    reader = (f"read_parquet({files.sql('duckdb')}, hive_partitioning = true, union_by_name = true, "
              "filename = true, hive_types = {'site': VARCHAR, 'date': VARCHAR})")
    prefix = exp.Literal.string(f"s3://{bucket}/").sql("duckdb")
    con.execute(f'CREATE TEMP VIEW "{table}" AS SELECT * EXCLUDE (filename), '
                f'{prefix} || substr(filename, {root_chars}) AS "{PATH_COLUMN}" FROM {reader}')


@dataclass
class DuckResult:
    columns: list[str]
    rows: list[tuple]
    bytes_read: int
    files_read: int
    downloaded_bytes: int
    elapsed_ms: float


def run_sql(objects: LakeObjects, files: list[PartitionFiles], sql: str | Callable[[list[PartitionFiles]], str], *,
            table: str = "events",
            cache: LakeCache | None = None, bucket: str = "lake", memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
            include_superseded: bool = False, parts: Callable[[PartitionFiles], bool] | None = None) -> DuckResult:
    """Runs DuckDB `sql` (built by query.builder; reads `table`) over the objects of `files`; a
    callable makes the SQL from the files as finally read (a partition compacted meanwhile is read
    again, and the SQL may depend on its objects). Partitions `parts` picks are read as their visit parts
    (the view sql_visit_parts.TABLE), not their events."""
    started = time.perf_counter()
    cache = cache or LakeCache()
    before = cache.downloaded_bytes
    resolved, paths = fetch_partitions(objects, cache, files, include_superseded, parts)
    Path(cache.root).mkdir(parents=True, exist_ok=True)
    con = _connection(os.path.join(cache.root, ".spill"), memory_limit_mb)
    try:
        create_events_view(con, table, [p for p in paths if not is_visit_parts(p)], cache.root, bucket)
        if any(is_visit_parts(p) for p in paths):
            create_parts_view(con, [p for p in paths if is_visit_parts(p)])
        cursor = con.execute(sql if isinstance(sql, str) else sql(resolved))
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    cache.evict(set(paths))
    return DuckResult(columns, rows, bytes_read=sum(p.stat().st_size for p in paths), files_read=len(paths),
                      downloaded_bytes=cache.downloaded_bytes - before,
                      elapsed_ms=round((time.perf_counter() - started) * 1000, 1))

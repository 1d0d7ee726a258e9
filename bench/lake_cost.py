"""The event lake's figures for `make bench`: stream writer throughput, a day of stream batches and
hourly compactions replayed with every S3 request counted, bytes per event after compaction, a 30-day
query over 1,000,000 events answered by DuckDB (time and peak memory, in a fresh process), and the
lake's part of the bill.

Run alone: `.venv/bin/python -m bench.lake_cost [--quick]`.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
from contextlib import redirect_stdout
from itertools import islice
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402
from bench.cli import bench_main  # noqa: E402
from bench.lake_workload import DAY_MS, day_rows  # noqa: E402

DAY0_MS = 1_761_955_200_000  # 2025-11-01T00:00Z
MINUTE_MS = 60_000
BATCH_RECORDS = 1000  # the event source mapping's batch size (deploy/package.py)
EVENTS_PER_PAGE_VIEW = 2.0  # a page view and its engagement event (the SDK's real pattern)
_FUNCTIONS = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["prod"]["lambda_functions"]
WRITER_MEMORY_GB = _FUNCTIONS["write_event_lake"]["lambda_memory_size"] / 1024  # as deployed
COMPACTION_MEMORY_GB = _FUNCTIONS["compact_lake"]["lambda_memory_size"] / 1024
QUERY_TARGET_SECONDS, QUERY_TARGET_MB, BYTES_PER_EVENT_TARGET, USD_TARGET = 2.0, 1024, 60, 0.10


class Counting:
    """tests/lakefakes.MemoryLakeObjects with request counts by S3 operation."""

    def __init__(self) -> None:
        from tests.lakefakes import MemoryLakeObjects

        self.inner = MemoryLakeObjects()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def requests(self) -> dict[str, int]:
        return {op: self.inner.count(op) for op in ("put", "get", "list", "delete")}


class Quiet:
    def job(self, *args, **kwargs) -> None:
        pass


def stored_record(row: dict, site: str) -> dict:
    """The events table item the collector would have stored for a lake row (what the stream carries)."""
    record = {k: v for k, v in row.items() if k not in {"time", "received_time", "engaged_ms", "scroll_pct",
                                                       "revenue_amount", "revenue_currency", "properties"}}
    record.update(pk=f"{site}#{row['event_id']}", site=site, time_ms=row["time"], received_ms=row["received_time"],
                  expires_at_s=row["received_time"] // 1000 + 400 * 86_400)
    properties = dict(row.get("properties") or {})
    if row["event_type"] == "engagement":
        properties.update(engaged_ms=row["engaged_ms"], scroll_pct=row["scroll_pct"])
    if properties:
        record["properties"] = properties
    if "revenue_amount" in row:
        record["revenue"] = {"amount": row["revenue_amount"], "currency": row["revenue_currency"]}
    return record


def stream_event(records: list[dict], first_sequence: int) -> dict:
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/LiveInsight-Events/stream/2025-11-01T00:00:00.000"

    def image(record: dict) -> dict:
        from decimal import Decimal

        def plain(value):
            if isinstance(value, float):
                return Decimal(str(value))
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {k: serialize(plain(v)) for k, v in record.items()}

    return {"Records": [{
        "eventID": f"{first_sequence + n:032x}", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "eventSourceARN": arn,
        "dynamodb": {"ApproximateCreationDateTime": r["received_ms"] / 1000, "Keys": {"pk": {"S": r["pk"]}},
                     "NewImage": image(r), "SequenceNumber": str(first_sequence + n), "SizeBytes": 500,
                     "StreamViewType": "NEW_IMAGE"},
    } for n, r in enumerate(records)]}


def measure_writer(events: int) -> dict:
    """Full batches of 1,000 records through write_stream_batch."""
    from chalicelib.lake.writer import write_stream_batch

    rows = list(day_rows("shop", DAY0_MS, events))[:events]
    records = [stored_record(r, "shop") for r in rows]
    batches = [stream_event(records[i:i + BATCH_RECORDS], 10**20 + i) for i in range(0, len(records), BATCH_RECORDS)]
    lake = Counting()
    started = time.perf_counter()
    for batch in batches:
        assert write_stream_batch(batch, lake, Quiet(), now_ms=DAY0_MS + DAY_MS) == {"batchItemFailures": []}
    seconds = time.perf_counter() - started
    return {"events": len(records), "batches": len(batches), "events_per_second": round(len(records) / seconds),
            "ms_per_full_batch": round(seconds * 1000 / len(batches), 1),
            "puts_per_1000_events": round(lake.requests()["put"] * 1000 / len(records), 2)}


def replay_day(page_views_per_month: int, hours: int) -> dict:
    """`hours` of one site's traffic as Lambda would deliver it (a batch a minute, at most 1,000
    records), with hourly compactions and a last one after the day closed; every request counted."""
    from chalicelib.lake.compaction import compact
    from chalicelib.lake.writer import write_stream_batch
    from tests.lakefakes import MemoryLeases

    events_per_day = round(page_views_per_month * EVENTS_PER_PAGE_VIEW / 30)
    rows = sorted(day_rows("shop", DAY0_MS, events_per_day), key=lambda r: r["received_time"])
    rows = [r for r in rows if r["received_time"] < DAY0_MS + hours * 3_600_000]
    lake, writer_seconds, writer_runs, compaction_seconds, compaction_runs = Counting(), 0.0, 0, 0.0, 0
    by_minute: dict[int, list[dict]] = {}
    for row in rows:
        by_minute.setdefault((row["received_time"] - DAY0_MS) // MINUTE_MS, []).append(stored_record(row, "shop"))
    sequence = 10**20
    for minute in range(hours * 60):
        records = by_minute.get(minute, [])
        for start in range(0, len(records), BATCH_RECORDS):
            batch = stream_event(records[start:start + BATCH_RECORDS], sequence)
            sequence += BATCH_RECORDS
            started = time.perf_counter()
            write_stream_batch(batch, lake, Quiet(), now_ms=DAY0_MS + (minute + 1) * MINUTE_MS)
            writer_seconds, writer_runs = writer_seconds + time.perf_counter() - started, writer_runs + 1
        if (minute + 1) % 60 == 0 or minute == hours * 60 - 1:
            closed = minute == hours * 60 - 1  # the run after the day ends: the partition is closed
            started = time.perf_counter()
            now_ms = DAY0_MS + (DAY_MS + 3_600_000 if closed else (minute + 1) * MINUTE_MS)
            compact(lake, ["shop"], Quiet(), now_ms=now_ms, time_left_seconds=None, leases=MemoryLeases())
            compaction_seconds += time.perf_counter() - started
            compaction_runs += 1
    stored = {k: len(v) for k, v in lake.inner.objects.items()}
    return {"page_views_per_month": page_views_per_month, "hours": hours, "events": len(rows),
            "requests": lake.requests(), "writer_runs": writer_runs,
            "writer_ms_per_run": round(writer_seconds * 1000 / max(writer_runs, 1), 1),
            "compaction_runs": compaction_runs,
            "compaction_ms_per_run": round(compaction_seconds * 1000 / max(compaction_runs, 1), 1),
            "objects_after": len(stored), "bytes_after": sum(stored.values()),
            "bytes_per_event": round(sum(stored.values()) / max(len(rows), 1), 1)}


def monthly_usd(day: dict, page_views_per_month: int) -> dict:
    """The lake's bill for a month of this traffic, from the replayed day's requests and run times."""
    scale = 24 / day["hours"] * 30  # the replayed hours -> a month
    requests = {op: n * scale for op, n in day["requests"].items()}
    events = page_views_per_month * EVENTS_PER_PAGE_VIEW
    gb_month = day["bytes_per_event"] * events / 1e9  # a month of events, stored for a month
    lambda_gb_seconds = (day["writer_runs"] * scale * day["writer_ms_per_run"] / 1000 * WRITER_MEMORY_GB
                         + day["compaction_runs"] * scale * day["compaction_ms_per_run"] / 1000 * COMPACTION_MEMORY_GB)
    usd = {
        "s3_puts": requests["put"] / 1000 * prices.S3_USD_PER_THOUSAND_PUTS,
        "s3_gets": requests["get"] / 1000 * prices.S3_USD_PER_THOUSAND_GETS,
        "s3_lists": requests["list"] / 1000 * prices.S3_USD_PER_THOUSAND_PUTS,  # LIST is billed as a PUT
        "s3_storage": gb_month * prices.S3_USD_PER_GB_MONTH,
        "lambda": lambda_gb_seconds * prices.LAMBDA_USD_PER_GB_SECOND
        + (day["writer_runs"] + day["compaction_runs"]) * scale / 1e6 * prices.LAMBDA_USD_PER_MILLION_REQUESTS,
    }
    total = sum(usd.values())
    return {"page_views_per_month": page_views_per_month, "usd_per_month": round(total, 4),
            "usd_per_million_page_views": round(total / (page_views_per_month / 1e6), 4),
            "parts": {k: round(v, 4) for k, v in usd.items()},
            "requests_per_1000_events": {op: round(n * 1000 / events, 2) for op, n in requests.items()}}


QUERY = {"metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"],
         "dimensions": ["event:page"], "filters": [["is", "visit:device", ["mobile"]]],
         "order_by": [["visitors", "desc"]], "limit": 100}


class DirectoryLakeObjects:
    """A lake in a local directory (key = relative path), so a fresh process can query it."""

    def __init__(self, root: str, request_ms: float = 0.0) -> None:
        self.root = Path(root)
        self.gets = 0
        self.request_seconds = request_ms / 1000  # S3's wait per LIST or GET, for latency figures

    def list(self, prefix: str):
        from chalicelib.lake.layout import LakeObject

        time.sleep(self.request_seconds)
        top = self.root / prefix.rsplit("/", 1)[0]  # the directory holding every key of the prefix
        return sorted((LakeObject(p.relative_to(self.root).as_posix(), p.stat().st_size)
                       for p in top.rglob("*") if p.is_file()
                       and p.relative_to(self.root).as_posix().startswith(prefix)), key=lambda o: o.key)

    def get(self, key: str) -> bytes:
        from chalicelib.lake.ports import ObjectMissing

        time.sleep(self.request_seconds)
        self.gets += 1
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(body)


def build_compacted_lake(root: str, days: int, events: int, day0_ms: int = DAY0_MS, until_ms: int | None = None) -> int:
    """`days` compacted partitions of events/day rows from the UTC day `day0_ms` (what compaction
    leaves); the bytes stored. Rows at or after `until_ms` (now) are left out and made up by the day's
    next visits, so today holds its share too (up to ~24 times as many visits are drawn)."""
    from chalicelib.lake import layout, rewrite
    from chalicelib.lake.parquet import rows_to_parquet

    lake, per_day = DirectoryLakeObjects(root), events // days
    for day in range(days):
        start_ms = day0_ms + day * DAY_MS
        drawn = day_rows("shop", start_ms, per_day if until_ms is None else per_day * 24)
        rows = list(islice((r for r in drawn if until_ms is None or r["time"] < until_ms), per_day))
        partition = layout.Partition.of("shop", start_ms)
        lake.put(layout.manifest_key(partition, 1), layout.manifest_body([]))
        lake.put(layout.compacted_object_key(partition, 1), rows_to_parquet(rows))
        rewrite.add_visit_parts(lake, rewrite.read_partition(lake, partition))  # as compaction leaves it
    return sum(o.size_bytes for o in lake.list(""))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux keeps that across
    execve, so a child started by a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def query_child(lake_root: str, days: int) -> dict:
    """In a fresh process, so its peak memory is the query's: one 30-day query answered by DuckDB,
    first with an empty local cache (every object fetched), then warm."""
    import tempfile

    from chalicelib.core.settings import Settings
    from chalicelib.query.runner import answer
    from chalicelib.store.lake_duckdb import LakeCache

    settings = Settings(stage="bench", sites={}, default_site_id="shop", event_retention_days=400)
    request = {**QUERY, "site": "shop", "time_range_ms": [DAY0_MS, DAY0_MS + days * DAY_MS]}
    lake = DirectoryLakeObjects(lake_root)
    rss_before_mb = peak_rss_mb()
    with tempfile.TemporaryDirectory() as cache_dir:
        cache, timings = LakeCache(root=cache_dir), []
        for _ in range(3):
            started = time.perf_counter()
            result = answer(request, lake, settings, Quiet(), cache=cache)
            timings.append(time.perf_counter() - started)
        assert "results" in result, result
    return {"cold_seconds": round(timings[0], 3), "warm_seconds": round(min(timings[1:]), 3),
            "files_read": result["meta"].get("files_read"), "bytes_read": result["meta"].get("bytes_read"),
            "rows_answered": len(result["results"]),
            "s3_gets_of_3_queries": lake.gets,  # objects once, manifests each time
            "peak_rss_mb": round(peak_rss_mb()),
            "rss_before_query_mb": round(rss_before_mb)}


def measure_query(days: int, events: int) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        stored = build_compacted_lake(root, days, events)
        out = subprocess.run([sys.executable, "-m", "bench.lake_cost", "--query-child", root, str(days)],
                             cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    return {"events": events // days * days, "days": days, "stored_bytes": stored,
            **json.loads(out.stdout.strip().splitlines()[-1])}


def measure(quick: bool = False) -> dict:
    levels = (100_000, 1_000_000, 10_000_000)
    hours = 2 if quick else 24
    with redirect_stdout(io.StringIO()):  # the writer's and compaction's log and EMF lines
        days = [replay_day(level, hours) for level in levels]
        writer = measure_writer(2_000 if quick else 20_000)
    bills = [monthly_usd(day, level) for day, level in zip(days, levels, strict=True)]
    query = measure_query(30, 30_000 if quick else 1_000_000)
    return {
        "writer": writer,
        "replayed_days": days,
        "bills": bills,
        "query_30_days": query,
        "targets": {"query_seconds": QUERY_TARGET_SECONDS, "query_peak_mb": QUERY_TARGET_MB,
                    "bytes_per_event": BYTES_PER_EVENT_TARGET, "usd_per_million_page_views": USD_TARGET},
        "quick": quick,
    }


def table(figures: dict) -> str:
    lines = [f"stream writer: {figures['writer']['events_per_second']:,} events/s "
             f"({figures['writer']['ms_per_full_batch']} ms per batch of {BATCH_RECORDS}), "
             f"{figures['writer']['puts_per_1000_events']} PUTs per 1,000 events in full batches"]
    for day, bill in zip(figures["replayed_days"], figures["bills"], strict=True):
        r = bill["requests_per_1000_events"]
        lines.append(f"{day['page_views_per_month']:>10,} page views/month: {day['bytes_per_event']} B/event "
                     f"compacted, S3 per 1,000 events: {r['put']} PUT, {r['get']} GET, {r['list']} LIST; lake "
                     f"${bill['usd_per_month']}/month = ${bill['usd_per_million_page_views']} per million page views")
    q = figures["query_30_days"]
    lines.append(f"30-day query over {q['events']:,} events (DuckDB): {q['cold_seconds']} s cold, "
                 f"{q['warm_seconds']} s warm, peak {q['peak_rss_mb']} MB RSS, {q['files_read']} files, "
                 f"{q['bytes_read']:,} bytes read")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, __doc__, measure, table, ("query-child", ("LAKE_DIR", "DAYS"), query_child))


if __name__ == "__main__":
    sys.exit(main())

"""Bench of the lake's embedded engine: a 30-day query over 1,000,000 synthetic events (one site),
laid out as compaction leaves it (one compacted object per day, a few stream objects after it), read
through a directory-backed LakeObjects. Prints one JSON line of figures: elapsed, peak memory, files.

    .venv/bin/python scripts/bench_lake_query.py [--events 1000000] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.lake import parquet  # noqa: E402
from chalicelib.lake.layout import LakeObject, Partition, compacted_object_key, manifest_body, manifest_key  # noqa: E402
from chalicelib.lake.ports import ObjectMissing  # noqa: E402
from chalicelib.schema.lake import COLUMNS  # noqa: E402

SITE = "bench"
START = "2026-10-01"


class DirectoryLakeObjects:
    """LakeObjects over a local directory (the bench's stand-in for S3)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def list(self, prefix: str) -> list[LakeObject]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return [LakeObject(str(p.relative_to(self.root)), p.stat().st_size) for p in sorted(base.iterdir())]

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    def put(self, key: str, body: bytes, content_type: str = "") -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)


def _day_select(day: int, per_day: int) -> str:
    """One day of events made by DuckDB from range(): ~4 events a visit, 3 visits a visitor."""
    typed = {c.name: c.duckdb_type for c in COLUMNS}
    values = {
        "event_id": "uuid()::VARCHAR",
        "event_type": "CASE WHEN i % 7 = 3 THEN 'engagement' WHEN i % 11 = 5 THEN 'signup' ELSE 'page_view' END",
        "time": f"TIMESTAMP '{START}' + INTERVAL ({day}) DAY + to_milliseconds((i // 4) * 86400000 // {per_day // 4}"
                " + (i % 4) * 20000)",
        "received_time": f"TIMESTAMP '{START}' + INTERVAL ({day}) DAY + to_milliseconds((i // 4) * 86400000 // "
                         f"{per_day // 4} + (i % 4) * 20000 + 150)",
        "session_id": f"'s{day}-' || (i // 4)::VARCHAR",
        "visitor_id": f"'anon-' || (hash(i // 4) % {per_day // 12})::VARCHAR",
        "page_url": "'https://bench.example/p' || (hash(i) % 200)::VARCHAR",
        "page_host": "'bench.example'",
        "page_path": "'/p' || (hash(i) % 200)::VARCHAR",
        "title": "'A page'",
        "source": "['Google', 'Facebook', NULL, 'news.example'][1 + (hash(i // 4) % 4)::BIGINT]",
        "channel": "['Organic Search', 'Organic Social', 'Direct', 'Referral'][1 + (hash(i // 4) % 4)::BIGINT]",
        "browser": "['Chrome', 'Safari', 'Firefox'][1 + (hash(i // 4 + 1) % 3)::BIGINT]",
        "os": "['Windows', 'iOS', 'Android', 'macOS'][1 + (hash(i // 4 + 2) % 4)::BIGINT]",
        "device_type": "['desktop', 'mobile', 'tablet'][1 + (hash(i // 4 + 3) % 3)::BIGINT]",
        "country": "['US', 'DE', 'FR', 'JP', 'BR'][1 + (hash(i // 4 + 4) % 5)::BIGINT]",
        "properties": "CASE WHEN i % 7 = 3 THEN MAP {'engaged_ms': (hash(i) % 30000)::VARCHAR} "
                      "WHEN i % 11 = 5 THEN MAP {'plan': ['free', 'pro'][1 + (hash(i) % 2)::BIGINT]} END",
        "engaged_ms": "CASE WHEN i % 7 = 3 THEN (hash(i) % 30000)::BIGINT END",
    }
    columns = ", ".join(f'CAST({values.get(name, "NULL")} AS {kind}) AS "{name}"' for name, kind in typed.items())
    return f"SELECT {columns} FROM range({per_day}) AS r(i) ORDER BY \"time\", event_id"


def generate(root: str, events: int, days: int) -> None:
    objects = DirectoryLakeObjects(root)
    per_day = events // days
    con = parquet.connect(root)
    try:
        for day in range(days):
            date = time.strftime("%Y-%m-%d", time.gmtime(time.mktime(time.strptime(START, "%Y-%m-%d"))
                                                           - time.timezone + day * 86400))
            partition = Partition(SITE, date)
            path = Path(root) / compacted_object_key(partition, 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            objects.put(manifest_key(partition, 1), manifest_body([]))
            parquet.copy_to_parquet(con, _day_select(day, per_day), str(path))
    finally:
        con.close()


def query(root: str, days: int) -> dict:
    from chalicelib.core.metrics import Metrics
    from chalicelib.core.settings import Settings
    from chalicelib.query.runner import answer
    from chalicelib.store.lake_duckdb import LakeCache

    settings = Settings(stage="bench", sites={}, default_site_id=SITE, event_retention_days=30, lake_bucket="bench")
    last = time.strftime("%Y-%m-%d", time.gmtime(time.mktime(time.strptime(START, "%Y-%m-%d")) - time.timezone
                                                  + (days - 1) * 86400))
    request = {"site": SITE, "date_range": [START, last],
               "metrics": ["visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate",
                           "visit_duration"],
               "dimensions": ["visit:source"], "filters": [["is", "visit:device", ["mobile", "desktop"]]]}
    cache = LakeCache(os.path.join(root, ".cache"), budget_bytes=10**10)
    objects = DirectoryLakeObjects(root)
    figures = {}
    for label in ("cold", "warm"):  # cold: objects copied to the cache; warm: already there
        started = time.perf_counter()
        answered = answer(request, objects, settings, Metrics("bench", lambda line: None), cache=cache)
        figures[f"{label}_seconds"] = round(time.perf_counter() - started, 3)
    figures.update(meta=answered["meta"], rows=len(answered["results"]),
                   peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--query-only", metavar="DIR")
    args = parser.parse_args()
    if args.query_only:
        print(json.dumps(query(args.query_only, args.days)))
        return 0
    with tempfile.TemporaryDirectory(prefix="lake-bench-") as root:
        started = time.perf_counter()
        generate(root, args.events, args.days)
        generated = round(time.perf_counter() - started, 1)
        # The query runs in a fresh process, so its peak memory is the query's alone.
        out = subprocess.run([sys.executable, __file__, "--query-only", root, "--days", str(args.days)],
                             check=False, capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            return 1
        out = out.stdout
        figures = json.loads(out)
        lake_bytes = sum(p.stat().st_size for p in Path(root, "events").rglob("*.parquet"))
        figures.update(events=args.events, days=args.days, generate_seconds=generated,
                       lake_bytes_per_event=round(lake_bytes / args.events, 1))
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

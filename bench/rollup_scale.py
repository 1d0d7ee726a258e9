"""The minute job at scale: what one statistics rollup run (stats/rollup.py) reads, the memory it peaks at
and the CPU it takes, for one site at 10,000 and 100,000 distinct visitors a minute, late in an hour,
when the run reads the most (issue 16: the job's reads grow with the site's traffic).

    .venv/bin/python -m bench.rollup_scale             # 10,000 and 100,000
    .venv/bin/python -m bench.rollup_scale --levels 1000

An hour of the site's minute items is made from one minute played through the real statistics write
path (bench/scale_curve.played_minute: the played shard's items as DynamoDB stored them), copied to
every shard and every minute of the hour with each copy's visitors drawn afresh, half of them from the
shard's visitors of the items just before (a visitor stays a few minutes). The items are served by moto's server in
this process; the job runs in a fresh interpreter of its own against it, so its peak RSS and CPU are
the job's alone, as Lambda's "Max Memory Used" would be (imports included). A first run, not measured,
writes the minute summaries a steady job has written by then.

Lambda gives a function CPU in proportion to its memory (a full vCPU at 1,769 MB), so the job's time
on its function (`roll_up_stats` in .chalice/config.json) is estimated as its CPU here x 1,769 / its
memory; DynamoDB's own time for the pages (tens of ms each) comes on top.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

LEVELS = (10_000, 100_000)
QUICK_LEVELS = (1_000,)
SHARDS = 4
SITE = "shop"
STAGE = "bench"
CARRIED_OVER = 0.5  # of an item's visitors, the share drawn from the shard's recent ones
FULL_VCPU_MB = 1_769  # Lambda: one vCPU at this much memory
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NOW_INTO_HOUR_MS = 59 * MINUTE_MS + 45_000  # late in the hour: 60 minutes to read


def job_memory_mb() -> int:
    from bench.idle_cost import job_memory_mb as configured

    return configured()["roll_up_stats"]  # .chalice/config.json, the prod stage


def hour_items(visitors_per_minute: int, hour_ms: int, seed: int = 16) -> list[dict]:
    """Every shard's items of every minute of the hour, in DynamoDB's wire form."""
    from bench.scale_curve import played_minute
    from chalicelib.schema.tables import SPILL_SEPARATOR
    from chalicelib.stats.buckets import MINUTE, label

    _, played = played_minute(visitors_per_minute, SHARDS, seed)
    rng = random.Random(seed)
    items = []
    for shard in range(SHARDS):
        previous: list[bytes] = []
        for minute in range(60):
            minute_label = label(MINUTE, hour_ms + minute * MINUTE_MS)
            for item in played:
                copy = dict(item)
                rest = item["sk"]["S"].partition(SPILL_SEPARATOR)
                copy["sk"] = {"S": minute_label + rest[1] + rest[2]}
                copy["pk"] = {"S": f"{SITE}#m#{shard}"}
                if "visitors" in item:
                    count = len(item["visitors"]["BS"])
                    kept = rng.sample(previous, min(len(previous), int(count * CARRIED_OVER)))
                    fresh = [rng.randbytes(8) for _ in range(count - len(kept))]
                    copy["visitors"] = {"BS": kept + fresh}
                    previous = previous[len(kept):] + fresh if minute else fresh
                items.append(copy)
    return items


def _load(endpoint: str, items: list[dict]) -> None:
    import boto3

    from chalicelib.schema.tables import STATS, create_tables

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    create_tables(client, STAGE)
    table = STATS.name(STAGE)
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
        while requests:
            left = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
            requests = left.get(table, [])


def _run_job(endpoint: str, now_ms: int) -> dict:
    """One roll_up run in a fresh interpreter; its figures."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(PROJECT_DIR)}
    done = subprocess.run([sys.executable, "-m", "bench.rollup_scale", "--job", endpoint, str(now_ms)],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=3_600)
    if done.returncode:
        raise RuntimeError(f"the job failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    # The process's high-water mark since exec (getrusage's ru_maxrss keeps the forking parent's).
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)


def job(endpoint: str, now_ms: int) -> dict:
    """The measured run: this process is the job's alone."""
    import time

    import boto3
    from botocore.config import Config

    from chalicelib.core.metrics import Metrics
    from chalicelib.schema.tables import STATS
    from chalicelib.stats.rollup import roll_up
    from chalicelib.store import StatsStore
    from chalicelib.store.base import read_queries_fast

    # Read as the functions' own client reads (read_queries_fast); it gives up on an answer after 2 s,
    # and moto's server takes longer than DynamoDB to write a page of a MB.
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(read_timeout=120, retries={"total_max_attempts": 1}))
    read_queries_fast(client)
    store = StatsStore(client, STATS.name(STAGE))
    rss_before_mb = _peak_rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    report = roll_up(store, [SITE], SHARDS, Metrics("Bench", write=lambda _line: None), now_ms=now_ms,
                     retention_seconds=86_400 * 400)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"items_read": store.items_read, "hours": len(report.hours), "summaries_written": report.summaries,
            "peak_rss_mb": _peak_rss_mb(),
            "rss_before_run_mb": rss_before_mb, "cpu_seconds": round(cpu, 2),
            "wall_seconds": round(wall, 2)}


def measure(quick: bool = False) -> dict:
    """make bench's figures: each level's run."""
    return {"levels": [measure_level(level) for level in (QUICK_LEVELS if quick else LEVELS)],
            "job_memory_mb": job_memory_mb()}


def measure_level(visitors_per_minute: int) -> dict:
    import logging

    from moto.server import ThreadedMotoServer

    from bench.capacity import item_size

    hour_ms = 1_793_444_400_000 - 1_793_444_400_000 % HOUR_MS
    items = hour_items(visitors_per_minute, hour_ms)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _load(endpoint, items)
        now_ms = hour_ms + NOW_INTO_HOUR_MS
        _run_job(endpoint, now_ms - MINUTE_MS)  # the summaries a steady job has written by now
        figures = _run_job(endpoint, now_ms)
    finally:
        server.stop()
    figures.update({
        "visitors_per_minute": visitors_per_minute,
        "hour_items": len(items),
        "hour_megabytes": round(sum(item_size(i) for i in items) / 1e6, 1),
        "job_memory_mb": job_memory_mb(),
        "lambda_seconds_estimate": round(figures["cpu_seconds"] * FULL_VCPU_MB / job_memory_mb(), 1),
    })
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="*", default=list(LEVELS))
    parser.add_argument("--job", nargs=2, metavar=("ENDPOINT", "NOW_MS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(args.job[0], int(args.job[1]))))
        return 0
    for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(variable, value)
    for level in args.levels:
        print(json.dumps(measure_level(level)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

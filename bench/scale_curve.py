"""The cost of a page view as one site grows: write units and dollars per page view at 100, 1,000,
10,000 and 100,000 distinct visitors a minute, and the hot-key ceiling (issue 16).

    .venv/bin/python -m bench.scale_curve            # the table (~3 minutes: 40,000 updates at the top)
    .venv/bin/python -m bench.scale_curve --quick    # 100 and 1,000 only

Only the statistics buckets grow with a site's traffic: an event's item, a visitor's session and its
index entries are the same size whether the site has ten visitors a minute or a million. So one minute
of one site is played through the real statistics write path (stats/buckets.py Rollup and
write_rollup, store/stats.py on moto), request by request, and every write is billed from the real
item sizes before and after it (bench/capacity.py, as DynamoDB bills an update: the larger of the
two). Each visitor of the minute sends `REQUESTS_PER_VISITOR_MINUTE` requests (a page view, most of
them an engagement), pages from 200 paths (Zipf), one in `PAGES_PER_VISIT` page views starting a visit
(its referrer, channel, country, device facts). A visitor always lands in the same shard
(LIVEINSIGHT_STATS_SHARDS, 4), so one shard's quarter of the visitors is played and its figures are
each shard's.

The rest of a page view's cost (API, Lambda, events, sessions, reads, logs) is the recorded
multi-page workload's from bench/results.json, constant per page view; the curve adds to it each
level's statistics write units in place of the recorded ones.

**Hot-key ceiling.** DynamoDB serves at most 1,000 write units a second per partition, and all the
updates of one shard's minute go to one partition key (`<site>#m#<shard>`: its items differ only by
sort key, and a minute's writes all target the same one or two of them, so splitting for heat cannot
spread them). So a site can take at most shards x 1,000 / (write units of one update at the minute's
peak) requests a second before its statistics writes are throttled.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402
from bench.capacity import item_size, write_units  # noqa: E402

RESULTS = PROJECT_DIR / "bench" / "results.json"
LEVELS = (100, 1_000, 10_000, 100_000)  # distinct visitors of one site in one minute
QUICK_LEVELS = (100, 1_000)
REQUESTS_PER_VISITOR_MINUTE = 1.6  # the recorded multi-page workload's requests per page view
PAGES_PER_VISIT = 3.1
PATHS = 200
PARTITION_WRITE_UNITS_PER_SECOND = 1_000  # DynamoDB's per-partition limit
READ_MINUTES = 30  # GET /stats/realtime reads the last 30 minutes' buckets
# How many collector processes write at once: requests a second x seconds a request (the collector's
# 75 ms at 512 MB, bench/results.json multi_page lambda_ms_per_request). Each keeps its own last token
# in an item (store/stats.py), so an item holds about this many tokens.
SECONDS_PER_REQUEST = 0.075
MINUTE_MS = 60_000
SITE = "shop"
SOURCES = {"referrer_host": ["google.com", "news.ycombinator.com", "t.co", None],
           "channel": ["Organic Search", "Direct", "Social", "Referral"],
           "utm_source": [None, "newsletter"], "utm_medium": [None, "email"], "utm_campaign": [None, "winter"],
           "country": ["DE", "US", "FR", "GB", "JP", "BR"], "device_type": ["desktop", "mobile", "tablet"],
           "browser": ["Chrome", "Safari", "Firefox", "Edge"], "os": ["Windows", "macOS", "iOS", "Android"]}


class MeteredClient:
    """The statistics store's client, billing each write as DynamoDB does (the larger of the item before
    and after, 1 unit a KB; a refused conditional write costs its item's size too) from the items
    themselves: an update asks for the item after it (ReturnValues ALL_NEW), a refusal carries the item
    before it, a put is its item, and each key's last size is remembered. No extra reads, so moto's time
    goes to the writes alone."""

    def __init__(self, client) -> None:
        self._client = client
        self.write_units = 0
        self._bytes: dict[tuple[str, str], int] = {}

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _write(self, operation, item_key: dict, new_bytes, **kwargs):
        from botocore.exceptions import ClientError

        key = (item_key["pk"]["S"], item_key["sk"]["S"])
        try:
            response = operation(**kwargs)
        except ClientError as exc:
            old = exc.response.get("Item")
            self.write_units += write_units(item_size(old) if old else self._bytes.get(key, 0))
            raise
        after = new_bytes(response)
        self.write_units += write_units(max(self._bytes.get(key, 0), after))
        self._bytes[key] = after
        return response

    def put_item(self, **kwargs):
        return self._write(self._client.put_item, kwargs["Item"], lambda _: item_size(kwargs["Item"]), **kwargs)

    def update_item(self, **kwargs):
        return self._write(self._client.update_item, kwargs["Key"], lambda r: item_size(r["Attributes"]),
                           **{"ReturnValues": "ALL_NEW", **kwargs})


def _zipf_paths(rng: random.Random, n: int) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(PATHS)]
    return [f"/page/{i}" for i in rng.choices(range(PATHS), weights=weights, k=n)]


def play_minute(visitors_per_minute: int, shards: int = 4, seed: int = 16, max_requests: int = 4_500) -> dict:
    """One shard's minute at this many visitors a minute for the site, through the real write path."""
    import boto3
    from moto import mock_aws

    from chalicelib.schema.tables import STATS, create_tables
    from chalicelib.stats.buckets import Rollup, shard_of, write_rollup
    from chalicelib.store import StatsStore
    from chalicelib.store.base import Backoff

    for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(variable, value)
    rng = random.Random(seed)
    minute_ms = 1_793_444_400_000  # a fixed minute (2026-10-31T11:00Z): the same run every time
    visitors = [f"v{seed}-{i}" for i in range(visitors_per_minute)]
    mine = [v for v in visitors if shard_of(v, shards) == 0]
    # Each visitor's requests, spread over the minute in arrival order.
    requests = []
    for visitor in mine:
        count = int(REQUESTS_PER_VISITOR_MINUTE) + (rng.random() < REQUESTS_PER_VISITOR_MINUTE % 1)
        requests += [(rng.randrange(MINUTE_MS), visitor, n) for n in range(count)]
    requests.sort()
    shard_requests = len(requests)
    # Past one full item's worth (store/stats.py caps an item at MAX_MEMBERS_PER_SET updates), a
    # minute's items repeat the same growth from empty: play the first `played` requests only.
    requests = requests[:max_requests]
    paths = _zipf_paths(rng, len(requests))
    table = STATS.name("bench")
    processes = max(1, math.ceil(visitors_per_minute * REQUESTS_PER_VISITOR_MINUTE / 60 * SECONDS_PER_REQUEST))
    # Each process meets the minute once (its first write of it costs more: it has to find the item), so
    # a played part of the minute has its share of them: processes x played / all requests.
    played_processes = max(1, round(processes * min(max_requests, shard_requests) / shard_requests))
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, "bench")
        meter = MeteredClient(client)
        stores = [StatsStore(meter, table, Backoff(sleep=lambda _: None)) for _ in range(played_processes)]
        per_update, log = [], io.StringIO()
        for (offset_ms, visitor, n), path in zip(requests, paths, strict=True):
            time_ms = minute_ms + offset_ms
            rollup = Rollup(shards)
            page_view = n == 0
            rollup.add_events([{"site": SITE, "time_ms": time_ms, "visitor_id": visitor,
                                "event_type": "page_view" if page_view else "engagement",
                                "page_path": path if page_view else None}])
            if page_view and rng.random() < 1 / PAGES_PER_VISIT:
                first = {name: rng.choice(values) for name, values in SOURCES.items()}
                rollup.add_started([SimpleNamespace(site=SITE, started_ms=time_ms, visitor_id=visitor,
                                                    first_event=first)])
            before = meter.write_units
            with redirect_stdout(log):
                write_rollup(rng.choice(stores), rollup, time_ms + 1_000, max_event_age_ms=86_400_000)
            per_update.append(meter.write_units - before)
        items = client.query(TableName=table, KeyConditionExpression="pk = :pk",
                             ExpressionAttributeValues={":pk": {"S": f"{SITE}#m#0"}})["Items"]
    sizes = sorted(item_size(i) for i in items)
    tail = per_update[-max(1, len(per_update) // 10):]  # the played part's last tenth: its peak
    scale = shard_requests / len(requests)  # the unplayed rest of the minute repeats the played part
    return {
        "visitors_per_minute": visitors_per_minute,
        "shard_visitors": len(mine),
        "processes": processes,
        "played_processes": played_processes,
        "shard_requests": shard_requests,
        "played_requests": len(requests),
        "write_units_per_request": round(sum(per_update) / len(per_update), 3),
        "write_units_per_update_peak": round(max(tail), 1),
        "write_units_per_update_peak_mean": round(sum(tail) / len(tail), 2),
        "items_per_shard_minute": round(len(sizes) * scale),
        "largest_item_bytes": sizes[-1],
        "shard_minute_bytes": round(sum(sizes) * scale),
    }


def curve(levels=LEVELS, shards: int = 4, results: dict | None = None) -> dict:
    results = results if results is not None else json.loads(RESULTS.read_text())
    multi = results["details"]["multi_page"]
    requests_per_pv = multi["requests"] / multi["page_views"]
    recorded_stats_units = multi["write_units_per_page_view_by_table"]["Stats"]
    usd_per_unit = prices.DYNAMODB_USD_PER_MILLION_WRITE_UNITS / 1e6
    # Everything but the statistics writes, per page view (constant as the site grows).
    base_usd_per_pv = results["usd_per_million_page_views"] / 1e6 - recorded_stats_units * usd_per_unit
    base_units_per_pv = multi["write_units_per_page_view"] - recorded_stats_units
    rows = []
    for level in levels:
        played = play_minute(level, shards)
        stats_units = played["write_units_per_request"] * requests_per_pv
        units = base_units_per_pv + stats_units
        ceiling = shards * PARTITION_WRITE_UNITS_PER_SECOND / played["write_units_per_update_peak_mean"]
        read_bytes = READ_MINUTES * shards * played["shard_minute_bytes"]
        rows.append({**played, "stats_write_units_per_page_view": round(stats_units, 2),
                     "write_units_per_page_view": round(units, 2),
                     "usd_per_million_page_views": round((base_usd_per_pv + stats_units * usd_per_unit) * 1e6, 2),
                     "hot_key_ceiling_requests_per_second": round(ceiling),
                     "site_requests_per_second": round(level * REQUESTS_PER_VISITOR_MINUTE / 60, 1),
                     "realtime_read_megabytes": round(read_bytes / 1e6, 2),
                     "realtime_read_units": round(max(1, read_bytes / 4096) * 0.5, 1)})
    units = [r["write_units_per_page_view"] for r in rows]
    return {"levels": rows, "shards": shards, "requests_per_page_view": round(requests_per_pv, 3),
            "base_write_units_per_page_view": round(base_units_per_pv, 2),
            "spread_write_units": round(max(units) / min(units) - 1, 3),
            "hot_key_ceiling_requests_per_second": min(r["hot_key_ceiling_requests_per_second"] for r in rows)}


def table(found: dict) -> str:
    lines = ["visitors/min  req/s  stats WU/pv  WU/pv  $/M pv  peak WU/update  items/shard-min  largest item  "
             "realtime read  ceiling req/s"]
    for r in found["levels"]:
        lines.append(f"{r['visitors_per_minute']:>12,}  {r['site_requests_per_second']:>5,.0f}  "
                     f"{r['stats_write_units_per_page_view']:>11.2f}  {r['write_units_per_page_view']:>5.2f}  "
                     f"{r['usd_per_million_page_views']:>6.2f}  {r['write_units_per_update_peak_mean']:>14.1f}  "
                     f"{r['items_per_shard_minute']:>15,}  {r['largest_item_bytes']:>10,} B  "
                     f"{r['realtime_read_megabytes']:>10.2f} MB  {r['hot_key_ceiling_requests_per_second']:>13,}")
    lines.append(f"spread of write units per page view, largest over smallest: +{found['spread_write_units']:.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 visitors a minute only")
    args = parser.parse_args(argv)
    found = curve(QUICK_LEVELS if args.quick else LEVELS)
    print(table(found))
    print(json.dumps({"scale_curve": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

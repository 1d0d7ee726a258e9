"""The cost of a page view as one site grows: write units and dollars per page view at 100, 1,000,
10,000 and 100,000 distinct visitors a minute, and the hot-key ceiling (issue 16).

    .venv/bin/python -m bench.scale_curve            # the table
    .venv/bin/python -m bench.scale_curve --quick    # 100 and 1,000 only

Only the statistics buckets grow with a site's traffic: an event's item, a visitor's session and its
index entries are the same size whether the site has ten visitors a minute or a million. So one minute
of one site is played through the real statistics write path, and every write is billed from the real
item sizes before and after it (as DynamoDB bills an update: the larger of the two). Each visitor of the
minute sends `REQUESTS_PER_VISITOR_MINUTE` requests (a page view, most of them an engagement), pages
from 200 paths (Zipf), one in `PAGES_PER_VISIT` page views starting a visit (its referrer, channel,
country, device facts on the event, as the sessionizer flags it).

The statistics are written by the Events stream's function (stats/stream.py), one batch at a time, so
the minute is cut into batches as Lambda cuts the stream: the table's stream has one shard per
partition (1,000 write units a second each: `EVENT_WRITE_UNITS_PER_REQUEST` a request), each event
lands on one at random, and each stream shard's records are cut into batches at 1,000 records or 5
seconds after a batch's first record (app.py's batch size and window). Every batch's events of one
statistics shard (a visitor always lands in the same one: LIVEINSIGHT_STATS_SHARDS, 4) go through
Rollup, write_rollup and a stream batch's StatsStore (store/stats.py) on moto; shard 0's quarter is
played and its figures are each shard's.

The rest of a page view's cost (API, Lambda, events, sessions, reads, logs) is the recorded
multi-page workload's from bench/results.json, constant per page view; the curve adds to it each
level's statistics write units in place of the recorded ones.

**Hot-key ceiling.** DynamoDB serves at most 1,000 write units a second per partition, and all the
updates of one statistics shard's minute go to one partition key (`<site>#m#<shard>`: its items differ
only by sort key). Each level states the write units a second that key takes; the ceiling is where it
would reach 1,000, extrapolated linearly from the largest level (conservative: a batch holds more of
the minute as traffic grows, so units per request fall).
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
LIVE_MINUTES_MAX = 2  # of them, read as raw items rather than summaries (stats/summary.py), at most
# The Events table's write units a request (its events, written in a transaction: billed twice; the
# recorded multi-page workload's 4.26 a page view at 1.6 requests a page view): how many partitions, so
# stream shards, the table needs at a level of traffic.
EVENT_WRITE_UNITS_PER_REQUEST = 2.66
BATCH_RECORDS, BATCH_WINDOW_MS = 1_000, 5_000  # app.py's aggregate_events mapping
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
        self.read_units = 0.0
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

    def query(self, **kwargs):
        """A Query, billed as DynamoDB bills it: the items' whole sizes (a projection does not lower it), 1
        unit a 4 KB strongly consistent, half that eventually consistent. The items' sizes are the ones
        this client wrote."""
        response = self._client.query(**kwargs)
        read_bytes = sum(self._bytes.get((i["pk"]["S"], i["sk"]["S"]), 0) if "pk" in i else item_size(i)
                         for i in response.get("Items", []))
        self.read_units += math.ceil(max(1, read_bytes) / 4096) * (1 if kwargs.get("ConsistentRead") else 0.5)
        return response

    def put_item(self, **kwargs):
        return self._write(self._client.put_item, kwargs["Item"], lambda _: item_size(kwargs["Item"]), **kwargs)

    def update_item(self, **kwargs):
        return self._write(self._client.update_item, kwargs["Key"], lambda r: item_size(r["Attributes"]),
                           **{"ReturnValues": "ALL_NEW", **kwargs})


_ZIPF_WEIGHTS = [1 / (rank + 1) for rank in range(PATHS)]


def _zipf_path(rng: random.Random) -> str:
    return f"/page/{rng.choices(range(PATHS), weights=_ZIPF_WEIGHTS)[0]}"


def _batches(events: list[tuple[int, str, int]], stream_shards: int, rng: random.Random) -> list[list]:
    """The minute's events (time, visitor, n-th request) cut as Lambda cuts the stream: each event on a
    random stream shard, each shard's records in batches of at most BATCH_RECORDS, closed BATCH_WINDOW_MS
    after their first record."""
    by_shard: list[list] = [[] for _ in range(stream_shards)]
    for event in events:
        by_shard[rng.randrange(stream_shards)].append(event)
    batches = []
    for records in by_shard:
        batch: list = []
        for event in records:  # in time order
            if batch and (len(batch) == BATCH_RECORDS or event[0] - batch[0][0] >= BATCH_WINDOW_MS):
                batches.append(batch)
                batch = []
            batch.append(event)
        if batch:
            batches.append(batch)
    return sorted(batches, key=lambda b: b[-1][0])  # applied as each closes


def play_minute(visitors_per_minute: int, shards: int = 4, seed: int = 16) -> dict:
    """One statistics shard's minute at this many visitors a minute for the site, through the real write path."""
    return played_minute(visitors_per_minute, shards, seed)[0]


def played_minute(visitors_per_minute: int, shards: int = 4, seed: int = 16) -> tuple[dict, list[dict]]:
    """play_minute's figures, and the played shard's items as DynamoDB stored them (its wire form)."""
    import boto3
    from moto import mock_aws

    from chalicelib.schema.tables import STATS, create_tables
    from chalicelib.sessions.model import STARTS_SESSION
    from chalicelib.stats.buckets import Rollup, shard_of, write_rollup
    from chalicelib.stats.stream import batch_tokens
    from chalicelib.store import StatsStore
    from chalicelib.store.base import Backoff

    for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(variable, value)
    rng = random.Random(seed)
    minute_ms = 1_793_444_400_000  # a fixed minute (2026-10-31T11:00Z): the same run every time
    # Each visitor's requests (one event each), spread over the minute in arrival order.
    events = []
    for i in range(visitors_per_minute):
        count = int(REQUESTS_PER_VISITOR_MINUTE) + (rng.random() < REQUESTS_PER_VISITOR_MINUTE % 1)
        events += [(rng.randrange(MINUTE_MS), f"v{seed}-{i}", n) for n in range(count)]
    events.sort()
    requests_per_second = len(events) / 60
    stream_shards = max(1, math.ceil(requests_per_second * EVENT_WRITE_UNITS_PER_REQUEST
                                     / PARTITION_WRITE_UNITS_PER_SECOND))
    batches = _batches(events, stream_shards, rng)
    mine = {visitor for _, visitor, _ in events if shard_of(visitor, shards) == 0}
    table = STATS.name("bench")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, "bench")
        meter = MeteredClient(client)
        per_update, log, shard_requests, read_units = [], io.StringIO(), 0, 0.0
        for batch in batches:
            records = []
            for time_offset_ms, visitor, n in batch:
                if visitor not in mine:
                    continue  # another statistics shard's: the same work, in another partition
                page_view = n == 0
                record = {"pk": f"{SITE}#{visitor}#{n}", "site": SITE, "time_ms": minute_ms + time_offset_ms,
                          "visitor_id": visitor, "event_type": "page_view" if page_view else "engagement",
                          "page_path": _zipf_path(rng) if page_view else None}
                if page_view and rng.random() < 1 / PAGES_PER_VISIT:
                    record.update({STARTS_SESSION: True,
                                   **{name: rng.choice(values) for name, values in SOURCES.items()}})
                records.append(record)
            if not records:
                continue
            shard_requests += len(records)
            rollup = Rollup(shards)
            rollup.add_events(records)
            before, reads_before = meter.write_units, meter.read_units
            with redirect_stdout(log):  # a batch's store, as Services.aggregate_events makes one
                write_rollup(StatsStore(meter, table, Backoff(sleep=lambda _: None), stream_batches=True), rollup,
                             minute_ms + batch[-1][0] + 1_000, max_event_age_ms=86_400_000,
                             new_token=batch_tokens(records))
            per_update.append(meter.write_units - before)
            read_units += meter.read_units - reads_before
        items = client.query(TableName=table, KeyConditionExpression="pk = :pk",
                             ExpressionAttributeValues={":pk": {"S": f"{SITE}#m#0"}})["Items"]
    sizes = sorted(item_size(i) for i in items)
    summary = _summary_bytes(items, len(mine), shards, minute_ms, rng)
    return {
        "visitors_per_minute": visitors_per_minute,
        "shard_visitors": len(mine),
        "stream_shards": stream_shards,
        "batches": len(batches),
        "shard_updates": len(per_update),
        "shard_requests": shard_requests,
        "write_units_per_request": round(sum(per_update) / shard_requests, 3),
        # a continued minute's full item sends a stream batch's update to look for its token (store/stats.py)
        "read_units_per_request": round(read_units / shard_requests, 3),
        "write_units_per_update_mean": round(sum(per_update) / len(per_update), 2),
        "write_units_per_update_peak": round(max(per_update), 1),
        "partition_write_units_per_second": round(sum(per_update) / 60, 1),
        "items_per_shard_minute": len(sizes),
        "largest_item_bytes": sizes[-1],
        "shard_minute_bytes": sum(sizes),
        "summary_bytes": summary,
    }, items


def _summary_bytes(items: list[dict], shard_visitors: int, shards: int, minute_ms: int, rng: random.Random) -> int:
    """The size of the minute's summary (stats/summary.py) as the minute job writes it from every shard: the
    played shard's items, and the other shards' visitors (as many again each, distinct) beside them."""
    from chalicelib.stats.summary import merged_minute, summary_record
    from chalicelib.store.base import from_item, to_item

    others = [{"sk": "x", "visitors": [rng.randbytes(8) for _ in range(shard_visitors)]} for _ in range(shards - 1)]
    merged = merged_minute([from_item(i) for i in items] + others)
    return item_size(to_item(summary_record(SITE, minute_ms, merged, minute_ms)))


def curve(levels=LEVELS, shards: int = 4, results: dict | None = None) -> dict:
    results = results if results is not None else json.loads(RESULTS.read_text())
    multi = results["details"]["multi_page"]
    requests_per_pv = multi["requests"] / multi["page_views"]
    recorded_stats_units = multi["write_units_per_page_view_by_table"]["Stats"]
    usd_per_unit = prices.DYNAMODB_USD_PER_MILLION_WRITE_UNITS / 1e6
    # The recorded workload's statistics function: one invocation a request (a quiet site's batches).
    usd_per_invocation = multi.get("stream_usd_per_invocation", 0.0)
    recorded_stream_usd_per_pv = multi.get("stream_invocations_per_page_view", 0.0) * usd_per_invocation
    # Everything but the statistics writes and function, per page view (constant as the site grows).
    base_usd_per_pv = (results["usd_per_million_page_views"] / 1e6 - recorded_stats_units * usd_per_unit
                       - recorded_stream_usd_per_pv)
    base_units_per_pv = multi["write_units_per_page_view"] - recorded_stats_units
    rows = []
    for level in levels:
        played = play_minute(level, shards)
        stats_units = played["write_units_per_request"] * requests_per_pv
        stats_reads = played["read_units_per_request"] * requests_per_pv
        page_views_per_minute = level * REQUESTS_PER_VISITOR_MINUTE / requests_per_pv
        invocations_per_pv = played["batches"] / page_views_per_minute
        stats_usd = (stats_units * usd_per_unit + stats_reads * prices.DYNAMODB_USD_PER_MILLION_READ_UNITS / 1e6
                     + invocations_per_pv * usd_per_invocation)
        units = base_units_per_pv + stats_units
        site_requests_per_second = level * REQUESTS_PER_VISITOR_MINUTE / 60
        ceiling = (site_requests_per_second * PARTITION_WRITE_UNITS_PER_SECOND
                   / played["partition_write_units_per_second"])
        read_bytes = READ_MINUTES * shards * played["shard_minute_bytes"]
        # with the minute job's summaries: the finished minutes' summaries and at most two live minutes' items
        # (the current one, and the last until the job summarises it: 30 s after its end, within a minute)
        summarised_bytes = ((READ_MINUTES - LIVE_MINUTES_MAX) * played["summary_bytes"]
                            + LIVE_MINUTES_MAX * shards * played["shard_minute_bytes"])
        rows.append({**played, "stats_write_units_per_page_view": round(stats_units, 2),
                     "stats_read_units_per_page_view": round(stats_reads, 2),
                     "stream_invocations_per_page_view": round(invocations_per_pv, 4),
                     "write_units_per_page_view": round(units, 2),
                     "usd_per_million_page_views": round((base_usd_per_pv + stats_usd) * 1e6, 2),
                     "hot_key_ceiling_requests_per_second": round(ceiling),
                     "site_requests_per_second": round(site_requests_per_second, 1),
                     "realtime_read_megabytes_raw": round(read_bytes / 1e6, 2),
                     "realtime_read_megabytes": round(summarised_bytes / 1e6, 2),
                     "realtime_read_units": round(max(1, summarised_bytes / 4096) * 0.5, 1)})
    units = [r["write_units_per_page_view"] for r in rows]
    return {"levels": rows, "shards": shards, "requests_per_page_view": round(requests_per_pv, 3),
            "base_write_units_per_page_view": round(base_units_per_pv, 2),
            "spread_write_units": round(max(units) / min(units) - 1, 3),
            # from the largest level: the one whose batches hold the most of a minute
            "hot_key_ceiling_requests_per_second": rows[-1]["hot_key_ceiling_requests_per_second"]}


def table(found: dict) -> str:
    lines = ["visitors/min  req/s  stats WU/pv  WU/pv  $/M pv  updates/shard-min  WU/update  items/shard-min  "
             "largest item  summary  realtime read (raw)  ceiling req/s"]
    for r in found["levels"]:
        lines.append(f"{r['visitors_per_minute']:>12,}  {r['site_requests_per_second']:>5,.0f}  "
                     f"{r['stats_write_units_per_page_view']:>11.2f}  {r['write_units_per_page_view']:>5.2f}  "
                     f"{r['usd_per_million_page_views']:>6.2f}  {r['shard_updates']:>17,}  "
                     f"{r['write_units_per_update_mean']:>9.1f}  "
                     f"{r['items_per_shard_minute']:>15,}  {r['largest_item_bytes']:>10,} B  "
                     f"{r['summary_bytes']:>7,} B  {r['realtime_read_megabytes']:>7.2f} MB "
                     f"({r['realtime_read_megabytes_raw']:.2f})  {r['hot_key_ceiling_requests_per_second']:>13,}")
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

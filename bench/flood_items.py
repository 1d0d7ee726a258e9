"""The largest item a flood of distinct values makes DynamoDB hold, and how many requests fail meanwhile.

    .venv/bin/python -m bench.flood_items [--quick]      (make bench records it as largest_item_bytes)

Four floods, each on an empty stage in moto (in process), through the real collector (the handler's
core) and the Events stream's statistics function after every request, every event timed in one minute:

    paths       one visitor, 2,500 distinct 200-character paths
    names       one visitor, 2,000 distinct 64-character event names
    sources     400 new sessions, each with a distinct 200-character landing page, referrer and UTM values
    visitors    1,000 distinct visitors (128-character user ids), one page view each

Then the minute jobs run as they would later: session expiry (entry and exit pages; not for the
visitors flood, whose sessions share one page) and the hour and day rollup. Every item of every table
is sized by DynamoDB's rules (chalicelib/store/storable.py: attribute names' UTF-8 bytes plus value
sizes; DynamoDB refuses an item over 409,600 bytes). One JSON line per flood, then a summary line.
Requests that failed: 5xx answers, and exceptions the app would answer 500. It measures whatever code
is in the tree; the site's events-per-minute limit, where the code has one, is set to its highest
allowed value so that a flood is the largest one site may send.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

MIN_MS = 60_000
HOUR_MS = 3_600_000
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
MAX_ITEM_BYTES = 400 * 1024
FLOODS = ("paths", "names", "sources", "visitors")
# Events per flood: enough to pass DynamoDB's 400 KB limit where items grow without bound (2,200 paths
# do), within ~2 minutes on moto, whose response serialiser makes each call cost milliseconds.
FULL = {"paths": 2500, "names": 2000, "sources": 400, "visitors": 1000}
QUICK = {name: 60 for name in FLOODS}
# Session expiry (entry and exit pages) runs where sessions bring distinct values: with 1,000
# sessions of one entry page it would only add counters, and cost ~25 ms a session on moto.
EXPIRY = ("paths", "names", "sources")
PER_REQUEST = 50  # events per POST /events (the API takes up to 100)
BODY_BYTES_MAX = 60_000  # and a body under the API's 64 KB


def _filler(i: int, length: int) -> str:
    """A distinct lowercase string of `length` characters."""
    seed = hashlib.sha256(str(i).encode()).hexdigest()
    return (seed * (length // len(seed) + 1))[:length]


def _events(flood: str, count: int, minute_ms: int) -> Iterator[dict]:
    for i in range(count):
        at = minute_ms + i * 59_000 // max(count, 1)
        if flood == "paths":
            yield {"event_type": "page_view", "user_id": "flooder", "timestamp": at,
                   "page_url": "https://shop.example/" + _filler(i, 199)}
        elif flood == "names":
            yield {"event_type": f"n{i:06d}" + _filler(i, 57), "user_id": "flooder", "timestamp": at}
        elif flood == "sources":
            utm = "&".join(f"utm_{k}={k[0]}{_filler(i * 7 + n, 199)}"
                           for n, k in enumerate(("source", "medium", "campaign", "term", "content")))
            yield {"event_type": "page_view", "user_id": f"src-{i}", "timestamp": at,
                   "page_url": f"https://shop.example/{_filler(i + 2, 199)}?{utm}",
                   "referrer": f"https://{_filler(i, 60)}.example/{_filler(i + 1, 130)}"}
        else:
            yield {"event_type": "page_view", "user_id": f"{i:08d}" + _filler(i, 120), "timestamp": at,
                   "page_url": "https://shop.example/"}


def _requests(flood: str, count: int, minute_ms: int) -> Iterator[bytes]:
    batch: list[dict] = []
    for event in _events(flood, count, minute_ms):
        if len(batch) == PER_REQUEST or len(json.dumps({"events": [*batch, event]})) > BODY_BYTES_MAX:
            yield json.dumps({"events": batch}).encode()
            batch = []
        batch.append(event)
    if batch:
        yield json.dumps({"events": batch}).encode()


def item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it (storable.check_item, one attribute at a time, so that an
    item past the limit is still measured rather than refused)."""
    try:
        from chalicelib.store.storable import check_item
    except ImportError:  # the tree has moved it: the bench's own copy of the same rules
        from bench.capacity import item_size

        return item_size(item)
    return sum(check_item({name: value}) for name, value in item.items())


def _items(client, table: str) -> list[dict]:
    """Every item of a table in DynamoDB's JSON form, read from moto's in-process store: a Scan
    through moto's response serialiser costs ~15 ms an item, longer than the flood itself."""
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        stored = dynamodb_backends[DEFAULT_ACCOUNT_ID][client.meta.region_name].get_table(table).all_items()
        return [_binary_decoded({"M": item.to_json()["Attributes"]})["M"] for item in stored]
    except (ImportError, AttributeError, KeyError):  # another moto: the slow way
        items, kwargs = [], {}
        while True:
            page = client.scan(TableName=table, **kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _binary_decoded(value: dict) -> dict:
    """moto keeps binary values as the base64 text of the wire format; DynamoDB counts their bytes."""
    (kind, inner), = value.items()
    if kind == "B" and isinstance(inner, str):
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) if isinstance(b, str) else b for b in inner]}
    if kind == "M":
        return {"M": {k: _binary_decoded(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_binary_decoded(v) for v in inner]}
    return value


def _largest(client, settings) -> dict:
    from chalicelib.schema.tables import TABLES

    found = {}
    for spec in TABLES:
        items = _items(client, spec.name(settings.stage))
        sizes = [(item_bytes(i), i) for i in items]
        size, item = max(sizes, key=lambda pair: pair[0], default=(0, {}))
        key = "/".join(str(next(iter(item[k.attribute].values())))[:60] for k in spec.keys() if k.attribute in item)
        found[spec.base_name] = {"bytes": size, "key": key, "items": len(sizes),
                                 "over_limit": sum(s > MAX_ITEM_BYTES for s, _ in sizes),
                                 "event_items": sum("event_type" in i for i in items)}
    return found


def _environment() -> dict[str, str]:
    from chalicelib.core import settings as settings_module
    from tests.conftest import stage_environment

    env = {**stage_environment("local"), "LIVEINSIGHT_STAGE": "bench"}
    highest = getattr(settings_module, "MAX_EVENTS_PER_MINUTE_PER_SITE", None)
    variable = getattr(settings_module, "EVENTS_PER_MINUTE_VARIABLE", None)
    if highest and variable:
        env[variable] = str(highest)
    return env


def _run_jobs(services, minute_ms: int, log: io.StringIO, expire: bool) -> list[str]:
    """Expiry ends every flood session; the rollup recomputes the flood's hour and day. Returns the
    errors that escaped a job (a Lambda run that failed)."""
    later = minute_ms + 32 * MIN_MS
    runs = [lambda: services.expire_sessions(now_ms=later)] * (100 if expire else 0)
    errors = []
    with redirect_stdout(log):
        for run in runs:
            try:
                if not run().ended:
                    break
            except Exception as exc:  # noqa: BLE001 - a failed run, reported
                errors.append(f"expire_sessions: {type(exc).__name__}: {str(exc)[:200]}")
                break
        for now_ms in (later, minute_ms - minute_ms % HOUR_MS + HOUR_MS + MIN_MS):  # the hour, once over
            try:
                services.roll_up_stats(now_ms=now_ms)
            except Exception as exc:  # noqa: BLE001 - a failed run, reported
                errors.append(f"roll_up_stats: {type(exc).__name__}: {str(exc)[:200]}")
    return errors


def flood(name: str, count: int) -> dict:
    import boto3
    from moto import mock_aws

    from chalicelib.core.settings import load_settings
    from chalicelib.ingest.collector import IngestRequest
    from chalicelib.schema.tables import EVENTS, create_tables
    from chalicelib.services import Services
    from scripts.local_stream import StreamPoller

    for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(variable, value)
    settings = load_settings(_environment())
    now_ms = int(time.time() * 1000)
    minute_ms = now_ms - now_ms % MIN_MS - MIN_MS  # the last whole minute
    codes, statuses, log = Counter(), Counter(), io.StringIO()
    started = time.perf_counter()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        services = Services(settings, dynamodb_client=client)
        # The statistics are the Events stream function's (app.py aggregate_events): it runs after every
        # request, as many small batches as a flood can make (each an update of the minute's items).
        streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                               endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
        poller = StreamPoller(streams, client.describe_table(TableName=EVENTS.name(settings.stage))["Table"][
            "LatestStreamArn"], services.aggregate_events)
        for body in _requests(name, count, minute_ms):
            request = IngestRequest(body=body, content_type="application/json", user_agent=UA,
                                    source_ip="203.0.113.50", country_header="DE")
            try:
                with redirect_stdout(log):
                    result = services.collector.collect(request)
            except Exception as exc:  # noqa: BLE001 - the app answers these 500
                codes[f"500 {type(exc).__name__}"] += 1
                continue
            codes[str(result.status_code)] += 1
            statuses.update(e["status"] for e in result.body.get("events", []))
            with redirect_stdout(log):
                while poller.poll_once():
                    pass
        job_errors = _run_jobs(services, minute_ms, log, expire=name in EXPIRY)
        largest = _largest(client, settings)
    stored = sum(found.pop("event_items") for found in largest.values())
    return {"flood": name, "events": count, "requests": sum(codes.values()), "status_codes": dict(codes),
            "failed_5xx": sum(n for code, n in codes.items() if code.startswith("5")),
            "statuses": dict(statuses), "events_stored": stored, "job_errors": job_errors,
            "largest_item_bytes": {table: found["bytes"] for table, found in largest.items()},
            "largest_item": largest, "seconds": round(time.perf_counter() - started, 1)}


def measure(quick: bool = False) -> dict:
    sizes = QUICK if quick else FULL
    # moto parses an update expression recursively: an ADD of the 250 counters the store sends in one
    # update (hundreds of sessions' distinct entry and exit pages) passes Python's default depth of 1,000.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    floods = {name: flood(name, sizes[name]) for name in FLOODS}
    per_table = Counter()
    for found in floods.values():
        for table, size in found["largest_item_bytes"].items():
            per_table[table] = max(per_table[table], size)
    return {"largest_item_bytes": max(per_table.values()), "largest_item_bytes_by_table": dict(per_table),
            "flood_failed_requests": sum(f["failed_5xx"] for f in floods.values()), "floods": floods}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.flood_items", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny floods (for the tests), not a measurement")
    args = parser.parse_args(argv)
    results = measure(args.quick)
    for found in results["floods"].values():
        print(json.dumps(found))
    print(json.dumps({k: v for k, v in results.items() if k != "floods"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

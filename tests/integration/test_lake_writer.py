"""The stream writer on moto: events posted through the real collector reach Parquet on S3 once,
whatever Lambda re-delivers (again, in halves, after a failed PUT), poison records go to dead-letter/."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib.core.metrics import LAKE_DEAD_LETTERS, LAKE_EVENTS_WRITTEN, LAKE_WRITE_DELAY, Metrics
from chalicelib.core.settings import parse_sites
from chalicelib.lake import layout
from chalicelib.lake.parquet import parquet_rows
from chalicelib.lake.writer import dead_letter_key, write_stream_batch
from chalicelib.schema.lake import COLUMNS, DEAD_LETTER_PREFIX, EVENTS_PREFIX, STRING
from chalicelib.schema.tables import EVENTS
from chalicelib.services import Services, set_services
from chalicelib.store.lake import S3LakeObjects
from scripts.local_stream import StreamPoller
from tests.integration.conftest import STAGE, post, stored_events

BUCKET = "liveinsight-test-lake"
SITES = '{"demo": {"origins": []}, "shop": {"origins": []}}'
# moto serves DynamoDB Streams only at the service's own endpoint name (FIELD-NOTES).
STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"
E1, E2, E3, E4, E5 = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 6))
ALL = [E1, E2, E3, E4, E5]


class FailingPuts:
    """The real S3 store, with the next PUT of chosen partitions failing as a network error would."""

    def __init__(self, objects, fail_prefixes: set[str]) -> None:
        self._objects, self.fail_prefixes, self.puts = objects, set(fail_prefixes), 0

    def __getattr__(self, name):
        return getattr(self._objects, name)

    def put(self, key, body, content_type="application/octet-stream"):
        self.puts += 1
        hit = next((p for p in self.fail_prefixes if key.startswith(p)), None)
        if hit:
            self.fail_prefixes.discard(hit)
            raise ConnectionError(f"injected: PUT {key}")
        self._objects.put(key, body, content_type)


@pytest.fixture
def lake(dynamodb, settings, no_sleep_backoff):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    lines: list[str] = []
    two_sites = replace(settings, lake_bucket=BUCKET, sites=parse_sites(SITES))
    services = Services(two_sites, dynamodb_client=dynamodb, backoff=no_sleep_backoff, s3_client=s3)
    services.__dict__["metrics"] = Metrics(two_sites.metrics_environment, write=lines.append)
    set_services(services)
    arn = dynamodb.describe_table(TableName=EVENTS.name(STAGE))["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    yield services, s3, streams, arn, lines
    set_services(None)


def post_events(events: list[dict]) -> None:
    with Client(app, stage_name=STAGE) as client:
        response = post(client, {"events": events})
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["accepted"] == len(events)


def workload(now_ms: int) -> list[dict]:
    return [
        {"site": "demo", "event_type": "page_view", "event_id": E1, "timestamp": now_ms - 1000,
         "page_url": "https://example.com/pricing?utm_source=news&utm_medium=email", "title": "Pricing",
         "referrer": "https://www.google.com/", "properties": {"plan": "pro", "seats": 3, "trial": True,
                                                              "ratio": 0.5, "gone": None}},
        {"site": "demo", "event_type": "engagement", "event_id": E2, "timestamp": now_ms - 500,
         "page_url": "https://example.com/pricing", "properties": {"engaged_ms": 4200, "scroll_pct": 75}},
        {"site": "demo", "event_type": "signup", "event_id": E3, "user_id": "u-42",
         "page_url": "https://example.com/signup"},
        {"site": "shop", "event_type": "page_view", "event_id": E4, "page_url": "https://shop.example/"},
        {"site": "shop", "event_type": "engagement", "event_id": E5, "page_url": "https://shop.example/",
         "properties": {"engaged_ms": "a while", "scroll_pct": 10}},
    ]


def expected_row(stored: dict) -> dict:
    """The lake row of a stored event, written out independently of lake/rows.py."""
    row = {c.name: stored[c.name] for c in COLUMNS if c.type == STRING and c.name in stored}
    row["time"], row["received_time"] = stored["time_ms"], stored["received_ms"]
    texts = {"pro": "pro", 3: "3", True: "true", 0.5: "0.5", 4200: "4200", 75: "75", 10: "10", "a while": "a while"}
    properties = {k: texts[v] for k, v in (stored.get("properties") or {}).items() if v is not None}
    if properties:
        row["properties"] = properties
    if stored["event_type"] == "engagement":
        for name in ("engaged_ms", "scroll_pct"):
            value = (stored.get("properties") or {}).get(name)
            if isinstance(value, int):
                row[name] = value
    return row


def lambda_batch(streams, arn) -> dict:
    """Everything on the stream, as one Lambda event (what the event source mapping would send)."""
    batches: list[dict] = []
    StreamPoller(streams, arn, lambda event: batches.append(event) or {}).poll_once()
    return {"Records": [r for b in batches for r in b["Records"]]}


def live_rows(objects) -> list[dict]:
    """Every row a query would read: the live objects of every partition (layout.resolve)."""
    rows = []
    partitions = {layout.Partition.from_key(o.key) for o in objects.list(EVENTS_PREFIX)}
    for partition in partitions:
        files = layout.resolve(partition, objects.list(partition.prefix), objects.get)
        for obj in files.live:
            rows.extend(parquet_rows(objects.get(obj.key)))
    return rows


def metric_lines(lines: list[str]) -> list[dict]:
    return [d for d in map(json.loads, lines) if LAKE_EVENTS_WRITTEN in d]


def test_posted_events_reach_parquet_with_exactly_their_rows(lake):
    services, s3, streams, arn, lines = lake
    post_events(workload(int(time.time() * 1000)))

    handed = StreamPoller(streams, arn, services.write_event_lake).poll_once()

    stored = {e["event_id"]: e for e in stored_events(services._client)}
    assert handed == 5 + 1  # the events and the day's salt, which is no event
    rows = {r["event_id"]: r for r in live_rows(services.lake_objects)}
    assert rows == {event_id: expected_row(e) for event_id, e in stored.items()}
    assert rows[E1]["properties"] == {"plan": "pro", "seats": "3", "trial": "true", "ratio": "0.5"}
    assert rows[E1]["utm_source"] == "news" and rows[E1]["source"]
    assert (rows[E2]["engaged_ms"], rows[E2]["scroll_pct"]) == (4200, 75)
    assert "engaged_ms" not in rows[E5] and rows[E5]["scroll_pct"] == 10
    assert rows[E3]["user_id"] == "u-42" and rows[E3]["visitor_id"] == "u-42"
    keys = [o.key for o in services.lake_objects.list("")]
    assert len(keys) == 2 and all(k.startswith(EVENTS_PREFIX) for k in keys)
    assert {layout.Partition.from_key(k).site for k in keys} == {"demo", "shop"}
    figures, = metric_lines(lines)
    assert (figures[LAKE_EVENTS_WRITTEN], figures[LAKE_DEAD_LETTERS]) == (5, 0)
    assert 0 <= figures[LAKE_WRITE_DELAY] < 60


def event_ids_once(objects) -> list[str]:
    ids = [r["event_id"] for r in live_rows(objects)]
    assert len(ids) == len(set(ids)), f"an event is in the lake twice: {sorted(ids)}"
    return sorted(ids)


def test_a_redelivered_batch_leaves_one_copy(lake):
    services, s3, streams, arn, _ = lake
    post_events(workload(int(time.time() * 1000)))
    batch = lambda_batch(streams, arn)
    objects = services.lake_objects

    for _ in range(3):
        assert services.write_event_lake(batch) == {"batchItemFailures": []}

    assert event_ids_once(objects) == ALL
    assert len(objects.list(EVENTS_PREFIX)) == 2


def test_a_batch_failed_part_way_then_split_in_halves_leaves_one_copy(lake):
    services, s3, streams, arn, lines = lake
    post_events(workload(int(time.time() * 1000)))
    batch = lambda_batch(streams, arn)
    records = batch["Records"]
    first_sequence = records[0]["dynamodb"]["SequenceNumber"]
    # The demo partition's object is written, the shop partition's PUT fails: Lambda gets the whole
    # batch back, then (BisectBatchOnFunctionError) retries it in two halves, in order.
    objects = FailingPuts(services.lake_objects, {"events/site=shop/"})
    answer = write_stream_batch(batch, objects, services.metrics, now_ms=int(time.time() * 1000))
    assert answer == {"batchItemFailures": [{"itemIdentifier": first_sequence}]}
    assert event_ids_once(services.lake_objects) == [E1, E2, E3]

    half = len(records) // 2
    for part in (records[:half], records[half:]):
        assert services.write_event_lake({"Records": part}) == {"batchItemFailures": []}
        event_ids_once(services.lake_objects)  # never two copies, between the halves either

    assert event_ids_once(services.lake_objects) == ALL
    # A half delivered again (at least once) adds no copy either.
    services.write_event_lake({"Records": records[half:]})
    assert event_ids_once(services.lake_objects) == ALL


def test_a_batch_retried_after_a_failed_put_leaves_one_copy(lake):
    services, s3, streams, arn, _ = lake
    post_events(workload(int(time.time() * 1000)))
    objects = FailingPuts(services.lake_objects, {"events/site=demo/"})
    poller = StreamPoller(streams, arn, lambda event: write_stream_batch(
        event, objects, services.metrics, now_ms=int(time.time() * 1000)))

    assert poller.poll_once() == 0  # failed: the poller goes back to the batch's first record
    assert poller.poll_once() == 6  # the same batch again, now stored

    assert event_ids_once(services.lake_objects) == ALL
    assert poller.poll_once() == 0  # nothing new


def test_a_poison_record_is_dead_lettered_counted_and_the_rest_written(lake):
    services, s3, streams, arn, lines = lake
    post_events(workload(int(time.time() * 1000)))
    batch = lambda_batch(streams, arn)
    poison = next(r for r in batch["Records"] if r["dynamodb"]["NewImage"].get("event_id", {}).get("S") == E3)
    poison["dynamodb"]["NewImage"]["time_ms"] = {"S": "yesterday"}

    assert services.write_event_lake(batch) == {"batchItemFailures": []}

    assert event_ids_once(services.lake_objects) == [E1, E2, E4, E5]
    letters = services.lake_objects.list(DEAD_LETTER_PREFIX)
    assert [o.key for o in letters] == [dead_letter_key(poison)]
    assert json.loads(services.lake_objects.get(letters[0].key)) == poison
    figures, = metric_lines(lines)
    assert (figures[LAKE_EVENTS_WRITTEN], figures[LAKE_DEAD_LETTERS]) == (4, 1)


def test_s3_puts_per_batch_equal_its_partitions(lake):
    services, s3, streams, arn, _ = lake
    post_events(workload(int(time.time() * 1000)))
    batch = lambda_batch(streams, arn)
    calls: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    services.write_event_lake(batch)

    assert calls == ["PutObject", "PutObject"]  # two partitions (demo, shop): no GET, no LIST


def test_the_s3_store_lists_across_pages_gets_missing_and_deletes_in_batches(lake):
    services, s3, *_ = lake
    objects = S3LakeObjects(s3, BUCKET)
    keys = [f"events/site=demo/date=2026-11-27/s-00000000-{n}.parquet" for n in range(1, 1203)]
    for key in keys:
        objects.put(key, b"x")
    calls: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    assert sorted(o.key for o in objects.list("events/site=demo/")) == sorted(keys)
    assert calls.count("ListObjectsV2") == 2  # 1,000 keys a page
    with pytest.raises(KeyError):
        objects.get("events/site=demo/date=2026-11-27/absent.parquet")
    objects.delete(keys + ["events/never-there.parquet"])
    assert calls.count("DeleteObjects") == 2 and objects.list("events/") == []

"""Cost shape: DynamoDB requests grow with ceil(events/90), never with each event; no per-event
AWS call, no PutMetricData, no boto3.resource, one client per process. Counted, not timed.

Per request and visitor, sessions cost one Query (the visitor's newest session); the sessions and
their events are written in one TransactWriteItems per 90 events and, for client-made ids, read
with one BatchGetItem per 100 (the duplicate check). A request writes no statistics: the stream
function does, one write per bucket a batch touches however many requests the batch holds, and one
more per VALUES_PER_UPDATE distinct breakdown values (its expressions must stay under 4 KB)."""

from __future__ import annotations

import json
import math
import time
import uuid

import boto3
import botocore.session
import pytest
from chalice.test import Client

from app import app
from chalicelib.schema.tables import EVENTS
from chalicelib.services import Services, get_services, set_services
from chalicelib.sessions.sessionizer import EVENTS_PER_COMMIT_MAX
from chalicelib.stats.buckets import shard_of
from chalicelib.store.stats import VALUES_PER_UPDATE
from scripts.local_stream import StreamPoller
from tests.integration.conftest import AUTH, STAGE, STREAMS_ENDPOINT, RequestCounter, post

GUIDE_EVENT = {"user_id": "test", "event_type": "page_view", "page_url": "https://example.com"}


def page_views(n, with_ids=True):
    return [{"event_type": "page_view", "page_url": f"https://shop.example/{i}",
             **({"event_id": str(uuid.uuid4())} if with_ids else {})} for i in range(n)]


class StatsWritesAsUpdates(RequestCounter):
    """Counts a statistics bucket's creation (a PutItem, for a bucket new to the process; which
    bucket a visitor lands in depends on its hash) as the UpdateItem it otherwise is: the only
    PutItem a warm request makes. The per-site limit's reservations (about one per 100 events and
    process, and one each minute: tests/integration/test_ratelimit_store.py) are counted apart."""

    def __init__(self, client) -> None:
        super().__init__(client)
        self.limit_reservations = 0

    def _count(self, model, params=None, **_):
        body = (params or {}).get("body", b"")  # the serialised request
        if model.name == "UpdateItem" and '#limit"' in (body.decode() if isinstance(body, bytes) else body):
            self.limit_reservations += 1
            return
        self.calls["UpdateItem" if model.name == "PutItem" else model.name] += 1


@pytest.fixture
def counter(dynamodb):
    return StatsWritesAsUpdates(dynamodb)


@pytest.fixture
def api(dynamodb, settings, no_sleep_backoff):
    """The app without the statistics stream function behind it: the collector's requests alone."""
    set_services(Services(settings, dynamodb_client=dynamodb, backoff=no_sleep_backoff))
    with Client(app, stage_name=STAGE) as client:
        yield client
    set_services(None)


@pytest.fixture
def stream_batch(dynamodb):
    """What the Events stream got since the last call, as one batch of Lambda's event (read as
    scripts/local_stream.py reads it)."""
    batches = []
    arn = dynamodb.describe_table(TableName=EVENTS.name(STAGE))["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    poller = StreamPoller(streams, arn, lambda event: batches.append(event) or {})

    def read() -> dict:
        batches.clear()
        poller.poll_once()
        return {"Records": [record for batch in batches for record in batch["Records"]]}

    return read


@pytest.fixture
def warm_api(api, counter):
    """An API whose process has loaded today's salt already (that costs requests once a day)."""
    post(api, page_views(1, with_ids=False)[0])
    counter.reset()
    return api


# The visitor's newest session; the session and the event in one transaction.
SESSION = {"Query": 1, "TransactWriteItems": 1}


def test_the_guides_single_event_costs_three_requests(warm_api, counter):
    assert post(warm_api, GUIDE_EVENT).status_code == 200
    assert counter.calls == SESSION


def test_a_single_event_with_an_id_adds_the_duplicate_check(warm_api, counter):
    assert post(warm_api, page_views(1)[0]).status_code == 200
    assert counter.calls == {**SESSION, "BatchGetItem": 1}


@pytest.mark.parametrize("n", [1, 24, 25, 26, 50, 89, 90, 91, 99, 100])
def test_requests_grow_with_ceil_events_over_90(warm_api, counter, n):
    response = post(warm_api, {"events": page_views(n)})
    assert json.loads(response.body)["accepted"] == n
    assert counter.calls == {"Query": 1, "TransactWriteItems": math.ceil(n / EVENTS_PER_COMMIT_MAX),
                             "BatchGetItem": math.ceil(n / 100)}


def test_a_100_event_batch_without_ids_costs_three_requests(warm_api, counter):
    post(warm_api, {"events": page_views(100, with_ids=False)})
    assert counter.calls == {"Query": 1, "TransactWriteItems": 2}


def test_each_visitor_of_a_batch_costs_one_session_read_and_write(warm_api, counter):
    events = [{**e, "user_id": f"user-{i % 3}"} for i, e in enumerate(page_views(30))]
    post(warm_api, {"events": events})
    assert counter.calls == {"Query": 3, "TransactWriteItems": 3, "BatchGetItem": 1}


def test_a_stream_batch_costs_one_statistics_write_per_bucket_however_many_requests(
        warm_api, counter, stream_batch, settings):
    services = get_services()
    stream_batch()  # the warm-up's event: not part of this test
    minute_ms = int(time.time()) // 60 * 60_000  # every event in this minute: the same buckets each time
    visitors = [f"user-{i}" for i in range(40)]
    shards = {shard_of(v, settings.stats_shards) for v in visitors}

    def forty_requests() -> dict:  # one page view each, 5 pages
        for i, visitor in enumerate(visitors):
            post(warm_api, {"user_id": visitor, "event_type": "page_view", "timestamp": minute_ms + i,
                            "page_url": f"https://shop.example/{i % 5}"})
        return stream_batch()

    first = forty_requests()
    assert len(first["Records"]) == 40
    counter.reset()
    services.aggregate_events(first)
    # a bucket new this minute: a refused UpdateItem (a batch is seldom its minute's first), then its PutItem
    assert counter.calls == {"UpdateItem": 2 * len(shards)}
    second = forty_requests()
    counter.reset()
    services.aggregate_events(second)
    assert counter.calls == {"UpdateItem": len(shards)}  # one each, for 40 requests
    counter.reset()
    services.aggregate_events(second)  # the same batch again (Lambda's retry): recognised, nothing added
    assert counter.calls == {"UpdateItem": len(shards)}
    realtime = json.loads(warm_api.http.get("/stats/realtime?site=demo", headers=AUTH).body)
    assert realtime["pageviews"] == 80  # each batch once (the warm-up's event was read above, not aggregated)


def test_many_distinct_pages_split_a_bucket_update_in_parts_of_40_values(warm_api, counter, stream_batch):
    services = get_services()
    post(warm_api, {"events": page_views(100)})
    services.aggregate_events(stream_batch())  # creates the buckets
    post(warm_api, {"events": page_views(100)})
    batch = stream_batch()
    counter.reset()
    services.aggregate_events(batch)
    assert counter.calls == {"UpdateItem": math.ceil(101 / VALUES_PER_UPDATE)}  # 100 pages and one event name


def test_the_daily_salt_costs_requests_once_per_process_per_day(api, counter):
    post(api, page_views(1, with_ids=False)[0])
    # today's salt: one BatchGetItem and, as the first process of the day, one PutItem creating it;
    # the minute's first reservation of the limit
    assert counter.calls == {"BatchGetItem": 1, "Query": 1, "UpdateItem": 1, "TransactWriteItems": 1}
    assert counter.limit_reservations == 1
    counter.reset()
    post(api, page_views(1, with_ids=False)[0])
    assert counter.calls == SESSION


def test_one_low_level_client_per_process_and_nothing_but_dynamodb(dynamodb, settings, monkeypatch):
    from chalice.test import Client

    from app import app

    created = []

    def create_client(session, service, *args, **kwargs):
        created.append(service)
        return dynamodb

    def boto3_used(*args, **kwargs):
        raise AssertionError("boto3 must not be used: the client is botocore's (its import costs cold start)")

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    monkeypatch.setattr(boto3, "client", boto3_used)
    monkeypatch.setattr(boto3, "resource", boto3_used)
    set_services(Services(settings))  # builds its own client, lazily
    calls = RequestCounter(dynamodb)
    try:
        with Client(app, stage_name="local") as api:
            for _ in range(5):
                assert post(api, {"events": page_views(3)}).status_code == 200
    finally:
        set_services(None)
    assert created == ["dynamodb"]
    assert set(calls.calls) <= {"BatchGetItem", "TransactWriteItems", "PutItem", "Query", "UpdateItem"}  # no metrics

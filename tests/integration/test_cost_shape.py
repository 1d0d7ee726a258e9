"""Cost shape: DynamoDB requests grow with ceil(events/25), never with each event; no per-event
AWS call, no PutMetricData, no boto3.resource, one client per process. Counted, not timed.

Per request and visitor, sessions cost one Query (the visitor's newest session) and one
conditional PutItem; events cost one BatchWriteItem per 25 and, for client-made ids, one
BatchGetItem per 100 (the duplicate check)."""

from __future__ import annotations

import json
import math
import uuid

import boto3
import pytest

from chalicelib.services import Services, set_services
from chalicelib.stats import shard_of
from tests.integration.conftest import RequestCounter, post

GUIDE_EVENT = {"user_id": "test", "event_type": "page_view", "page_url": "https://example.com"}


def page_views(n, with_ids=True):
    return [{"event_type": "page_view", "page_url": f"https://shop.example/{i}",
             **({"event_id": str(uuid.uuid4())} if with_ids else {})} for i in range(n)]


@pytest.fixture
def warm_api(api, counter):
    """An API whose process has loaded today's salt already (that costs requests once a day)."""
    post(api, page_views(1, with_ids=False)[0])
    counter.reset()
    return api


SESSION = {"Query": 1, "PutItem": 1, "UpdateItem": 1}  # the visitor's session, and its statistics bucket


def test_the_guides_single_event_costs_three_requests(warm_api, counter):
    assert post(warm_api, GUIDE_EVENT).status_code == 200
    assert counter.calls == {**SESSION, "BatchWriteItem": 1}


def test_a_single_event_with_an_id_adds_the_duplicate_check(warm_api, counter):
    assert post(warm_api, page_views(1)[0]).status_code == 200
    assert counter.calls == {**SESSION, "BatchGetItem": 1, "BatchWriteItem": 1}


@pytest.mark.parametrize("n", [1, 24, 25, 26, 50, 99, 100])
def test_requests_grow_with_ceil_events_over_25(warm_api, counter, n):
    response = post(warm_api, {"events": page_views(n)})
    assert json.loads(response.body)["accepted"] == n
    assert counter.calls == {**SESSION, "BatchGetItem": math.ceil(n / 100), "BatchWriteItem": math.ceil(n / 25)}


def test_a_100_event_batch_without_ids_costs_six_requests(warm_api, counter):
    post(warm_api, {"events": page_views(100, with_ids=False)})
    assert counter.calls == {**SESSION, "BatchWriteItem": 4}


def test_each_visitor_of_a_batch_costs_one_session_read_and_write(warm_api, counter, settings):
    events = [{**e, "user_id": f"user-{i % 3}"} for i, e in enumerate(page_views(30))]
    post(warm_api, {"events": events})
    shards = {shard_of(f"user-{i}", settings.stats_shards) for i in range(3)}
    assert counter.calls == {"Query": 3, "PutItem": 3, "UpdateItem": len(shards), "BatchGetItem": 1,
                             "BatchWriteItem": 2}


def test_the_daily_salt_costs_requests_once_per_process_per_day(api, counter):
    post(api, page_views(1, with_ids=False)[0])
    # today's salt: one BatchGetItem and, as the first process of the day, one PutItem creating it
    assert counter.calls == {"BatchGetItem": 1, "Query": 1, "PutItem": 2, "UpdateItem": 1, "BatchWriteItem": 1}
    counter.reset()
    post(api, page_views(1, with_ids=False)[0])
    assert counter.calls == {**SESSION, "BatchWriteItem": 1}


def test_one_low_level_client_per_process_and_nothing_but_dynamodb(dynamodb, settings, monkeypatch):
    from chalice.test import Client

    from app import app

    created = []

    def client(service, *args, **kwargs):
        created.append(service)
        return dynamodb

    def resource(*args, **kwargs):
        raise AssertionError("boto3.resource must not be used")

    monkeypatch.setattr(boto3, "client", client)
    monkeypatch.setattr(boto3, "resource", resource)
    set_services(Services(settings))  # builds its own client, lazily
    calls = RequestCounter(dynamodb)
    try:
        with Client(app, stage_name="local") as api:
            for _ in range(5):
                assert post(api, {"events": page_views(3)}).status_code == 200
    finally:
        set_services(None)
    assert created == ["dynamodb"]
    assert set(calls.calls) <= {"BatchGetItem", "BatchWriteItem", "PutItem", "Query", "UpdateItem"}  # no metrics API

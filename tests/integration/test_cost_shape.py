"""Cost shape: DynamoDB requests grow with ceil(events/25), never with each event; no per-event
AWS call, no PutMetricData, no boto3.resource, one client per process. Counted, not timed."""

from __future__ import annotations

import json
import math
import uuid

import boto3
import pytest

from chalicelib.services import Services, set_services
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


def test_the_guides_single_event_costs_one_request(warm_api, counter):
    assert post(warm_api, GUIDE_EVENT).status_code == 200
    assert counter.calls == {"BatchWriteItem": 1}


def test_a_single_event_with_an_id_costs_a_duplicate_check_and_a_write(warm_api, counter):
    assert post(warm_api, page_views(1)[0]).status_code == 200
    assert counter.calls == {"BatchGetItem": 1, "BatchWriteItem": 1}


@pytest.mark.parametrize("n", [1, 24, 25, 26, 50, 99, 100])
def test_requests_grow_with_ceil_events_over_25(warm_api, counter, n):
    response = post(warm_api, {"events": page_views(n)})
    assert json.loads(response.body)["accepted"] == n
    assert counter.calls == {"BatchGetItem": math.ceil(n / 100), "BatchWriteItem": math.ceil(n / 25)}


def test_a_100_event_batch_without_ids_costs_four_requests(warm_api, counter):
    post(warm_api, {"events": page_views(100, with_ids=False)})
    assert counter.calls == {"BatchWriteItem": 4}


def test_the_daily_salt_costs_requests_once_per_process_per_day(api, counter):
    post(api, page_views(1, with_ids=False)[0])
    assert counter.calls == {"BatchGetItem": 1, "PutItem": 1, "BatchWriteItem": 1}  # created today's
    counter.reset()
    post(api, page_views(1, with_ids=False)[0])
    assert counter.calls == {"BatchWriteItem": 1}


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
    assert set(calls.calls) <= {"BatchGetItem", "BatchWriteItem", "PutItem"}  # no PutMetricData anywhere

"""Integration fixtures: the real app through chalice.test.Client, on moto's in-memory DynamoDB."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.core.settings import load_settings
from chalicelib.schema.tables import EVENTS, create_tables
from chalicelib.services import Services, set_services
from chalicelib.store import Backoff, from_item
from chalicelib.store.base import read_queries_fast
from tests.conftest import stage_environment

STAGE = "local"
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


class RequestCounter:
    """Counts DynamoDB API calls with botocore's event hooks."""

    def __init__(self, client) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model, **_):
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def dynamodb(aws_env):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        read_queries_fast(client)  # reads as the functions' own client does (store/base.py)
        create_tables(client, STAGE)
        yield client


@pytest.fixture
def settings():
    return load_settings(stage_environment(STAGE))


@pytest.fixture
def no_sleep_backoff():
    return Backoff(sleep=lambda _: None)


STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"  # moto's streams need one


class _ThenStatistics:
    """The collector, then the statistics function over what the request stored: moto's Events stream
    read as Lambda's event source mapping reads it (scripts/local_stream.py) and handed to
    Services.aggregate_events. In AWS that happens within seconds of the request; here before the
    test's next step, so a test reads the statistics its requests made."""

    def __init__(self, collector, poller) -> None:
        import threading

        self._collector, self._poller, self._lock = collector, poller, threading.Lock()

    def collect(self, request):
        result = self._collector.collect(request)
        with self._lock:  # requests of concurrent tests' threads: one poll at a time
            while self._poller.poll_once():
                pass
        return result

    def __getattr__(self, name):
        return getattr(self._collector, name)


def with_statistics_stream(services: Services, dynamodb) -> Services:
    """Services whose collector is followed by the statistics stream function (see _ThenStatistics)."""
    from scripts.local_stream import StreamPoller

    arn = dynamodb.describe_table(TableName=EVENTS.name(STAGE))["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    services.__dict__["collector"] = _ThenStatistics(services.collector, StreamPoller(streams, arn,
                                                                                      services.aggregate_events))
    return services


@pytest.fixture
def wire(dynamodb, settings, no_sleep_backoff):
    """Installs services around a given DynamoDB client (the real moto one by default); each request's
    events reach the statistics through the Events stream, as in AWS."""

    def install(client=None, settings_=None):
        services = Services(settings_ or settings, dynamodb_client=client or dynamodb, backoff=no_sleep_backoff)
        with_statistics_stream(services, dynamodb)
        set_services(services)
        return services

    yield install
    set_services(None)


@pytest.fixture
def api(wire):
    wire()
    with Client(app, stage_name=STAGE) as client:
        yield client


@pytest.fixture
def counter(dynamodb):
    return RequestCounter(dynamodb)


def stored_events(client) -> list[dict]:
    """Every stored event (tests may Scan; the app never does)."""
    items = client.scan(TableName=EVENTS.name(STAGE))["Items"]
    return [from_item(i) for i in items if not i["pk"]["S"].startswith("salt#")]


def post(api, document=None, *, raw: bytes | None = None, content_type="application/json", headers=None):
    body = raw if raw is not None else json.dumps(document).encode()
    all_headers = {"Content-Type": content_type, "User-Agent": BROWSER_UA, **(headers or {})}
    if content_type is None:
        del all_headers["Content-Type"]
    return api.http.post("/events", headers=all_headers, body=body)


class Serialized:
    """The moto client with one call at a time, as DynamoDB applies each conditional write
    atomically (moto alone does not guard against interleaving threads)."""

    def __init__(self, client) -> None:
        import threading

        self._client, self._lock = client, threading.Lock()

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)
        return call


def stored_sessions(client) -> list[dict]:
    from chalicelib.schema.tables import SESSIONS

    return [from_item(i) for i in client.scan(TableName=SESSIONS.name(STAGE))["Items"]]


TOKEN = stage_environment(STAGE)["LIVEINSIGHT_API_TOKEN"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}

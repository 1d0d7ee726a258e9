"""End to end on moto: events posted through the real collector -> the events table's stream ->
the stream writer -> Parquet on S3 -> the query function. The visits the lake derives agree with
the sessions GET /sessions/{id} shows for the same events."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import parse_sites
from chalicelib.schema.tables import EVENTS
from chalicelib.services import Services, set_services
from scripts.local_stream import StreamPoller
from tests.integration.conftest import AUTH, STAGE, post, stored_events

BUCKET = "liveinsight-test-lake"
STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"
FACTS = ("entry_page", "exit_page", "source", "device_type", "country", "channel")
DIMENSIONS = ["visit:entry_page", "visit:exit_page", "visit:source", "visit:device", "visit:country", "visit:channel"]
METRICS = ["visits", "visitors", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    lake_settings = replace(settings, lake_bucket=BUCKET, sites=parse_sites('{"demo": {"origins": []}}'))
    services = Services(lake_settings, dynamodb_client=dynamodb, backoff=no_sleep_backoff, s3_client=s3)
    services.__dict__["metrics"] = Metrics(lake_settings.metrics_environment, write=lambda line: None)
    set_services(services)
    arn = dynamodb.describe_table(TableName=EVENTS.name(STAGE))["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    yield services, streams, arn, dynamodb
    set_services(None)


def visits_posted(now_ms: int) -> list[list[dict]]:
    """One request per visit, each visitor its own (user_id): bounces, engagement on both sides of
    10 s, custom events, several page views, acquisition that later events contradict."""
    def event(user, n, kind, path, seconds_ago, **extra):
        return {"site": "demo", "event_type": kind, "user_id": user, "timestamp": now_ms - seconds_ago * 1000,
                "event_id": f"00000000-0000-4000-8000-{user[-2:]}00000000{n:02d}", "page_url": f"https://ex.com{path}",
                **extra}
    google = {"referrer": "https://www.google.com/search?q=x"}
    return [
        [event("u-01", 1, "page_view", "/", 3000, **google), event("u-01", 2, "engagement", "/", 2990,
                                                                        properties={"engaged_ms": 12000}),
         event("u-01", 3, "page_view", "/pricing", 2900, referrer="https://news.example/")],
        [event("u-02", 1, "page_view", "/blog", 2800, referrer="https://news.example/a")],  # a bounce
        [event("u-03", 1, "page_view", "/docs", 2700),
         event("u-03", 2, "engagement", "/docs", 2600, properties={"engaged_ms": 9999.6})],  # not engaged
        [event("u-04", 1, "page_view", "/signup?utm_source=nl&utm_medium=email", 2500),
         event("u-04", 2, "signup", "/signup", 2400, properties={"plan": "pro"})],  # one view, engaged
        [event("u-05", 1, "page_view", "/a", 2300, **google), event("u-05", 2, "page_view", "/b", 2000),
         event("u-05", 3, "page_view", "/c", 1500), event("u-05", 4, "outbound_click", "/c", 1400)],
    ]


def test_visits_from_the_lake_agree_with_get_sessions(wired):
    services, streams, arn, dynamodb = wired
    now_ms = int(time.time() * 1000)
    with Client(app, stage_name=STAGE) as client:
        for visit in visits_posted(now_ms):
            response = post(client, {"events": visit})
            assert response.status_code == 200 and json.loads(response.body)["accepted"] == len(visit)
        assert StreamPoller(streams, arn, services.write_event_lake).poll_once() == 12
        session_ids = sorted({e["session_id"] for e in stored_events(dynamodb)})
        sessions = []
        for session_id in session_ids:
            response = client.http.get(f"/sessions/{session_id}", headers=AUTH)
            assert response.status_code == 200
            sessions.append(json.loads(response.body)["session"])
    assert len(sessions) == 5

    answered = services.query_lake({"site": "demo", "time_range_ms": [now_ms - 3_600_000, now_ms + 60_000],
                                    "metrics": METRICS, "dimensions": DIMENSIONS}, time_left_seconds=30)
    assert answered["meta"]["engine"] == "duckdb" and answered["meta"]["files_read"] >= 1
    lake = {tuple(r["dimensions"]): r["metrics"] for r in answered["results"]}

    groups = defaultdict(list)
    for session in sessions:
        groups[tuple(session.get(f) for f in FACTS)].append(session)
    expected = {}
    for key, group in groups.items():
        n = len(group)
        expected[key] = [n, len({s["visitor_id"] for s in group}), sum(s["page_views"] for s in group),
                         float(round(Fraction(sum(s["page_views"] for s in group), n), 2)),
                         float(round(Fraction(100 * sum(s["bounce"] for s in group), n), 1)),
                         float(round(Fraction(sum(s["duration_ms"] for s in group), n) / 1000, 1))]
    assert lake == expected
    # What the sessions say, spelled out: the facts the lake had to derive.
    by_entry = {s["entry_page"]: s for s in sessions}
    assert [by_entry[p]["bounce"] for p in ("/", "/blog", "/docs", "/signup", "/a")] == [False, True, True, False,
                                                                                          False]
    assert by_entry["/"]["source"].lower() == "google" and by_entry["/"]["exit_page"] == "/pricing"

"""Minute resolution through the app: page views posted through the real collector seconds to an hour ago
(moto: stream -> lake writer -> S3) on a site in Asia/Kolkata (+05:30); POST /api/v2/query answers
date_range "30m" and "realtime" and time:minute buckets on the local wall clock, as plain Python finds them
with zoneinfo; a too long minute range and a comparison of 30 minutes are 400s naming the part."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

KOLKATA = "Asia/Kolkata"
SITES = {"demo": {"origins": [], "timezone": KOLKATA}}
# ages at posting time, away from the 5- and 30-minute edges (the query runs a few seconds later)
AGES_S = [5, 20, 61, 100, 100, 600, 1_500, 2_400, 3_000]
IN_REALTIME, IN_30M = 5, 7  # how many of them are in the last 5 and 30 minutes


def post_events(lake, now_ms: int) -> list[dict]:
    events = [{"site": "demo", "event_type": "page_view", "user_id": f"u{n % 4}",
               "event_id": f"00000000-0000-4000-8000-{n:012d}", "timestamp": now_ms - age_s * 1000,
               "page_url": f"https://demo.example/p{n}"} for n, age_s in enumerate(AGES_S)]
    lake.post_visits(events)
    return events


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=json.dumps(SITES),
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    yield post_events(lake, int(time.time() * 1000))
    set_services(None)


def query(api, body: dict) -> tuple[int, dict]:
    response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                             body=json.dumps({"site_id": "demo", **body}).encode())
    return response.status_code, json.loads(response.body)


def local_minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(KOLKATA)).strftime("%Y-%m-%d %H:%M:00")


def test_30m_by_minute_is_every_local_minute_with_the_events_plain_python_buckets(wired):
    body = {"metrics": ["pageviews", "visitors"], "date_range": "30m", "dimensions": ["time:minute"],
            "include": {"time_labels": True}}
    with Client(app, stage_name=STAGE) as api:
        status, got = query(api, body)
        realtime_status, realtime = query(api, {"metrics": ["pageviews"], "date_range": "realtime"})
        thirty_status, thirty = query(api, {"metrics": ["pageviews"], "date_range": "30m"})
    assert (status, realtime_status, thirty_status) == (200, 200, 200), (got, realtime, thirty)
    assert realtime["results"][0]["metrics"] == [IN_REALTIME] and thirty["results"][0]["metrics"] == [IN_30M]
    labels = got["meta"]["time_labels"]
    first, last = (datetime.fromisoformat(t) for t in got["query"]["date_range"])
    assert (last - first).total_seconds() == 30 * 60 and got["query"]["date_range"][0].endswith("+05:30")
    assert len(labels) == 31 and labels[0] == first.strftime("%Y-%m-%d %H:%M:00") and labels == sorted(labels)
    expected = Counter(local_minute(e["timestamp"]) for e in wired[:IN_30M])
    assert {r["dimensions"][0]: r["metrics"][0] for r in got["results"]} == dict(expected)
    assert set(expected) <= set(labels)


def test_a_minute_range_refuses_comparisons_and_minutes_refuse_long_ranges(wired):
    with Client(app, stage_name=STAGE) as api:
        compared = query(api, {"metrics": ["visitors"], "date_range": "realtime",
                               "include": {"comparisons": {"mode": "previous_period"}}})
        too_long = query(api, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["time:minute"]})
        today = query(api, {"metrics": ["pageviews"], "date_range": "day", "dimensions": ["time:minute"],
                            "include": {"time_labels": True}})
    assert compared[0] == 400 and compared[1]["error"].startswith("include.comparisons: not available")
    assert too_long[0] == 400 and too_long[1]["error"].startswith("dimensions: time:minute needs a range of at most 2")
    assert today[0] == 200 and len(today[1]["meta"]["time_labels"]) == 1440
    today_events = [e for e in wired if local_minute(e["timestamp"]) >= today[1]["meta"]["time_labels"][0]]
    assert sum(r["metrics"][0] for r in today[1]["results"]) == len(today_events)

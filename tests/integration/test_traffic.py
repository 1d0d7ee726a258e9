"""`make traffic` in process: a short backfill of generated visits sent through POST /events of the app
on moto (the local stage's settings: its demo site's goals and time zone, events up to 30 days old),
the stream written to the lake, then what the Stats API v2 answers about them: visits on most days,
a share of bounces, real durations, devices, channels, countries, goals, revenue and properties.
Counts that need no sessionising (page views, events) are checked against the generated events."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from scripts.traffic import batches, deliver, run_live, send_backfill
from scripts.traffic_model import VisitMaker, backfill, regulars
from tests.conftest import stage_environment
from tests.integration.conftest import AUTH, STAGE, stored_events
from tests.integration.lakepipe import lake_pipeline

DAYS = 6
SEED = 7


def backfill_with_a_purchase(now_ms: int, zone: ZoneInfo) -> list:
    """The backfill of the first seed from SEED whose visits include a purchase: what a seed makes depends
    on the clock (its days and hours), and at about one purchase in 180 visits some hours of the day made
    none, so the revenue card had nothing to show."""
    for seed in range(SEED, SEED + 100):
        visits = backfill(seed, now_ms=now_ms, days=DAYS, visits_per_day=30, zone=zone)
        if any(e["event_type"] == "purchase" for v in visits for e in v.events):
            return visits
    raise AssertionError("no seed made a purchase")


def chalice_send(api):
    def send(body: bytes, headers: dict):
        response = api.http.post("/events", headers=headers, body=body)
        return response.status_code, json.loads(response.body), response.headers
    return send


@pytest.fixture
def traffic(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    """The backfill sent and written to the lake; yields (the generated visits, the time it was sent)."""
    sites_json = stage_environment(STAGE)["LIVEINSIGHT_SITES"]
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=sites_json,
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    now_ms = int(time.time() * 1000)
    visits = backfill_with_a_purchase(now_ms, ZoneInfo(json.loads(sites_json)["demo"]["timezone"]))
    with Client(app, stage_name=STAGE) as api:
        totals = send_backfill(chalice_send(api), visits)
    assert totals == Counter(accepted=sum(len(v.events) for v in visits))
    while lake.poller.poll_once():
        pass
    yield visits, now_ms
    set_services(None)


def query(api, now_ms: int, body: dict) -> list:
    start = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc) - timedelta(days=DAYS, hours=1)
    end = datetime.fromtimestamp(now_ms / 1000 + 60, tz=timezone.utc)
    response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                             body=json.dumps({"site_id": "demo", "date_range": [start.isoformat(), end.isoformat()],
                                              **body}).encode())
    assert response.status_code == 200, response.body
    return json.loads(response.body)["results"]


def test_backfilled_traffic_fills_every_card(traffic):
    visits, now_ms = traffic
    events = [e for v in visits for e in v.events]
    with Client(app, stage_name=STAGE) as api:
        [total] = query(api, now_ms, {"metrics": ["visits", "pageviews", "events", "bounce_rate", "visit_duration"]})
        by_day = query(api, now_ms, {"metrics": ["visits"], "dimensions": ["time:day"]})
        devices = query(api, now_ms, {"metrics": ["visits"], "dimensions": ["visit:device"]})
        channels = query(api, now_ms, {"metrics": ["visits"], "dimensions": ["visit:channel"]})
        countries = query(api, now_ms, {"metrics": ["visits"], "dimensions": ["visit:country"]})
        goals = query(api, now_ms, {"metrics": ["visitors", "events", "conversion_rate", "total_revenue"],
                                    "dimensions": ["event:goal"]})
        plans = query(api, now_ms, {"metrics": ["visitors"], "dimensions": ["event:props:plan"],
                                    "filters": [["is", "event:name", ["signup"]]]})
        files = query(api, now_ms, {"metrics": ["events"], "dimensions": ["event:props:file"],
                                    "filters": [["is", "event:name", ["download"]]]})
        # Ordered by page: ordered by time_on_page (its default, the first metric) DuckDB refuses the SQL (503).
        scroll = query(api, now_ms, {"metrics": ["time_on_page", "scroll_depth"], "dimensions": ["event:page"],
                                     "order_by": [["event:page", "asc"]]})
    visit_count, pageviews, event_count, bounce_rate, duration_s = total["metrics"]
    # Page views and events need no sessions: exactly what was generated (engagement events are not events).
    assert pageviews == sum(e["event_type"] == "page_view" for e in events)
    assert event_count == sum(e["event_type"] != "engagement" for e in events)
    # A regular visitor back within 30 minutes continues the visit before: a few fewer visits than made.
    assert 0.95 * len(visits) <= visit_count <= len(visits)
    assert len([r for r in by_day if r["metrics"][0] > 0]) >= 5
    assert 30 <= bounce_rate <= 70 and duration_s > 30
    assert {"desktop", "mobile"} <= {r["dimensions"][0] for r in devices}
    assert len(channels) >= 4 and len(countries) >= 5
    converted = {r["dimensions"][0]: r["metrics"] for r in goals}
    assert converted["Signup"][0] > 0 and converted["Download"][0] > 0 and converted["Visit /pricing"][0] > 0
    revenue = [m[3] for name, m in converted.items() if name.startswith("Purchase")]
    assert any(r and r["value"] > 0 for r in revenue), converted
    assert {r["dimensions"][0] for r in plans} <= {"free", "pro", "team"} and len(plans) >= 2
    downloads = Counter(e["properties"]["file"] for e in events if e["event_type"] == "download")
    assert {r["dimensions"][0]: r["metrics"][0] for r in files} == downloads and downloads
    assert any(r["metrics"][0] and r["metrics"][0] > 10 for r in scroll)  # engaged seconds on some page


def test_a_second_run_with_the_same_seed_adds_nothing(dynamodb, settings, no_sleep_backoff):
    lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=stage_environment(STAGE)["LIVEINSIGHT_SITES"])
    now_ms = int(time.time() * 1000)
    zone = ZoneInfo("Europe/Berlin")
    first = backfill(SEED, now_ms=now_ms - 3_600_000, days=1, visits_per_day=24, zone=zone)
    again = backfill(SEED, now_ms=now_ms, days=1, visits_per_day=24, zone=zone)
    with Client(app, stage_name=STAGE) as api:
        sent = send_backfill(chalice_send(api), first)
        resent = send_backfill(chalice_send(api), again)
    overlap = {e["event_id"] for v in first for e in v.events} & {e["event_id"] for v in again for e in v.events}
    assert overlap and resent["duplicate"] == len(overlap)
    assert len(stored_events(dynamodb)) == sent["accepted"] + resent["accepted"]
    set_services(None)


def test_batches_keep_one_kind_of_browser_and_country_and_the_limits():
    visits = backfill(SEED, now_ms=int(time.time() * 1000), days=1, visits_per_day=300, zone=ZoneInfo("UTC"))
    seen = []
    for like, events in batches(visits):
        owners = {e["user_id"] for e in events}
        kinds = {(v.visitor.user_agent, v.visitor.country) for v in visits if v.visitor.user_id in owners}
        assert kinds == {(like.visitor.user_agent, like.visitor.country)}
        assert len(events) <= 100 and len(json.dumps({"events": events})) < 64 * 1024
        seen.extend(e["event_id"] for e in events)
    assert sorted(seen) == sorted(e["event_id"] for v in visits for e in v.events)


def test_429_and_503_are_waited_out_and_only_the_unstored_sent_again():
    visit = VisitMaker(random.Random(1)).visit(int(time.time() * 1000))
    answers = [(429, {"error": {"code": "rate_limited"}}, {"Retry-After": "3"}),
               (503, {"events": [{"status": "accepted"}] + [{"status": "retry"}] * (len(visit.events) - 1)},
                {"Retry-After": "2"})]
    bodies, waits = [], []

    def send(body, headers):
        bodies.append(json.loads(body)["events"])
        if answers:
            return answers.pop(0)
        return 200, {"events": [{"status": "accepted"}] * len(bodies[-1])}, {}

    assert deliver(send, visit, visit.events, waits.append) == Counter(accepted=len(visit.events))
    assert waits == [3.0, 2.0] and bodies[2] == visit.events[1:] and bodies[0] == bodies[1] == visit.events


def test_live_visits_send_each_event_when_its_moment_comes():
    clock = [1_800_000_000.0]
    sent = []

    def send(body, headers):
        events = json.loads(body)["events"]
        sent.extend((clock[0], e) for e in events)
        return 200, {"events": [{"status": "accepted"}] * len(events)}, {}

    maker = VisitMaker(random.Random(3), regulars=regulars(3, 5))
    totals = run_live(send, maker, minutes=20, visits_per_minute=2, clock=lambda: clock[0],
                      sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert totals["accepted"] == len(sent) > 0
    assert all(e["timestamp"] <= at * 1000 < e["timestamp"] + 2000 for at, e in sent)  # sent within a second
    assert {e["event_type"] for _, e in sent} >= {"page_view", "engagement"}

"""A site's time zone through the app (issue 15, C2/C3): events posted through the real collector a
moment ago (moto: stream -> lake writer -> S3), a site in Asia/Kolkata (+05:30, a non-hour offset) and
one in UTC; GET /stats/sites answers each site's zone and goals; POST /api/v2/query and the v1
timeseries bucket the same events by the local hours and days plain Python finds with zoneinfo."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

KOLKATA = "Asia/Kolkata"
SITES = {"demo": {"origins": [], "timezone": KOLKATA, "goals": [{"name": "Signup", "event": "signup"},
                                                                 {"name": "Pricing", "page": "/pricing"}]},
         "shop": {"origins": []}}
AGES_S = [5, 600, 3_600, 4 * 3_600, 9 * 3_600, 13 * 3_600, 19 * 3_600, 23 * 3_600]


def posted(now_ms: int, site: str) -> list[dict]:
    out = []
    for n, age_s in enumerate(AGES_S):
        event_id = f"00000000-0000-4000-8000-{n:04d}{sorted(SITES).index(site):08d}"
        out.append({"site": site, "event_type": "page_view", "user_id": f"{site}-u{n}", "event_id": event_id,
                    "timestamp": now_ms - age_s * 1000, "page_url": f"https://{site}.example/p{n}"})
    return out


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=json.dumps(SITES),
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    now_ms = int(time.time() * 1000)
    events = posted(now_ms, "demo") + posted(now_ms, "shop")
    lake.post_visits(events)
    yield events
    set_services(None)


def call(api, path: str, body: dict | None = None):
    if body is None:
        response = api.http.get(path, headers=AUTH)
    else:
        response = api.http.post(path, headers={"Content-Type": "application/json", **AUTH},
                                 body=json.dumps(body).encode())
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def local_hour(ms: int, zone: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).strftime("%Y-%m-%d %H:00:00")


def test_stats_sites_answers_each_sites_timezone_and_goals(wired):
    with Client(app, stage_name=STAGE) as api:
        sites = call(api, "/stats/sites")
    assert sites["site_details"] == {"demo": {"timezone": KOLKATA, "goals": ["Signup", "Pricing"], "properties": []},
                                     "shop": {"timezone": "UTC", "goals": [], "properties": []}}


@pytest.mark.parametrize("site, zone", [("demo", KOLKATA), ("shop", "UTC")])
def test_hours_and_days_are_the_sites_local_ones(wired, site, zone):
    events = [e for e in wired if e["site"] == site]
    today = datetime.now(ZoneInfo(zone)).date()
    days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]  # every posted event is in them
    body = {"site_id": site, "metrics": ["pageviews"], "date_range": days, "dimensions": ["time:hour"],
            "include": {"time_labels": True}}
    with Client(app, stage_name=STAGE) as api:
        hourly = call(api, "/api/v2/query", body)
        daily = call(api, "/api/v2/query", {**body, "dimensions": ["time:day"]})
        v1 = call(api, f"/api/v1/stats/timeseries?site_id={site}&period=day&date={today.isoformat()}")
    offset = "+05:30" if zone == KOLKATA else "+00:00"
    assert hourly["query"]["date_range"] == [f"{days[0]}T00:00:00{offset}", f"{today.isoformat()}T23:59:59{offset}"]
    assert hourly["meta"]["time_labels"] == [f"{d} {h:02d}:00:00" for d in days for h in range(24)]
    expected = Counter(local_hour(e["timestamp"], zone) for e in events)
    assert {r["dimensions"][0]: r["metrics"][0] for r in hourly["results"]} == dict(expected)
    by_day = Counter(local_hour(e["timestamp"], zone)[:10] for e in events)
    assert {r["dimensions"][0]: r["metrics"][0] for r in daily["results"]} == dict(by_day)
    today_hours = {label: n for label, n in expected.items() if label.startswith(today.isoformat())}
    assert {r["date"]: r["visitors"] for r in v1["results"] if r["visitors"]} == today_hours
    assert len(v1["results"]) == 24 and v1["results"][0]["date"] == f"{today.isoformat()} 00:00:00"

"""No longer range ever shows less than a shorter one it contains: events posted through the real
collector a moment ago (moto: stream -> lake writer -> S3), then POST /api/v2/query for every date
range shortcut; each pair whose resolved ranges nest (day ⊂ month ⊂ year, 7d ⊂ 28d ⊂ 30d ⊂ 91d,
6mo ⊂ 12mo, day and 24h ⊂ [yesterday, today], ...) is compared, and the shortest ones equal a plain
count of what was posted (the lake has the events right after they arrive)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from chalice.test import Client

from app import app
from chalicelib.query import plausible
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

SITE = "demo"
SHORTCUTS = ["day", "24h", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all"]
METRICS = ["visitors", "visits", "pageviews", "events"]
AGES_S = [5, 60, 600, 3_600, 5 * 3_600, 11 * 3_600, 17 * 3_600, 23 * 3_600]  # within the collector's 24 h


def posted(now_ms: int) -> list[dict]:
    """One visitor per age: a page view and a custom event a second later."""
    out = []
    for n, age_s in enumerate(AGES_S):
        user = f"u-{n:02d}"
        for k, kind in enumerate(("page_view", "signup")):
            out.append({"site": SITE, "event_type": kind, "user_id": user,
                        "timestamp": now_ms - age_s * 1000 + k * 1000,
                        "event_id": f"00000000-0000-4000-8000-{n:02d}000000000{k}",
                        "page_url": f"https://shop.example/p{n}"})
    return out


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    since_midnight_s = time.time() % 86_400  # "day" must hold the newest events: not across midnight
    if since_midnight_s < 120 or since_midnight_s > 86_400 - 60:
        time.sleep((120 - since_midnight_s) % 86_400)
    now_ms = int(time.time() * 1000)
    events = posted(now_ms)
    lake.post_visits(events)
    yield events, lake.settings.event_retention_days
    set_services(None)


def ask(api, date_range) -> list:
    response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                             body=json.dumps({"site_id": SITE, "metrics": METRICS, "date_range": date_range}).encode())
    assert response.status_code == 200, response.body
    return json.loads(response.body)["results"][0]["metrics"]


def test_no_longer_range_shows_less_than_a_shorter_one_it_contains(wired):
    events, retention_days = wired
    today = datetime.now(timezone.utc).date()
    explicit = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    with Client(app, stage_name=STAGE) as api:
        asked_ms = int(time.time() * 1000)
        answers = {name: ask(api, name) for name in SHORTCUTS}
        answers["yesterday-today"] = ask(api, explicit)
    ranges = {name: plausible.resolve_date_range(name, asked_ms, retention_days) for name in SHORTCUTS}
    ranges["yesterday-today"] = plausible.resolve_date_range(explicit, asked_ms, retention_days)
    nested = [(short, long) for short in ranges for long in ranges if short != long
              and ranges[long][0] <= ranges[short][0] and ranges[short][1] <= ranges[long][1]]
    assert {("day", "month"), ("month", "year"), ("7d", "30d"), ("30d", "91d"), ("6mo", "12mo"), ("day", "all"),
            ("day", "yesterday-today"), ("24h", "yesterday-today")} <= set(nested)
    for short, long in nested:
        assert all(a >= b for a, b in zip(answers[long], answers[short], strict=True)), (short, long, answers)

    def count(start_ms: int, end_ms: int) -> list:
        inside = [e for e in events if start_ms <= e["timestamp"] < end_ms]
        users = {e["user_id"] for e in inside}
        return [len(users), len(users), sum(e["event_type"] == "page_view" for e in inside), len(inside)]

    # every event is from the last 24 hours: the day, 24h and the two-day range see exactly what was posted
    assert answers["yesterday-today"] == count(*ranges["yesterday-today"]) == [8, 8, 8, 16]
    assert answers["day"] == count(*ranges["day"]) and answers["day"][3] > 0
    assert answers["24h"] == count(*ranges["24h"]) == [8, 8, 8, 16]

"""The per-site limit of events per minute, through POST /events: 429 + Retry-After past it,
nothing of a refused request stored or counted, the refusal in EventsRejected by site."""

from __future__ import annotations

import json
import time
import uuid

from chalice.test import Client

from app import app
from chalicelib.core.settings import load_settings
from tests.conftest import stage_environment
from tests.integration.conftest import STAGE, post, stored_events, stored_sessions

LIMIT = 100  # the smallest limit the setting allows: one full batch


def batch(n: int, user: str) -> dict:
    return {"events": [{"event_type": "page_view", "page_url": f"https://shop.example/{i}", "user_id": user,
                        "event_id": str(uuid.uuid4())} for i in range(n)]}


def test_a_site_past_its_limit_gets_429_and_nothing_of_the_request_is_stored(wire, dynamodb, capsys):
    settings = load_settings({**stage_environment(STAGE), "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE": str(LIMIT)})
    wire(settings_=settings)
    # both requests in one minute: wait out the last seconds of this one
    while time.time() % 60 > 50:
        time.sleep(1)
    with Client(app, stage_name=STAGE) as api:
        first = post(api, batch(60, "ann"))
        second = post(api, batch(60, "bob"))  # 120 > 100 this minute
    assert first.status_code == 200 and json.loads(first.body)["accepted"] == 60
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    error = json.loads(second.body)["error"]
    assert (error["code"], error["field"]) == ("rate_limited", "site") and "100 events this minute" in error["message"]
    assert len(stored_events(dynamodb)) == 60 and {s["visitor_id"] for s in stored_sessions(dynamodb)} == {"ann"}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("Reason") == "RateLimited"]
    assert [(line["EventsRejected"], line.get("Site")) for line in refused] == [(60, "demo")]

"""A person watching a session end: the local stack with a 2-second timeout, over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.conftest import stage_environment
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e
TOKEN = stage_environment("local")["LIVEINSIGHT_API_TOKEN"]


@pytest.fixture(scope="module")
def quick_stack():
    running = start_stack({"SESSION_TIMEOUT_SECONDS": "2", "EXPIRY_INTERVAL_SECONDS": "0.5"})
    yield running
    running.stop()


def call(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_session_ends_within_seconds_of_going_idle(quick_stack):
    posted = call(f"{quick_stack.base}/events", {"events": [
        {"event_type": "page_view", "page_url": "https://shop.example/", "user_id": "watcher"},
        {"event_type": "page_view", "page_url": "https://shop.example/pricing", "user_id": "watcher"}]})
    session_id = posted["events"][0]["session_id"]
    assert call(f"{quick_stack.base}/sessions/{session_id}")["session"]["status"] == "active"

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        session = call(f"{quick_stack.base}/sessions/{session_id}")["session"]
        if session["status"] == "ended":
            break
        time.sleep(0.25)
    assert session["status"] == "ended", session
    assert (session["events"], session["exit_page"], session["ended_ms"]) == (2, "/pricing", session["last_seen_ms"])

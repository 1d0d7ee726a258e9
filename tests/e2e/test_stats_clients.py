"""An existing Stats API client nobody here wrote, unchanged, reads LiveInsight's numbers on loopback.

PyPI `plausible-mcp` 0.1.2 (MIT) speaks Plausible's Stats API v1: it is installed at test time into a
virtualenv of its own, and its tool functions (plain functions under FastMCP's decorator) run in that
interpreter against the local stack, with telemetry off by its documented switches and every proxy
pointed at a closed loopback port (nothing leaves the machine). Its update check (check_for_updates,
the only call to PyPI) is never called. The numbers it gets back must equal the visits sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import VISITOR_UA, clear_of_midnight, start_stack

CLIENT_PACKAGES = ("plausible-mcp==0.1.2", "mcp==2.3.0")
SITE = "demo"
ZONE = "Europe/Berlin"  # not UTC, so the client's days must be the site's
TOKEN = "local-dev-token"  # the local stage's (.chalice/config.json)
ARRIVAL_TIMEOUT_SECONDS = 120
# Four visitors, one visit each, seconds before now: two with utm_source, a custom event, one 30 s visit.
VISITS = {
    "mcp-1": [("page_view", "/?utm_source=google", 60), ("page_view", "/pricing", 30)],
    "mcp-2": [("page_view", "/pricing", 50)],
    "mcp-3": [("page_view", "/blog/a?utm_source=newsletter", 40), ("signup", "/blog/a", 30)],
    "mcp-4": [("page_view", "/", 20)],
}
# The client's own code, run in its own interpreter: each tool's answer, parsed.
DRIVER = """
import json
from plausible_mcp import server
calls = {
    "aggregate_default": server.get_aggregate_stats("demo"),
    "aggregate": server.get_aggregate_stats("demo", date_range="7d", metrics=[
        "visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration"]),
    "aggregate_today": server.get_aggregate_stats("demo", date_range="today", metrics=["visitors", "pageviews"]),
    "pages": server.get_breakdown("demo", property_name="page", date_range="7d", limit=10),
    "sources": server.get_breakdown("demo", property_name="visit:utm_source", date_range="7d"),
    "refused": server.get_breakdown("demo", property_name="entry_page", date_range="7d"),
    "timeseries": server.get_timeseries("demo", date_range="7d", interval="date"),
    "realtime": server.get_realtime_visitors("demo"),
}
print(json.dumps({name: (json.loads(text) if text.startswith("{") else text) for name, text in calls.items()}))
"""


@pytest.fixture(scope="module")
def client_python(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stats-client")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    install = subprocess.run([str(folder / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                              *CLIENT_PACKAGES], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def stack():
    sites = {SITE: {"origins": ["http://127.0.0.1:9"], "timezone": ZONE}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": SITE,
                           "LAKE_POLL_INTERVAL_SECONDS": "1"})
    yield running
    running.stop()


def send_visits(base: str, now_ms: int) -> None:
    for user, events in VISITS.items():
        body = {"events": [{"event_type": kind, "event_id": str(uuid.uuid4()), "user_id": user,
                            "timestamp": now_ms - seconds_ago * 1000, "page_url": f"https://shop.example{path}"}
                           for kind, path, seconds_ago in events]}
        request = urllib.request.Request(f"{base}/events", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": VISITOR_UA})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["accepted"] == len(events)


def wait_for_lake(base: str, events: int) -> None:
    """Until the stream writer has put every event in the lake (the stack polls it every second)."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECONDS
    url = f"{base}/api/v1/stats/aggregate?site_id={SITE}&period=7d&metrics=events"
    while True:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            if json.loads(response.read())["results"]["events"]["value"] >= events:
                return
        assert time.monotonic() < deadline, f"the lake has not got {events} events in {ARRIVAL_TIMEOUT_SECONDS} s"
        time.sleep(0.5)


def run_client(python: Path, base: str, home: Path) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PLAUSIBLE_BASE_URL": base,
           "PLAUSIBLE_API_KEY": TOKEN, "DO_NOT_TRACK": "1", "MCP_TELEMETRY_OPT_OUT": "1",
           # belt and braces: any request not to loopback goes to a closed local port
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost"}
    run = subprocess.run([str(python), "-c", DRIVER], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_plausible_mcp_reads_the_visits_sent(client_python, stack, tmp_path):
    clear_of_midnight(ZONE, margin_seconds=300)  # the visits (up to 60 s old) and the client's today: one day
    now_ms = int(time.time() * 1000)
    send_visits(stack.base, now_ms)
    wait_for_lake(stack.base, sum(len(e) for e in VISITS.values()))
    got = run_client(client_python, stack.base, tmp_path)

    # The expected numbers, counted from VISITS in plain Python.
    visitors = len(VISITS)
    pageviews = sum(kind == "page_view" for events in VISITS.values() for kind, _, _ in events)
    bounces = sum([kind for kind, _, _ in events] == ["page_view"] for events in VISITS.values())
    durations = [max(s for _, _, s in events) - min(s for _, _, s in events) for events in VISITS.values()]
    pages: dict[str, set] = {}
    for user, events in VISITS.items():
        for _, path, _ in events:
            pages.setdefault(path.split("?")[0], set()).add(user)

    assert got["aggregate"]["totals"] == {
        "visitors": visitors, "visits": visitors, "pageviews": pageviews, "events": 6,
        "bounce_rate": round(bounces * 100 / visitors), "visit_duration": round(sum(durations) / visitors)}
    assert (visitors, pageviews, bounces, sum(durations)) == (4, 5, 2, 40)
    assert got["aggregate_default"]["totals"] == {k: got["aggregate"]["totals"][k] for k in (
        "visitors", "pageviews", "bounce_rate", "visit_duration")}
    assert got["aggregate_today"]["totals"] == {"visitors": visitors, "pageviews": pageviews}
    assert got["pages"]["results"] == [{"page": p, "visitors": len(u)}
                                       for p, u in sorted(pages.items(), key=lambda i: (-len(i[1]), i[0]))]
    assert got["sources"]["results"] == [{"utm_source": "google", "visitors": 1},
                                         {"utm_source": "newsletter", "visitors": 1}]
    # The client's alias entry_page means event:entry_page, which Plausible's v1 refuses too: a 400 it shows.
    assert got["refused"].startswith("[INPUT_FIXABLE] Plausible API error (HTTP 400)")
    assert "invalid property 'event:entry_page'" in got["refused"]
    today = datetime.now(ZoneInfo(ZONE)).date()
    assert got["timeseries"]["timeseries"] == [
        {"date": (today - timedelta(days=6 - n)).isoformat(), "visitors": visitors if n == 6 else 0}
        for n in range(7)]
    assert got["realtime"]["realtime_visitors"] == visitors
    print("\nplausible-mcp 0.1.2 got:", json.dumps({k: got[k] for k in ("aggregate", "realtime")})[:400])

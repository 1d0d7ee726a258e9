"""The official Plausible and Umami clients, unchanged, send to the local stack on loopback.

@umami/node 0.4.0 runs in Node; @plausible-analytics/tracker 0.4.6 runs in Debian's Chromium on a
page served from loopback. Both come from the npm registry (npm's cache once fetched).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.schema.tables import EVENTS, SESSIONS
from chalicelib.store import from_item
from tests.e2e.conftest import VISITOR_UA, start_stack

UMAMI_WEBSITE = "94db1cb1-74f4-4a40-ad6c-962362670409"
PACKAGES = ("@umami/node@0.4.0", "@plausible-analytics/tracker@0.4.6")


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clients")
    subprocess.run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error",
                    "--prefix", str(folder), *PACKAGES], check=True, timeout=300)
    return folder / "node_modules"


@pytest.fixture(scope="module")
def page_server(clients):
    root = clients / "@plausible-analytics" / "tracker"

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(page_server):
    origin, _ = page_server
    sites = {"demo": {"origins": []}, "shop": {"origins": [origin]}, UMAMI_WEBSITE: {"origins": []}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": "demo"})
    yield running
    running.stop()


def stored(stack, site: str, count: int, timeout_seconds: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        items = stack.dynamodb.scan(TableName=EVENTS.name("local"))["Items"]
        events = [from_item(i) for i in items if not i["pk"]["S"].startswith("salt#")]
        mine = [e for e in events if e["site"] == site]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def settled(stack, site: str, quiet_seconds: float = 2.0) -> list[dict]:
    """The site's events once no new one has arrived for quiet_seconds (a closing page may still send)."""
    seen, since = stored(stack, site, 2), time.monotonic()
    while time.monotonic() - since < quiet_seconds:
        time.sleep(0.2)
        now = stored(stack, site, 0)
        if len(now) != len(seen):
            seen, since = now, time.monotonic()
    return seen


def test_umami_node_tracks_and_identifies(stack, clients):
    script = f"""
const {{ Umami }} = require({json.dumps(str(clients / "@umami" / "node"))});
const umami = new Umami();
umami.init({{ websiteId: {json.dumps(UMAMI_WEBSITE)}, hostUrl: {json.dumps(stack.base)},
              userAgent: {json.dumps(VISITOR_UA)} }});
(async () => {{
  const answers = [];
  for (const send of [() => umami.track({{ url: "https://blog.example/posts/1", hostname: "blog.example",
                                          title: "Post 1" }}),
                      () => umami.track("signup", {{ plan: "pro" }}),
                      () => umami.identify({{ company: "acme" }}),
                      () => umami.track("Sign up")]) {{
    const response = await send();
    answers.push([response.status, await response.json()]);
  }}
  console.log(JSON.stringify(answers));
}})();
"""
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    answers = json.loads(run.stdout)
    assert [status for status, _ in answers] == [200, 200, 200, 400]
    assert answers[3][1]["error"]["field"] == "payload.name"
    events = {e["event_type"]: e for e in stored(stack, UMAMI_WEBSITE, 3)}
    assert set(events) == {"page_view", "signup", "identify"}
    assert (events["page_view"]["page_path"], events["page_view"]["title"]) == ("/posts/1", "Post 1")
    assert events["signup"]["properties"] == {"plan": "pro"}
    assert events["identify"]["properties"] == {"company": "acme"}
    assert answers[0][1]["visitId"] == events["page_view"]["session_id"]


PAGE = """<!doctype html><html><head><title>Pricing</title></head><body><p>Plans</p>
<script>window.__plausible = true;  // Playwright sets navigator.webdriver; the tracker's own opt-in for tests</script>
<script type="module">
import { init, track } from "/plausible.js";
init({ domain: "shop", endpoint: "API/api/event", captureOnLocalhost: true });
track("Purchase", { props: { plan: "pro" }, revenue: { amount: "29.90", currency: "EUR" },
                    callback: (result) => { window.purchaseStatus = result && result.status; } });
</script></body></html>"""


def test_plausibles_tracker_in_chromium_sends_a_page_view_and_a_purchase(browser, page_server, stack):
    origin, root = page_server
    (root / "pricing.html").write_text(PAGE.replace("API", stack.base))
    page = browser.new_page()
    try:
        page.goto(f"{origin}/pricing.html?utm_source=newsletter")
        page.wait_for_function("window.purchaseStatus !== undefined", timeout=10_000)
        assert page.evaluate("window.purchaseStatus") == 202
    finally:
        page.close()
    arrived = settled(stack, "shop")
    events = {e["event_type"]: e for e in arrived}
    # Closing the page may send Plausible's engagement event (LiveInsight's own engagement event).
    assert {"page_view", "Purchase"} <= set(events) <= {"page_view", "Purchase", "engagement"}
    assert (events["page_view"]["page_path"], events["page_view"]["utm_source"]) == ("/pricing.html", "newsletter")
    assert events["page_view"]["browser"] in ("Chrome", "Chromium")  # Chromium's client hints name it
    assert events["Purchase"]["revenue"] == {"amount": "29.90", "currency": "EUR"}
    assert events["Purchase"]["properties"] == {"plan": "pro"}
    if "engagement" in events:
        assert set(events["engagement"]["properties"]) >= {"engaged_ms", "scroll_pct"}
    sessions = [from_item(i) for i in stack.dynamodb.scan(TableName=SESSIONS.name("local"))["Items"]]
    [session] = [s for s in sessions if s["site"] == "shop"]
    assert (session["page_views"], session["events"]) == (1, len(arrived))

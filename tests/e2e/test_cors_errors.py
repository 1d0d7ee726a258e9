"""A page on another origin posts to the local stack in Debian's headless Chromium: when its origin or
its site is not configured, the page's JavaScript reads the status and the reason (not a bare "blocked
by CORS policy"), and nothing is stored."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.store import from_item
from tests.e2e.conftest import start_stack
from tests.e2e.test_sdk import wait_for

pytestmark = pytest.mark.e2e
CORS_BLOCKED = "blocked by CORS policy"


class PageHandler(BaseHTTPRequestHandler):
    """Serves the other origin's pages: a blank one, and one with the SDK installed from the stack."""

    sdk_url = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        script = f'<script defer src="{self.sdk_url}" data-site="demo"></script>' if self.path == "/sdk" else ""
        page = f"<!doctype html><html><head><title>other origin</title>{script}</head><body>hi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *args):  # quiet: the test's output is the assertions
        pass


@pytest.fixture(scope="module")
def page_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(page_server):
    # "demo" (the default site) does not allow the page's origin; "shop" does, as a control.
    sites = {"demo": {"origins": ["https://www.example.com"]}, "shop": {"origins": [page_server]}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": "demo"})
    PageHandler.sdk_url = f"{running.base}/liveinsight.js"
    yield running
    running.stop()


@pytest.fixture
def page(browser, page_server, stack):
    context = browser.new_context()
    page = context.new_page()
    page.console_lines = []
    page.on("console", lambda message: page.console_lines.append(message.text))
    page.goto(page_server)
    yield page
    context.close()


def stored_events(stack) -> list[dict]:
    items = stack.dynamodb.scan(TableName="LiveInsight-local-Events")["Items"]
    return [from_item(i) for i in items if "event_id" in i]


def only_the_control_was_stored(stack) -> bool:
    """Every refused event ("demo", "blog") is absent; only the control test stores, for "shop"."""
    return {e["site"] for e in stored_events(stack)} <= {"shop"}


# The page reads the status and the body; the reflected Access-Control-Allow-Origin is what lets it,
# and is itself not readable (it is not a safelisted response header and nothing is exposed).
SEND = """async ({url, event, contentType}) => {
  try {
    const response = await fetch(url, {method: "POST", body: JSON.stringify(event), credentials: "omit",
                                       headers: {"Content-Type": contentType}});
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {failed: String(error)};
  }
}"""


def send(page, stack, content_type="text/plain", **fields) -> dict:
    event = {"event_type": "page_view", "page_url": "https://other.example/", "event_id": str(uuid.uuid4()),
             **fields}
    return page.evaluate(SEND, {"url": f"{stack.base}/events", "event": event, "contentType": content_type})


def test_the_console_shows_a_bare_cors_block_for_an_answer_without_cors_headers(page, stack):
    """The symptom this file is about, on an endpoint that rightly has no CORS: the page learns nothing."""
    read = page.evaluate("url => fetch(url).then(r => r.status, e => 'failed: ' + e)", f"{stack.base}/health")
    assert read == "failed: TypeError: Failed to fetch"
    wait_for(lambda: any(CORS_BLOCKED in line for line in page.console_lines), what="the CORS console message")


# application/json makes the browser send a preflight first: it must pass for the POST to say why.
@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_a_disallowed_origin_reads_forbidden_origin_and_what_to_add(page, page_server, stack, content_type):
    read = send(page, stack, content_type)
    assert read["status"] == 403, read
    error = read["body"]["error"]
    assert (error["code"], error["field"]) == ("forbidden_origin", "Origin")
    assert error["message"].startswith(f"origin '{page_server}' may not send events for site 'demo': "
                                       f"add \"{page_server}\" to the \"origins\" of site 'demo' in LIVEINSIGHT_SITES")
    assert not any(CORS_BLOCKED in line for line in page.console_lines), page.console_lines
    wait_for(lambda: any("status of 403" in line for line in page.console_lines), what="the 403 console line")
    assert only_the_control_was_stored(stack)


def test_an_unknown_site_reads_its_id_and_how_to_add_it(page, page_server, stack):
    read = send(page, stack, site="blog")
    assert read["status"] == 400, read
    answer = read["body"]
    assert answer["error"]["code"] == "invalid_event" and answer["error"]["field"] == "site"
    [status] = answer["events"]
    assert (status["status"], status["code"]) == ("invalid", "unknown_site")
    assert status["reason"].startswith(f"site 'blog' is not configured: add \"blog\": "
                                       f"{{\"origins\": [\"{page_server}\"]}} to LIVEINSIGHT_SITES")
    assert not any(CORS_BLOCKED in line for line in page.console_lines), page.console_lines
    assert only_the_control_was_stored(stack)


def test_the_same_page_is_accepted_for_a_site_that_allows_its_origin(page, page_server, stack):
    read = send(page, stack, site="shop", user_id="cors-control")
    assert read["status"] == 200, read
    assert read["body"]["accepted"] == 1
    events = wait_for(lambda: [e for e in stored_events(stack) if e.get("user_id") == "cors-control"])
    assert [e["site"] for e in events] == ["shop"]


def test_the_sdk_on_a_disallowed_origin_reads_the_refusal_and_stops_resending(page, page_server, stack):
    with page.expect_response(lambda response: response.url == f"{stack.base}/events") as answered:
        page.goto(f"{page_server}/sdk")
    assert answered.value.status == 403
    # A 4xx the SDK can read is final: the page view leaves its queue instead of being resent forever.
    wait_for(lambda: page.evaluate("localStorage.getItem('liveinsight:queue') === null"), what="an empty queue")
    assert not any(CORS_BLOCKED in line for line in page.console_lines), page.console_lines
    assert only_the_control_was_stored(stack)

"""The real local stack (`make local`'s runner) as processes, spoken to over HTTP on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib.store import from_item
from deploy.smoke import SmokeTestFailed, smoke_test
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    # A shell setting must win over the stage's default (400 days).
    running = start_stack({"LIVEINSIGHT_EVENT_RETENTION_DAYS": "30"})
    yield running
    running.stop()


def stored(dynamodb) -> dict[str, dict]:
    items = dynamodb.scan(TableName="LiveInsight-local-Events")["Items"]
    return {i["event_id"]["S"]: from_item(i) for i in items if "event_id" in i}


def test_the_guides_curl_request_is_accepted_and_stored(stack):
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"{stack.base}/events", "-H", "Content-Type: application/json",
         "-d", '{"user_id":"test","event_type":"page_view","page_url":"https://example.com"}',
         "-w", "\n%{http_code}"],
        capture_output=True, text=True, timeout=30, check=True)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200"
    [status_of_event] = json.loads(body)["events"]
    assert status_of_event["status"] == "accepted"
    event = stored(stack.dynamodb)[status_of_event["event_id"]]
    assert (event["user_id"], event["page_url"], event["site"]) == ("test", "https://example.com", "demo")
    assert event["expires_at_s"] == event["received_ms"] // 1000 + 30 * 86_400


def test_a_browser_batch_from_the_stacks_own_origin(stack):
    events = [{"event_type": "page_view", "page_url": f"https://shop.example/{i}", "event_id": str(uuid.uuid4())}
              for i in range(30)]
    origin = f"http://localhost:{stack.api_port}"  # the demo site follows the port it runs on
    request = urllib.request.Request(
        f"{stack.base}/events", data=json.dumps({"events": events}).encode(), method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": origin,
                 "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                               "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
        assert response.headers["Access-Control-Allow-Origin"] == origin
    assert body["accepted"] == 30
    saved = stored(stack.dynamodb)
    assert all(saved[e["event_id"]]["browser"] == "Safari" for e in events)

    with pytest.raises(urllib.error.HTTPError) as resend_elsewhere:
        urllib.request.urlopen(urllib.request.Request(
            f"{stack.base}/events", data=json.dumps({"events": events}).encode(), method="POST",
            headers={"Content-Type": "application/json", "Origin": "https://evil.example"}), timeout=30)
    assert resend_elsewhere.value.code == 403


def test_the_deploy_smoke_test_passes_against_a_working_stack_and_fails_otherwise(stack):
    event_id = smoke_test(f"{stack.base}/events")
    assert stored(stack.dynamodb)[event_id]["user_id"] == "test"
    with pytest.raises(SmokeTestFailed, match="404|403"):
        smoke_test(f"{stack.base}/no-such-endpoint")


def test_ctrl_c_stops_both_processes(stack):
    process = stack.process
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10  # the log reader reaches the end of the output
    while "Stopping LiveInsight" not in "".join(stack.log_tail) and time.monotonic() < deadline:
        time.sleep(0.05)
    output = "".join(stack.log_tail)
    assert "Data lives in memory" in output and "Stopping LiveInsight" in output
    with pytest.raises(EndpointConnectionError):  # the emulator is gone too
        stack.dynamodb.list_tables()

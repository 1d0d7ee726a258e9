"""The collector's HTTP API (payload format 1.0, terraform/modules/collector) and the REST API hand the
API function the same request in two of AWS's documented shapes (tests/fixtures/aws-events): the app
answers both alike and stores the same events. Requests are derived from AWS's samples by
deploy/verify/lambda_events.py, as the packaged-function check (make verify) derives them."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest

from app import app
from chalicelib.http.gateway import as_rest_event
from deploy.verify.lambda_events import BROWSER_UA, api_request, gateway_answer, http_api_request, sample
from tests.integration.conftest import STAGE, stored_events

ORIGIN = "http://127.0.0.1:8000"  # an allowed origin of the local stage's demo site
IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{16,64}\b")
BEACON = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": BROWSER_UA}


class LambdaContext:
    """What the Lambda runtime passes beside the event, as far as the app reads it."""

    aws_request_id = "lambda-request"
    function_name = "LiveInsight-local-EventCollector"
    memory_limit_in_mb = 512

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def page_view(user: str) -> str:
    return json.dumps({"event_type": "page_view", "page_url": f"{ORIGIN}/pricing", "user_id": user,
                       "event_id": str(uuid.uuid4())})


def plausible(user_agent_suffix: str) -> str:  # the Plausible tracker's body (no id: the visitor is a hash)
    return json.dumps({"n": "pageview", "u": f"{ORIGIN}/docs?ref={user_agent_suffix}", "d": "demo", "r": None})


# (name, method, path, headers, body maker): what websites send, each once per API.
REQUESTS = [
    ("SDK beacon", "POST", "/events", BEACON, page_view),
    ("server side JSON", "POST", "/events", {"Content-Type": "application/json"}, page_view),
    ("preflight", "OPTIONS", "/events", {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}, None),
    ("Plausible tracker", "POST", "/api/event", {**BEACON, "Content-Type": "text/plain"}, plausible),
    ("Umami preflight", "OPTIONS", "/api/send", {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}, None),
    ("the SDK's file", "GET", "/liveinsight.js", {"Accept": "*/*"}, None),
    ("a body that is not JSON", "POST", "/events", BEACON, lambda _: "{not json"),
    ("a route of the REST API only", "GET", "/stats/realtime", {}, None),
]


def invoke(event: dict):
    return gateway_answer(json.dumps(app(event, LambdaContext())))


def same_shape(answer) -> tuple:
    body = IDS.sub("<id>", answer.body.decode())
    return answer.status, {k: v for k, v in answer.headers.items() if k != "content-length"}, body


@pytest.mark.parametrize("name, method, path, headers, body", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_the_collector_and_the_rest_api_get_the_same_answer(wire, dynamodb, name, method, path, headers, body):
    wire()
    rest = invoke(api_request(STAGE, method, path, path, headers, body=body and body("rest")))
    lowered = {name.lower(): value for name, value in headers.items()}  # as an HTTP API may pass header names
    collector = invoke(http_api_request(STAGE, method, path, lowered, body=body and body("collector")))
    assert same_shape(collector) == same_shape(rest)
    assert rest.status < 500


def test_an_event_posted_through_the_collector_is_stored_like_one_through_the_rest_api(wire, dynamodb):
    wire()
    for api, make in (("rest", lambda b: api_request(STAGE, "POST", "/events", "/events", BEACON, body=b)),
                      ("collector", lambda b: http_api_request(STAGE, "POST", "/events", BEACON, body=b))):
        assert invoke(make(page_view(api))).json()["accepted"] == 1
    stored = {e["user_id"]: e for e in stored_events(dynamodb)}
    rest, collector = stored["rest"], stored["collector"]
    differ = {k for k in rest.keys() | collector.keys() if rest.get(k) != collector.get(k)}
    # ids, times and the session differ per request; the REST sample's CloudFront adds a country header
    assert differ <= {"event_id", "user_id", "session_id", "pk", "sk", "claim", "received_ms", "time_ms",
                      "expires_at_s", "visitor_id", "country"}, differ
    assert (collector["page_path"], collector["device_type"], collector["browser"]) == (
        rest["page_path"], rest["device_type"], rest["browser"]) == ("/pricing", "desktop", "Chrome")


def test_a_body_api_gateway_passes_base64_encoded_is_read(wire, dynamodb):
    wire()
    event = http_api_request(STAGE, "POST", "/events", {"Content-Type": "application/json"},
                             body=page_view("encoded"), body_base64=True)
    assert event["isBase64Encoded"] and base64.b64decode(event["body"])
    assert invoke(event).json()["accepted"] == 1
    assert [e["user_id"] for e in stored_events(dynamodb)] == ["encoded"]


@pytest.mark.parametrize("resource_path", ["/events", "POST /events", "/{proxy+}", "/my/path", None])
def test_the_route_is_found_whatever_form_resource_path_takes(wire, dynamodb, resource_path):
    wire()
    event = http_api_request("prod", "POST", "/events", BEACON, body=page_view("form"))
    assert event["path"] == "/prod/events"  # a named stage's requests carry it in their path
    if resource_path is None:
        del event["requestContext"]["resourcePath"]
    else:
        event["requestContext"]["resourcePath"] = resource_path
    assert as_rest_event(event, app.routes)["requestContext"]["resourcePath"] == "/events"
    assert invoke(event).json()["accepted"] == 1


def test_the_rest_apis_events_and_other_events_pass_unchanged():
    rest = api_request(STAGE, "POST", "/visitors/v/sessions", "/visitors/{visitor_id}/sessions", {})
    assert as_rest_event(rest, app.routes) is rest
    assert as_rest_event(sample("apigw-http-v1-proxy-request.json") | {"path": 3}, app.routes)["path"] == 3
    for other in (sample("eventbridge-scheduled-event.json"), sample("dynamodb-stream-event.json"), [], None):
        assert as_rest_event(other, app.routes) is other


def test_the_collector_finds_the_country_from_the_address_and_never_stores_it(wire, dynamodb):
    wire()
    heise = "193.99.144.80"  # RIPE NCC, Germany
    invoke(http_api_request(STAGE, "POST", "/events", BEACON, body=page_view("from-de"), source_ip=heise))
    # The REST API's sample comes through CloudFront, whose country header wins over the address.
    rest = api_request(STAGE, "POST", "/events", "/events", BEACON, body=page_view("via-cloudfront"))
    rest["requestContext"]["identity"]["sourceIp"] = heise
    invoke(rest)
    invoke(http_api_request(STAGE, "POST", "/events", BEACON, body=page_view("private"), source_ip="10.0.0.1"))
    stored = {e["user_id"]: e for e in stored_events(dynamodb)}
    assert rest["headers"]["CloudFront-Viewer-Country"] == "US"
    assert {user: e.get("country") for user, e in stored.items()} == {
        "from-de": "DE", "via-cloudfront": "US", "private": None}
    assert heise not in json.dumps(stored, default=str)

"""What the Lambda check sends and expects: requests derived from AWS's own sample events
(tests/fixtures/aws-events), and each answer read the way API Gateway reads a proxy integration's.

A request changes only method, path, resource, headers, body, pathParameters and requestContext of
the sample, so what the function sees is what API Gateway sends, not what our code expects.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "aws-events"
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
PROXY_ANSWER_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit for a synchronous invocation's answer


def sample(name: str) -> dict:
    return json.loads((SAMPLES_DIR / name).read_text(encoding="utf-8"))


class MalformedProxyAnswer(ValueError):
    """API Gateway answers 502 to the client when the function's answer has this shape."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased, multiValueHeaders merged in as API Gateway does
    body: bytes

    def json(self):
        return json.loads(self.body)


def gateway_answer(payload: str) -> Answer:
    if len(payload.encode()) > MAX_SYNC_PAYLOAD_BYTES:
        raise MalformedProxyAnswer(f"answer of {len(payload.encode())} bytes is over Lambda's 6 MB")
    doc = json.loads(payload)
    if not isinstance(doc, dict) or set(doc) - PROXY_ANSWER_KEYS:
        raise MalformedProxyAnswer(f"not a proxy answer: {str(doc)[:200]}")
    status = doc.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyAnswer(f"statusCode must be an integer HTTP status, got {status!r}")
    headers = {k.lower(): v for k, v in (doc.get("headers") or {}).items()}
    for name, values in (doc.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(values)  # multiValueHeaders win over headers
    if not all(isinstance(v, str) for v in headers.values()):
        raise MalformedProxyAnswer(f"header values must be strings: {headers}")
    headers.setdefault("content-type", "application/json")  # a REST API's default for a proxy answer
    body, encoded = doc.get("body"), doc.get("isBase64Encoded", False)
    if body is not None and not isinstance(body, str) or not isinstance(encoded, bool):
        raise MalformedProxyAnswer("body must be a string and isBase64Encoded a boolean")
    raw = base64.b64decode(body) if encoded and body else (body or "").encode()
    return Answer(status, headers, raw)


def api_request(stage: str, method: str, path: str, resource: str, headers: dict[str, str | None],
                body: str | None = None, path_parameters: dict[str, str] | None = None,
                query: dict[str, str] | None = None) -> dict:
    """The REST API sample as API Gateway would send this request (`headers`: None removes one). The
    sample's own query string (name=me) is replaced: API Gateway sends null when there is none."""
    event = copy.deepcopy(sample("apigw-rest-proxy-request.json"))
    merged = {k: v for k, v in {**event["headers"], **headers}.items() if v is not None}
    event.update(httpMethod=method, path=path, resource=resource, pathParameters=path_parameters, body=body,
                 isBase64Encoded=False, headers=merged, multiValueHeaders={k: [v] for k, v in merged.items()},
                 queryStringParameters=query or None,
                 multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None)
    now = time.time()
    event["requestContext"].update(
        stage=stage, path=f"/{stage}{path}", resourcePath=resource, httpMethod=method, requestId=str(uuid.uuid4()),
        requestTimeEpoch=int(now * 1000), requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)))
    event["requestContext"]["identity"]["userAgent"] = merged.get("User-Agent")
    return event


def http_api_request(stage: str, method: str, path: str, headers: dict[str, str], body: str | None = None,
                     query: dict[str, str] | None = None, source_ip: str = "198.51.100.7",
                     body_base64: bool = False) -> dict:
    """The HTTP API's payload 1.0 sample as the collector (terraform/modules/collector) would send this
    request to a route of a static path on a named stage: the path carries the stage (/prod/events),
    resource and resourcePath the route's path. The sample's illustrative headers (Header1, Header2),
    query string and placeholder source address ("IP") are the request's; an HTTP API adds no CloudFront
    headers (it is regional). `body_base64`: the body as API Gateway passes one it does not take for text."""
    event = copy.deepcopy(sample("apigw-http-v1-proxy-request.json"))
    host = f"{event['requestContext']['apiId']}.execute-api.us-east-1.amazonaws.com"
    merged = {"Host": host, "X-Forwarded-For": source_ip, "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https",
              **headers}
    encoded = body_base64 and body is not None
    event.update(httpMethod=method, path=f"/{stage}{path}", resource=path, headers=merged,
                 multiValueHeaders={k: [v] for k, v in merged.items()}, queryStringParameters=query or None,
                 multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
                 body=base64.b64encode(body.encode()).decode() if encoded else body, isBase64Encoded=encoded)
    now = time.time()
    event["requestContext"].update(
        stage=stage, path=f"/{stage}{path}", resourcePath=path, httpMethod=method, requestId=str(uuid.uuid4()),
        extendedRequestId=str(uuid.uuid4()), domainName=host, requestTimeEpoch=int(now * 1000),
        requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)))
    event["requestContext"]["identity"].update(sourceIp=source_ip, userAgent=merged.get("User-Agent"))
    return event


@dataclass
class Expectations:
    """What the checks of one run share: the test settings and what earlier answers returned."""

    stage: str
    site: str
    origin: str
    token: str
    stored_event: Callable[[str, str], dict | None]  # (site, event_id) -> the item in the Events table
    sessions: set[str] = field(default_factory=set)
    visitor_id: str = "lambda-check-visitor"


@dataclass
class Call:
    name: str
    event: dict
    check: Callable[[Answer, Expectations], list[str]] | None  # None: a scheduled job, no HTTP answer
    # A direct invocation's (or a stream batch's) check of the function's own JSON answer.
    answer_check: Callable[[object], list[str]] | None = None


def _status(answer: Answer, want: int) -> list[str]:
    return [] if answer.status == want else [f"status {answer.status}, not {want}: {answer.body[:300]!r}"]


def _content_type(answer: Answer, prefix: str) -> list[str]:
    got = answer.headers.get("content-type", "")
    return [] if got.startswith(prefix) else [f"Content-Type {got!r}, not {prefix}"]


def _posted(answer: Answer, want: Expectations) -> list[str]:
    problems = _status(answer, 200) + _content_type(answer, "application/json")
    if problems:
        return problems
    body = answer.json()
    if body.get("accepted") != 1 or body["events"][0]["status"] != "accepted":
        return [f"not accepted: {body}"]
    event_id, session_id = body["events"][0]["event_id"], body["events"][0]["session_id"]
    stored = want.stored_event(want.site, event_id)
    if not stored or stored.get("session_id") != session_id:
        return [f"event {event_id} is not in the Events table with session {session_id}: {stored}"]
    want.sessions.add(session_id)
    return []


def _posted_from(country: str) -> Callable[[Answer, Expectations], list[str]]:
    """Stored like `_posted`, with the country the address is in (the country database's layer)."""
    def check(answer: Answer, want: Expectations) -> list[str]:
        problems = _posted(answer, want)
        if problems:
            return problems
        stored = want.stored_event(want.site, answer.json()["events"][0]["event_id"])
        return [] if stored.get("country") == country else [f"country {stored.get('country')!r}, not {country}"]
    return check


def _preflight(answer: Answer, want: Expectations) -> list[str]:
    problems = _status(answer, 204)
    if answer.headers.get("access-control-allow-origin") != want.origin:
        problems.append(f"Access-Control-Allow-Origin {answer.headers.get('access-control-allow-origin')!r}")
    return problems


def _health(answer: Answer, want: Expectations) -> list[str]:
    problems = _status(answer, 200) + _content_type(answer, "application/json")
    body = {} if problems else answer.json()
    return problems or ([] if body.get("status") == "ok" and body.get("stage") == want.stage else [str(body)])


def _page(content_type: str, marker: bytes) -> Callable[[Answer, Expectations], list[str]]:
    def check(answer: Answer, want: Expectations) -> list[str]:
        problems = _status(answer, 200) + _content_type(answer, content_type)
        return problems or ([] if marker in answer.body else [f"{marker!r} not in the body"])
    return check


def _visitor_sessions(answer: Answer, want: Expectations) -> list[str]:
    problems = _status(answer, 200) + _content_type(answer, "application/json")
    listed = set() if problems else {s["session_id"] for s in answer.json()["sessions"]}
    return problems or ([] if want.sessions and want.sessions <= listed else
                        [f"sessions {sorted(listed)}, not the posted {sorted(want.sessions)}"])


def _unauthorized(answer: Answer, want: Expectations) -> list[str]:
    problems = _status(answer, 401)
    return problems or ([] if "bearer" in answer.headers.get("www-authenticate", "").lower() else
                        ["no WWW-Authenticate: Bearer"])


def realtime_call(want: Expectations, page_views: int) -> Call:
    """The realtime statistics, read through the API once the stream's functions ran: they are made
    from the Events table's stream (the statistics aggregator), so they count every stored page view."""
    def check(answer: Answer, want: Expectations) -> list[str]:
        problems = _status(answer, 200) + _content_type(answer, "application/json")
        pageviews = None if problems else answer.json().get("pageviews")
        return problems or ([] if pageviews == page_views else
                            [f"pageviews {pageviews}, not the {page_views} stored"])

    return Call(f"GET /{want.stage}/stats/realtime?site={want.site} (Bearer token)",
                api_request(want.stage, "GET", "/stats/realtime", "/stats/realtime",
                            {"Content-Type": None, "Authorization": f"Bearer {want.token}"},
                            query={"site": want.site}), check)


def api_calls(want: Expectations) -> list[Call]:
    """The API function's requests, in order: a warm function serves them one after another (the
    realtime statistics' come later, `realtime_call`)."""
    stage, visitor = want.stage, want.visitor_id

    def event(title: str) -> str:
        return json.dumps({"event_type": "page_view", "page_url": f"{want.origin}/{title}", "user_id": visitor,
                           "event_id": str(uuid.uuid4())})

    def request(method, path, resource, headers=None, **kwargs):
        get = {"Content-Type": None} if method in ("GET", "OPTIONS") else {}
        return api_request(stage, method, path, resource, {**get, **(headers or {})}, **kwargs)

    bearer = {"Authorization": f"Bearer {want.token}"}
    sessions_path = {"visitor_id": visitor}
    return [
        Call(f"POST /{stage}/events (application/json, server side)",
             request("POST", "/events", "/events", {"Content-Type": "application/json"}, body=event("json")),
             _posted),
        Call(f"POST /{stage}/events (text/plain, browser beacon)",
             request("POST", "/events", "/events", {"Content-Type": "text/plain;charset=UTF-8",
                                                    "Origin": want.origin, "User-Agent": BROWSER_UA},
                     body=event("beacon")), _posted),
        Call(f"OPTIONS /{stage}/events (Origin {want.origin})",
             request("OPTIONS", "/events", "/events", {"Origin": want.origin,
                                                       "Access-Control-Request-Method": "POST"}), _preflight),
        Call(f"GET /{stage}/health", request("GET", "/health", "/health"), _health),
        Call(f"GET /{stage}/dashboard", request("GET", "/dashboard", "/dashboard", {"Accept": "text/html"}),
             _page("text/html", b"<html")),
        Call(f"GET /{stage}/dashboard/app.js", request("GET", "/dashboard/app.js", "/dashboard/{asset}",
                                                       path_parameters={"asset": "app.js"}),
             _page("text/javascript", b"Authorization")),
        Call(f"GET /{stage}/liveinsight.js", request("GET", "/liveinsight.js", "/liveinsight.js"),
             _page("text/javascript", b"liveinsight")),
        Call(f"GET /{stage}/visitors/{visitor}/sessions (Bearer token)",
             request("GET", f"/visitors/{visitor}/sessions", "/visitors/{visitor_id}/sessions", bearer,
                     path_parameters=sessions_path), _visitor_sessions),
        Call(f"GET /{stage}/visitors/{visitor}/sessions (no token)",
             request("GET", f"/visitors/{visitor}/sessions", "/visitors/{visitor_id}/sessions",
                     path_parameters=sessions_path), _unauthorized),
        *collector_calls(want, event),
    ]


def collector_calls(want: Expectations, event: Callable[[str], str]) -> list[Call]:
    """What websites send through the collector's HTTP API (payload 1.0), answered as through the REST API."""
    stage = want.stage
    beacon = {"Content-Type": "text/plain;charset=UTF-8", "Origin": want.origin, "User-Agent": BROWSER_UA}
    route_key_form = http_api_request(stage, "POST", "/events", beacon, body=event("route-key-form"))
    route_key_form["requestContext"]["resourcePath"] = "POST /events"  # a form reported for HTTP APIs
    return [
        Call(f"collector: POST /{stage}/events (text/plain, a browser in Germany)",
             http_api_request(stage, "POST", "/events", beacon, body=event("collector"), source_ip="193.99.144.80"),
             _posted_from("DE")),
        Call(f"collector: POST /{stage}/events (application/json, body base64-encoded by API Gateway)",
             http_api_request(stage, "POST", "/events", {"Content-Type": "application/json"},
                              body=event("collector-base64"), body_base64=True), _posted),
        Call(f"collector: POST /{stage}/events (resourcePath in a route key's form)", route_key_form, _posted),
        Call(f"collector: OPTIONS /{stage}/events (Origin {want.origin})",
             http_api_request(stage, "OPTIONS", "/events", {"Origin": want.origin,
                                                            "Access-Control-Request-Method": "POST"}), _preflight),
        Call(f"collector: GET /{stage}/liveinsight.js", http_api_request(stage, "GET", "/liveinsight.js", {}),
             _page("text/javascript", b"liveinsight")),
    ]


def scheduled_call() -> Call:
    return Call("EventBridge Scheduled Event (rate(1 minute))", sample("eventbridge-scheduled-event.json"), None)


# --- The event lake's functions ------------------------------------------------------------------

STREAM_SAMPLE = "dynamodb-stream-event.json"  # AWS's documented DynamoDB Streams event for Lambda


def stream_records(items: list[dict], stream_arn: str) -> list[dict]:
    """A batch of the Events table's stream as Lambda delivers it: AWS's sample record, with only what
    a real INSERT of each stored item changes (keys, new image, sequence number, size, stream)."""
    template = next(r for r in sample(STREAM_SAMPLE)["Records"] if r["eventName"] == "INSERT")
    records = []
    for n, item in enumerate(items, start=1):
        record = copy.deepcopy(template)
        record.update(eventID=uuid.uuid4().hex, eventSourceARN=stream_arn, awsRegion=stream_arn.split(":")[3])
        record["dynamodb"].update(Keys={"pk": item["pk"]}, NewImage=item, StreamViewType="NEW_IMAGE",
                                  SequenceNumber=str(100000000000000000000 + n),
                                  SizeBytes=len(json.dumps(item)), ApproximateCreationDateTime=int(time.time()))
        records.append(record)
    return records


def stream_call(items: list[dict], stream_arn: str, lake_objects: Callable[[], list[str]]) -> Call:
    """The lake writer's batch: every record written, into Parquet objects of the lake."""
    records = stream_records(items, stream_arn)

    def check(payload: object) -> list[str]:
        problems = [] if payload == {"batchItemFailures": []} else [f"answered {payload!r}, not no failures"]
        written = [key for key in lake_objects() if key.endswith(".parquet")]
        return problems + ([] if written else ["no Parquet object in the lake after the batch"])
    return Call(f"DynamoDB Streams batch ({len(records)} INSERT records)", {"Records": records}, None, check)


def stats_stream_call(items: list[dict], stream_arn: str) -> Call:
    """The statistics aggregator's batch: every event counted into the minute buckets (the realtime
    view read afterwards shows them: `realtime_call`)."""
    records = stream_records(items, stream_arn)

    def check(payload: object) -> list[str]:
        counted = payload.get("events") if isinstance(payload, dict) else None
        buckets = payload.get("buckets") if isinstance(payload, dict) else None
        if counted != len(records) or not (isinstance(buckets, int) and buckets >= 1):
            return [f"answered {str(payload)[:300]}, not the {len(records)} events counted into buckets"]
        return []
    return Call(f"DynamoDB Streams batch ({len(records)} INSERT records) to the statistics", {"Records": records},
                None, check)


def query_call(site: str, day: str, stored: int) -> Call:
    """A lake query the API function would send: the day's events and visitors."""
    request = {"site": site, "date_range": [day, day], "metrics": ["events", "visitors"]}

    def check(payload: object) -> list[str]:
        results = payload.get("results") if isinstance(payload, dict) else None
        if not results:
            return [f"no results: {str(payload)[:300]}"]
        metrics = results[0].get("metrics") if isinstance(results[0], dict) else None
        events = metrics[0] if isinstance(metrics, list) and metrics else None  # in the order asked
        return [] if events == stored else [f"the lake counted {events!r} events, not the {stored} stored"]
    return Call(f"lake query ({site}, {day}: events, visitors)", request, None, check)


def erasure_call(site: str, visitor_id: str) -> Call:
    """What DELETE /visitors/{id} hands the erasure function (chalicelib/lake/erasure.py)."""
    request = {"visitor": visitor_id, "by": "visitor_id", "sites": [site], "budget_seconds": 20}

    def check(payload: object) -> list[str]:
        removed = payload.get("removed", {}) if isinstance(payload, dict) else {}
        events, rows = removed.get("dynamodb", {}).get("events"), removed.get("lake", {}).get("rows")
        if not (isinstance(events, int) and events >= 1 and isinstance(rows, int) and rows >= 1):
            return [f"the erasure removed no stored event or lake row: {str(payload)[:300]}"]
        return []
    return Call(f"erasure of one visitor ({site})", request, None, check)

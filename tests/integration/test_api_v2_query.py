"""POST /api/v2/query end to end on moto: events posted through the real collector -> the events
table's stream -> the stream writer -> Parquet on S3 -> POST /api/v2/query with the request bodies of
Plausible's own docs examples (plausible/docs src/js/apiv2-examples, adapted to this site and its
dates) -> the numbers equal a plain-Python count of the posted events. The 401, the error shape, and
the production path through a stubbed Lambda client (the query function's real answer as payload)."""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from chalice.test import Client

from app import app
from chalicelib.query import plausible
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

SITE = "demo"
QUERY_FUNCTION = "LiveInsight-EventLakeQuery"


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    events = posted_events(int(time.time() * 1000))
    lake.post_visits(events)
    yield lake.services, events, lake.install
    set_services(None)


def posted_events(now_ms: int) -> list[dict]:
    """Six visitors, one visit each within the last hour: utm tags, a Referral campaign, custom events
    with a property, pages in mixed case, two bounces."""
    def event(user: str, n: int, kind: str, path: str, seconds_ago: int, **extra) -> dict:
        return {"site": SITE, "event_type": kind, "user_id": user, "timestamp": now_ms - seconds_ago * 1000,
                "event_id": f"00000000-0000-4000-8000-{user[-2:]}00000000{n:02d}",
                "page_url": f"https://shop.example{path}", **extra}
    return [
        event("u-01", 1, "page_view", "/?utm_source=google&utm_medium=cpc", 3000),
        event("u-01", 2, "page_view", "/pricing", 2950),
        event("u-01", 3, "signup", "/pricing", 2900, properties={"plan": "pro"}),
        event("u-02", 1, "page_view", "/blog/Post-One?utm_source=newsletter&utm_medium=email&utm_campaign=Referral",
              2800),
        event("u-02", 2, "page_view", "/docs/start", 2700),
        event("u-03", 1, "page_view", "/Blog/two", 2600),
        event("u-03", 2, "outbound_click", "/Blog/two", 2550),
        event("u-04", 1, "page_view", "/docs/api?utm_source=google&utm_medium=cpc", 2400),
        event("u-04", 2, "signup", "/docs/api", 2300, properties={"plan": "free"}),
        event("u-05", 1, "page_view", "/pricing?utm_source=newsletter&utm_medium=email", 2000),
        event("u-06", 1, "page_view", "/", 1000),
    ]


# --- the independent count: plain Python over what was posted -------------------------------------

def visits_of(events: list[dict]) -> dict[str, dict]:
    """Each visitor's one visit: the entry page's utm tags and its events (path without the query)."""
    visits: dict[str, dict] = {}
    for e in sorted(events, key=lambda e: e["timestamp"]):
        url = urlsplit(e["page_url"])
        visit = visits.setdefault(e["user_id"], {
            **{k: (parse_qs(url.query).get(k) or [None])[0] for k in ("utm_source", "utm_medium", "utm_campaign")},
            "events": []})
        visit["events"].append({"kind": e["event_type"], "path": url.path, "props": e.get("properties", {}),
                                "day": datetime.fromtimestamp(e["timestamp"] / 1000, tz=timezone.utc).date()})
    return visits


def counted(visits: dict[str, dict], event_matches=lambda e: True, visit_matches=lambda v: True) -> dict:
    """visitors/visits/pageviews/events as Plausible defines them: a visit counts when it matches the
    visit filters and has an event matching the event filters; pageviews and events count those events."""
    chosen = {u: [e for e in v["events"] if event_matches(e)] for u, v in visits.items() if visit_matches(v)}
    chosen = {u: es for u, es in chosen.items() if es}
    return {"visitors": len(chosen), "visits": len(chosen),
            "pageviews": sum(e["kind"] == "page_view" for es in chosen.values() for e in es),
            "events": sum(len(es) for es in chosen.values())}


def query(api, body: dict, headers=AUTH):
    response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **headers},
                             body=json.dumps(body).encode())
    return response.status_code, json.loads(response.body)


def days(now_ms: int) -> list[str]:
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    return [(today - timedelta(days=1)).isoformat(), today.isoformat()]


def test_plausibles_doc_examples_answer_the_posted_counts(wired):
    services, events, _ = wired
    visits = visits_of(events)
    date_range = days(int(time.time() * 1000))
    with Client(app, stage_name=STAGE) as api:
        # example-aggregate (every metric the lake has)
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "visits", "pageviews", "events",
                                                                 "views_per_visit", "bounce_rate"],
                                   "date_range": date_range})
        assert status == 200, body
        total = counted(visits)
        bounces = sum(1 for v in visits.values() if [e["kind"] for e in v["events"]] == ["page_view"])
        assert body["results"] == [{"dimensions": [], "metrics": [
            total["visitors"], total["visits"], total["pageviews"], total["events"],
            round(total["pageviews"] / total["visits"], 2), round(bounces * 100 / total["visits"], 1)]}]
        assert body["query"]["date_range"] == [f"{date_range[0]}T00:00:00+00:00", f"{date_range[1]}T23:59:59+00:00"]
        assert body["query"]["order_by"] == [["visitors", "desc"]] and body["query"]["filters"] == []

        # example-filtering (visit:country_name is not in the lake: the same shape on utm tags)
        filters = [["contains", "event:page", ["/docs", "/pricing"]],
                   ["or", [["not", ["is", "visit:utm_campaign", ["Referral"]]],
                           ["is", "visit:utm_source", ["google"]]]]]
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "events"], "date_range": date_range,
                                   "filters": filters})
        assert status == 200, body
        want = counted(visits, lambda e: "/docs" in e["path"] or "/pricing" in e["path"],
                       lambda v: v["utm_campaign"] != "Referral" or v["utm_source"] == "google")
        assert body["results"][0]["metrics"] == [want["visitors"], want["events"]] == [3, 5]
        assert body["query"]["filters"] == filters

        # example-filtering-case-insensitive
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "events"], "date_range": date_range,
                                   "filters": [["contains", "event:page", ["BLOG"], {"case_sensitive": False}]]})
        want = counted(visits, lambda e: "blog" in e["path"].lower())
        assert status == 200 and body["results"][0]["metrics"] == [want["visitors"], want["events"]] == [2, 3]

        # example-pagination (utm medium and source, total_rows)
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "events", "pageviews"],
                                   "date_range": date_range, "dimensions": ["visit:utm_medium", "visit:utm_source"],
                                   "include": {"total_rows": True}, "pagination": {"limit": 2, "offset": 1}})
        assert status == 200, body
        groups = defaultdict(dict)
        for user, visit in visits.items():
            groups[(visit["utm_medium"], visit["utm_source"])][user] = visit
        rows = sorted(((k, counted(g)) for k, g in groups.items()),
                      key=lambda r: (-r[1]["visitors"], r[0][0] is None, r[0][0] or "", r[0][1] or ""))
        assert body["results"] == [{"dimensions": list(k), "metrics": [c["visitors"], c["events"], c["pageviews"]]}
                                   for k, c in rows[1:3]]
        assert body["meta"]["total_rows"] == len(rows) == 3
        assert body["query"]["pagination"] == {"offset": 1, "limit": 2}


def test_custom_properties_percentage_and_a_timeseries_with_labels(wired):
    services, events, _ = wired
    visits = visits_of(events)
    date_range = days(int(time.time() * 1000))
    with Client(app, stage_name=STAGE) as api:
        # example-custom-properties, with Plausible's percentage of the filtered total
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "percentage"], "date_range": date_range,
                                   "dimensions": ["event:props:plan"], "filters": [["is", "event:name", ["signup"]]],
                                   "order_by": [["event:props:plan", "desc"]]})
        assert status == 200, body
        plans = sorted({e["props"]["plan"] for v in visits.values() for e in v["events"] if e["kind"] == "signup"},
                       reverse=True)
        signed = counted(visits, lambda e: e["kind"] == "signup")["visitors"]
        want = [[plan, counted(visits, lambda e, p=plan: e["props"].get("plan") == p)["visitors"]] for plan in plans]
        assert [[r["dimensions"][0], r["metrics"][0]] for r in body["results"]] == want == [["pro", 1], ["free", 1]]
        assert [r["metrics"][1] for r in body["results"]] == [round(n * 100 / signed, 1) for _, n in want]

        # example-time-labels / example-timeseries
        status, body = query(api, {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": date_range,
                                   "dimensions": ["time:day"], "include": {"time_labels": True}})
        assert status == 200, body
        per_day = defaultdict(lambda: [set(), 0])
        for user, visit in visits.items():
            for e in visit["events"]:
                per_day[e["day"].isoformat()][0].add(user)
                per_day[e["day"].isoformat()][1] += e["kind"] == "page_view"
        assert body["results"] == [{"dimensions": [d], "metrics": [len(u), n]} for d, (u, n) in sorted(per_day.items())]
        assert body["meta"]["time_labels"] == date_range
        assert body["query"]["order_by"] == [["time:day", "asc"], ["visitors", "desc"]]


def test_the_token_the_error_shape_and_every_unsupported_part(wired):
    with Client(app, stage_name=STAGE) as api:
        base = {"site_id": SITE, "metrics": ["visitors"], "date_range": "7d"}
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            status, body = query(api, base, headers=headers)
            assert status == 401 and isinstance(body["error"], str)
        for part, words in ((dict(metrics=["conversion_rate"]), "'conversion_rate' needs an event:goal"),
                            (dict(include={"comparisons": {"mode": "custom"}}), "is required with mode custom"),
                            (dict(filters=[["is", "visit:planet", ["Mars"]]]), "unknown dimension 'visit:planet'"),
                            (dict(filters=[["matches", "event:page", ["(?<=x)"]]]), "filters: the engine refused"),
                            (dict(site_id="nope"), "unknown site 'nope'")):
            status, body = query(api, {**base, **part})
            assert status == 400 and words in body["error"], body  # Plausible's {"error": "<message>"}
        response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                                 body=b'{"site_id": ')
        assert response.status_code == 400 and "not JSON" in json.loads(response.body)["error"]


def payload(answer: dict) -> StreamingBody:
    raw = json.dumps(answer).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_in_production_the_query_function_answers_and_its_errors_keep_their_status(wired):
    services, events, install = wired
    now_ms = int(time.time() * 1000)
    request = {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": days(now_ms)}
    lake_request = plausible.translate(request, services.settings.sites, 400, now_ms).lake
    function_answer = services.query_lake(json.loads(json.dumps(lake_request)))  # the function's body, run here
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(lambda_client)
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(function_answer)},
                         {"FunctionName": QUERY_FUNCTION, "InvocationType": "RequestResponse",
                          "Payload": json.dumps(lake_request).encode()})
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(
        {"status": 400, "error": {"code": "invalid_query", "field": "filters[0]",
                                  "message": "filters[0]: the engine refused a filter value: bad regex"}})})
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(
        {"status": 503, "error": {"code": "engine_failed", "message": "DuckDB: out of memory"}})})
    stubber.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                    "Payload": payload({"errorMessage": "Task timed out"})})
    stubber.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    prod = install(query_function=QUERY_FUNCTION)
    prod.lambda_client = lambda_client
    with stubber, Client(app, stage_name=STAGE) as api:
        status, body = query(api, request)
        assert status == 200, body
        assert body["results"] == [{"dimensions": [], "metrics": [6, sum(e["event_type"] == "page_view"
                                                                        for e in events)]}]
        status, body = query(api, request)
        assert status == 400 and body["error"] == "filters[0]: the engine refused a filter value: bad regex"
        for _ in range(3):  # the engine failed, the function failed, Lambda refused the call
            response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                                     body=json.dumps(request).encode())
            assert response.status_code == 503 and "Retry-After" in response.headers, response.body
        stubber.assert_no_pending_responses()

"""DELETE /visitors/{id} through the real app on moto's DynamoDB and the lake's in-memory objects: every
copy of the visitor's events and sessions removed, counted per store; 202 and a re-run when time is short."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import boto3
from botocore.stub import ANY, Stubber

from chalicelib.lake import erasure
from chalicelib.lake.layout import Partition
from chalicelib.schema.lake import COLUMN_NAMES
from tests.integration.conftest import AUTH, post, stored_events, stored_sessions
from tests.lakefakes import MemoryLakeObjects
from tests.lakeparts import event_rows, put_stream_object, read_as_query

SITE = "demo"


def page_view(path: str, minutes_ago: float, before_ms: float | None = None, **fields) -> dict:
    """A page view `minutes_ago` before `before_ms` (now by default)."""
    before_ms = time.time() * 1000 if before_ms is None else before_ms
    return {"event_type": "page_view", "page_url": f"https://shop.example{path}", "event_id": str(uuid.uuid4()),
            "timestamp": int(before_ms - minutes_ago * 60_000), "site": SITE, **fields}


def yesterday_noon_ms() -> int:
    """Noon UTC yesterday: visits up to a few hours before it fall on one UTC day whatever the hour of the
    run (hours before now would straddle midnight in the first hours of a day: one more partition)."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((midnight - timedelta(hours=12)).timestamp() * 1000)


def as_lake_rows(events: list[dict]) -> list[dict]:
    """Stored events as the stream writer makes them rows (the columns these events have)."""
    rows = []
    for event in events:
        row = {k: v for k, v in event.items() if k in COLUMN_NAMES and isinstance(v, str)}
        rows.append({**row, "time": event["time_ms"], "received_time": event["received_ms"]})
    return rows


def fill_lake(objects, events: list[dict]) -> None:
    by_partition = defaultdict(list)
    for row in as_lake_rows(events):
        by_partition[Partition.of(SITE, row["time"])].append(row)
    for n, rows in enumerate(by_partition.values()):
        for start in range(0, len(rows), 30):  # several stream objects per day
            put_stream_object(objects, SITE, rows[start:start + 30], 1000 * n + start + 1)


def lake_rows(objects) -> list[dict]:
    partitions = rewrite_partitions(objects)
    return [row for p in partitions for row in read_as_query(objects, p)]


def rewrite_partitions(objects) -> set[Partition]:
    return {Partition.from_key(k) for k in objects.objects}


def setup(api, dynamodb, services):
    lake = MemoryLakeObjects()
    services.lake_objects = lake
    # ann: 70 events in one session (it lists the first 64) and a second visit; bob: 5 events. All on one
    # UTC day (the local stage accepts timestamps 30 days old).
    noon = yesterday_noon_ms()
    visits = [[page_view(f"/a{i}", 200 - i, noon, user_id="ann") for i in range(70)],
              [page_view("/again", 20, noon, user_id="ann")],
              [page_view(f"/b{i}", 30 - i, noon, user_id="bob") for i in range(5)]]
    for events in visits:
        assert post(api, {"events": events}).status_code == 200
    fill_lake(lake, stored_events(dynamodb))
    # An old day of ann's that no stored session mentions any more: found by checking every partition.
    old = event_rows(4, start_ms=1_700_000_000_000, visitor="ann", user_id="ann", seed=5)
    put_stream_object(lake, SITE, old, 7)
    return lake, len(old)


def answer(response) -> dict:
    return json.loads(response.body)


def test_erasure_removes_every_copy_and_counts_it_per_store(api, dynamodb, wire):
    services = wire()
    lake, old_rows = setup(api, dynamodb, services)
    bob_before = sorted(r["event_id"] for r in lake_rows(lake) if r["visitor_id"] == "bob")

    response = api.http.request("DELETE", "/visitors/ann?by=user_id", headers=AUTH)
    assert response.status_code == 200, response.body
    result = answer(response)
    assert result["complete"] is True
    assert result["removed"] == {"dynamodb": {"events": 71, "sessions": 2},
                                 "lake": {"rows": 71 + old_rows, "objects_rewritten": 2}}

    assert not [e for e in stored_events(dynamodb) if e["visitor_id"] == "ann"]
    assert not [s for s in stored_sessions(dynamodb) if s["visitor_id"] == "ann"]
    rows = lake_rows(lake)
    assert not [r for r in rows if r.get("user_id") == "ann" or r["visitor_id"] == "ann"]
    assert sorted(r["event_id"] for r in rows if r["visitor_id"] == "bob") == bob_before
    assert len([e for e in stored_events(dynamodb) if e["visitor_id"] == "bob"]) == 5
    sessions = answer(api.http.get(f"/visitors/ann/sessions?site={SITE}", headers=AUTH))
    assert sessions["sessions"] == []

    again = api.http.request("DELETE", "/visitors/ann?by=user_id", headers=AUTH)
    assert again.status_code == 200
    assert answer(again)["removed"] == {"dynamodb": {"events": 0, "sessions": 0},
                                        "lake": {"rows": 0, "objects_rewritten": 0}}


def test_out_of_time_answers_what_is_left_and_a_rerun_finishes(api, dynamodb, wire):
    services = wire()
    lake, _ = setup(api, dynamodb, services)
    request = erasure.erasure_request("ann", {"by": "user_id"}, [SITE], 30)
    ticks = iter(range(0, 10_000, 10))  # 10 s of the 30 pass between looks at the clock: one partition
    first = erasure.erase(request, store=services.erasure_store, objects=lake, leases=services.lake_leases,
                          now_ms=int(time.time() * 1000), time_left_seconds=None, clock=lambda: next(ticks))
    assert first["complete"] is False and first["left"]["lake_partitions"] == 1
    assert first["left"]["sessions"] == 2 and first["removed"]["dynamodb"]["sessions"] == 0
    assert [s for s in stored_sessions(dynamodb) if s["visitor_id"] == "ann"]

    response = api.http.request("DELETE", "/visitors/ann?by=user_id", headers=AUTH)
    assert response.status_code == 200
    second = answer(response)
    assert second["removed"]["dynamodb"]["sessions"] == 2
    total_rows = first["removed"]["lake"]["rows"] + second["removed"]["lake"]["rows"]
    total_events = first["removed"]["dynamodb"]["events"] + second["removed"]["dynamodb"]["events"]
    assert (total_rows, total_events) == (75, 71)
    assert not [r for r in lake_rows(lake) if r["visitor_id"] == "ann"]
    assert not [e for e in stored_events(dynamodb) if e["visitor_id"] == "ann"]


def test_an_erasure_right_after_the_last_event_waits_for_the_stream(api, dynamodb, wire, monkeypatch):
    services = wire()
    services.lake_objects = MemoryLakeObjects()
    assert post(api, page_view("/now", 0, user_id="cat")).status_code == 200
    response = api.http.request("DELETE", "/visitors/cat", headers=AUTH)
    assert response.status_code == 202
    result = answer(response)
    assert result["left"]["stream_settles_at_ms"] > time.time() * 1000
    assert result["removed"]["dynamodb"]["events"] == 1  # its listed events are gone already
    assert [s for s in stored_sessions(dynamodb) if s["visitor_id"] == "cat"]  # kept: it says where to look
    monkeypatch.setattr(erasure, "STREAM_SETTLE_MS", 0)  # the stream has delivered (5 minutes later)
    final = api.http.request("DELETE", "/visitors/cat", headers=AUTH)
    assert final.status_code == 200 and answer(final)["removed"]["dynamodb"]["sessions"] == 1
    assert not stored_sessions(dynamodb)


def test_the_route_is_token_protected_and_validates(api):
    assert api.http.request("DELETE", "/visitors/ann").status_code == 401
    bad_by = api.http.request("DELETE", "/visitors/ann?by=email", headers=AUTH)
    assert (bad_by.status_code, answer(bad_by)["error"]["code"]) == (400, "invalid_by")
    unknown = api.http.request("DELETE", "/visitors/ann?site=nope", headers=AUTH)
    assert answer(unknown)["error"]["code"] == "unknown_site"
    assert api.http.request("DELETE", "/visitors/ann?colour=red", headers=AUTH).status_code == 400


def test_with_a_function_configured_the_api_invokes_it(api, wire, monkeypatch):
    services = wire()
    client = boto3.client("lambda", region_name="us-east-1")
    done = {"visitor": "ann", "complete": True, "removed": {"dynamodb": {"events": 3, "sessions": 1},
                                                            "lake": {"rows": 3, "objects_rewritten": 1}}}
    stubber = Stubber(client)
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(done).encode())},
                         {"FunctionName": "LiveInsight-erase_visitor", "InvocationType": "RequestResponse",
                          "Payload": ANY})
    sent_payloads = []
    client.meta.events.register("provide-client-params.lambda.Invoke",
                                lambda params, **_: sent_payloads.append(params["Payload"]))
    services.lambda_client = client
    services.settings = replace(services.settings, erase_function="LiveInsight-erase_visitor")
    with stubber:
        response = api.http.request("DELETE", "/visitors/ann", headers=AUTH)
    assert response.status_code == 200 and answer(response) == done
    [sent] = [json.loads(p) for p in sent_payloads]
    assert (sent["visitor"], sent["by"], sent["sites"]) == ("ann", "visitor_id", sorted(services.settings.sites))
    assert 0 < sent["budget_seconds"] < services.settings.request_deadline_seconds


def test_a_failed_function_is_a_503(api, wire, monkeypatch):
    services = wire()
    client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                    "Payload": io.BytesIO(b'{"errorMessage":"boom"}')})
    services.lambda_client = client
    services.settings = replace(services.settings, erase_function="LiveInsight-erase_visitor")
    with stubber:
        response = api.http.request("DELETE", "/visitors/ann", headers=AUTH)
    assert response.status_code == 503


def test_the_erase_visitor_function_runs_the_erasure(api, dynamodb, wire):
    from chalice.local import LambdaContext
    from chalice.test import Client

    from app import app

    services = wire()
    lake, _ = setup(api, dynamodb, services)
    request = erasure.erasure_request("bob", {}, [SITE], 20)
    # Chalice's test client gives every function 3 s: too little to start (Lambda's own margin is 5 s).
    with Client(app, stage_name="local") as client:
        short = client.lambda_.invoke("erase_visitor", request).payload
    assert short["complete"] is False and short["left"]["sites_not_started"] == [SITE]
    # With the function's configured 30 s it finishes.
    result = app.handler_map["erase_visitor"](request, LambdaContext("erase_visitor", 1024, max_runtime_ms=30_000))
    assert result["complete"] is True
    assert result["removed"] == {"dynamodb": {"events": 5, "sessions": 1}, "lake": {"rows": 5, "objects_rewritten": 1}}
    assert not [r for r in lake_rows(lake) if r["visitor_id"] == "bob"]
    assert [r for r in lake_rows(lake) if r["visitor_id"] == "ann"]


def test_a_partition_compaction_holds_is_left_for_the_rerun_and_never_rewritten_twice_at_once(api, dynamodb, wire):
    from chalicelib.lake.leases import REWRITE_LEASE_MS, lease_name

    services = wire()
    lake, _ = setup(api, dynamodb, services)
    busy = sorted(rewrite_partitions(lake))[0]
    now_ms = int(time.time() * 1000)
    # The lease lives in the statistics table (moto here): the same item compaction takes.
    assert services.lake_leases.acquire(lease_name(busy), "compaction-run", now_ms, REWRITE_LEASE_MS)
    held = dict((k, v) for k, v in lake.objects.items() if Partition.from_key(k) == busy)
    first = answer(api.http.request("DELETE", "/visitors/ann?by=user_id", headers=AUTH))
    assert first["complete"] is False and first["left"]["lake_partitions"] == 1
    assert {k: v for k, v in lake.objects.items() if Partition.from_key(k) == busy} == held  # untouched
    assert [r for r in read_as_query(lake, busy) if r["visitor_id"] == "ann"]

    services.lake_leases.release(lease_name(busy), "compaction-run")
    second = answer(api.http.request("DELETE", "/visitors/ann?by=user_id", headers=AUTH))
    assert second["complete"] is True
    assert not [r for r in lake_rows(lake) if r["visitor_id"] == "ann"]

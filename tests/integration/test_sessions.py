"""Sessions through the real app and moto: exact under concurrency, retries and late returns."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from chalicelib.ingest.collector import IngestRequest
from tests.integration.conftest import (
    AUTH,
    BROWSER_UA,
    Serialized,
    post,
    stored_events,
    stored_sessions,
)

HOUR_MS = 3_600_000


def page_view(path="/", minutes_ago: float = 0, **fields):
    return {"event_type": "page_view", "page_url": f"https://shop.example{path}", "event_id": str(uuid.uuid4()),
            "timestamp": int(time.time() * 1000 - minutes_ago * 60_000), **fields}


def answer(response) -> dict:
    return json.loads(response.body)


def test_every_accepted_event_carries_its_session_and_the_read_api_shows_it(api, dynamodb):
    events = [page_view("/c", 1, user_id="ann"), page_view("/a", 5, user_id="ann"), page_view("/b", 3, user_id="ann")]
    statuses = answer(post(api, {"events": events}))["events"]
    session_ids = {s["session_id"] for s in statuses}
    assert len(session_ids) == 1
    [session_id] = session_ids

    response = api.http.get(f"/sessions/{session_id}", headers=AUTH)
    assert response.status_code == 200
    body = answer(response)
    session = body["session"]
    assert (session["visitor_id"], session["status"]) == ("ann", "active")
    assert (session["events"], session["page_views"]) == (3, 3)
    assert (session["entry_page"], session["exit_page"]) == ("/a", "/c")
    assert 239 <= session["duration_seconds"] <= 241
    assert [e["page_path"] for e in body["events"]] == ["/a", "/b", "/c"]  # time order
    assert all(e["session_id"] == session_id for e in body["events"])
    assert not {"pk", "claim", "expires_at_s"} & set(body["events"][0])  # storage internals stay inside
    assert {e["session_id"] for e in stored_events(dynamodb)} == {session_id}


def test_twenty_concurrent_requests_for_a_new_visitor_make_exactly_one_session(dynamodb, wire):
    services = wire(Serialized(dynamodb))
    requests = [IngestRequest(body=json.dumps(page_view(f"/{i}", user_id="crowd")).encode(),
                              content_type="application/json", user_agent=BROWSER_UA) for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(services.collector.collect, requests))
    assert [r.status_code for r in results] == [200] * 20
    [session] = stored_sessions(dynamodb)
    assert (session["events"], session["page_views"], session["status"]) == (20, 20, "active")
    assert {r.body["events"][0]["session_id"] for r in results} == {session["session_id"]}
    assert len(stored_events(dynamodb)) == 20


def test_a_return_after_the_timeout_before_expiry_starts_a_new_session_and_keeps_the_old(api, dynamodb):
    first = [page_view("/a", 120, user_id="bob"), page_view("/b", 115, user_id="bob")]
    old_id = answer(post(api, {"events": first}))["events"][0]["session_id"]
    new_id = answer(post(api, page_view("/back", 0, user_id="bob")))["events"][0]["session_id"]
    assert new_id != old_id
    sessions = {s["session_id"]: s for s in stored_sessions(dynamodb)}
    old, new = sessions[old_id], sessions[new_id]
    assert (old["status"], old["events"], old["entry_page"], old["exit_page"]) == ("ended", 2, "/a", "/b")
    assert old["ended_ms"] == old["last_seen_ms"] == first[1]["timestamp"]  # its true end, not now
    assert (new["status"], new["events"], new["entry_page"]) == ("active", 1, "/back")

    listing = answer(api.http.get("/visitors/bob/sessions?site=demo", headers=AUTH))
    assert [s["session_id"] for s in listing["sessions"]] == [new_id, old_id]  # newest first


def test_a_retried_event_changes_no_counter(api, dynamodb):
    batch = [page_view("/x", 2, user_id="cat"), page_view("/y", 1, user_id="cat")]
    post(api, {"events": batch})
    [before] = stored_sessions(dynamodb)
    again = answer(post(api, {"events": batch}))
    assert [s["status"] for s in again["events"]] == ["duplicate", "duplicate"]
    assert {s["session_id"] for s in again["events"]} == {before["session_id"]}
    [after] = stored_sessions(dynamodb)
    assert after == before


def test_a_resend_after_a_partial_failure_counts_each_event_once(api, dynamodb, wire):
    from tests.integration.test_post_events import FailingWrites

    events = [page_view(f"/{i}", 1, user_id="dan") for i in range(100)]
    wire(FailingWrites(dynamodb, ok_calls=1))  # 90 events are stored with their session, 10 are not
    assert post(api, {"events": events}).status_code == 503
    [session] = stored_sessions(dynamodb)
    assert session["events"] == 90 and len(stored_events(dynamodb)) == 90
    wire()
    assert post(api, {"events": events}).status_code == 200
    [session] = stored_sessions(dynamodb)
    assert session["events"] == 100 and len(stored_events(dynamodb)) == 100


def test_a_session_that_cannot_be_written_stores_no_event(api, dynamodb, wire):
    from tests.integration.test_post_events import FailingWrites

    wire(FailingWrites(dynamodb))
    response = post(api, page_view("/", user_id="eve"))
    assert response.status_code == 503 and answer(response)["events"][0]["status"] == "retry"
    assert stored_events(dynamodb) == [] and stored_sessions(dynamodb) == []


def test_visitor_sessions_are_paginated(api):
    for hours_ago in (20, 15, 10, 5, 0):
        post(api, page_view("/", hours_ago * 60, user_id="fay"))
    first = answer(api.http.get("/visitors/fay/sessions?limit=2", headers=AUTH))
    second = answer(api.http.get(f"/visitors/fay/sessions?limit=2&cursor={first['next_cursor']}", headers=AUTH))
    third = answer(api.http.get(f"/visitors/fay/sessions?limit=2&cursor={second['next_cursor']}", headers=AUTH))
    starts = [s["started_ms"] for page in (first, second, third) for s in page["sessions"]]
    assert len(starts) == 5 and starts == sorted(starts, reverse=True)


def test_read_endpoints_need_the_token(api):
    for path in ("/sessions/abc", "/visitors/x/sessions"):
        missing = api.http.get(path)
        wrong = api.http.get(path, headers={"Authorization": "Bearer nope"})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert answer(missing)["error"]["code"] == "missing_token"
        assert answer(wrong)["error"]["code"] == "invalid_token"
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")


def test_read_api_errors(api):
    missing = api.http.get(f"/sessions/{'0' * 20}", headers=AUTH)
    assert missing.status_code == 404 and answer(missing)["error"]["code"] == "session_not_found"
    malformed = api.http.get("/sessions/nope", headers=AUTH)  # not an id POST /events could have returned
    assert malformed.status_code == 400 and answer(malformed)["error"]["field"] == "session_id"
    bad = api.http.get("/visitors/x/sessions?limit=0", headers=AUTH)
    assert bad.status_code == 400 and answer(bad)["error"]["field"] == "limit"
    assert answer(api.http.get("/visitors/x/sessions?cursor=%%%", headers=AUTH))["error"]["code"] == "invalid_cursor"
    assert answer(api.http.get("/visitors/x/sessions?site=nope", headers=AUTH))["error"]["code"] == "unknown_site"


def test_session_metrics_are_emitted(api, capsys):
    post(api, {"events": [page_view("/a", 90, user_id="gus"), page_view("/b", 0, user_id="gus")]})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    started = next(line for line in lines if "SessionsStarted" in line)
    ended = next(line for line in lines if "SessionsEnded" in line)
    assert started["SessionsStarted"] == 2
    assert (ended["SessionsEnded"], ended["BouncedSessions"], ended["SessionDuration"]) == (1, 1, [0.0])


def test_a_read_when_dynamodb_is_unavailable_is_a_503(api, dynamodb, wire):
    from tests.integration.test_post_events import FailingWrites

    wire(FailingWrites(dynamodb, operation="query"))
    response = api.http.get("/visitors/x/sessions", headers=AUTH)
    assert response.status_code == 503 and answer(response)["error"]["code"] == "store_unavailable"

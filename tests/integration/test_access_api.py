"""API keys and shared links through the Chalice app on moto (issue 15, C4; docs/access.md): events of two
sites posted through the real collector -> stream -> lake; keys made by the CLI's use cases into the
Access table; every stats route answers a key its own site and 403 for another before any query runs;
personal data needs its scope; revocation counts from the next request; last use is written at most once
per 5 minutes; shared links read stats of their one site, behind a password if they have one."""

from __future__ import annotations

import json
import time

import pytest
from chalice.test import Client

from app import app
from chalicelib.access import admin
from chalicelib.routes import common
from chalicelib.schema.tables import ACCESS
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE, RequestCounter, post
from tests.integration.lakepipe import lake_pipeline

GOALS = [{"name": "Home", "page": "/"}, {"name": "Signup", "event": "signup"}]
SITES = {"a": {"origins": [], "goals": GOALS}, "b": {"origins": [], "goals": GOALS}}
VISITORS = {"a": ["a-1", "a-2"], "b": ["b-1", "b-2", "b-3"]}
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=json.dumps(SITES),
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    now_ms = int(time.time() * 1000)
    session_of = {}
    with Client(app, stage_name=STAGE) as api:
        for site, users in VISITORS.items():
            for n, user in enumerate(users):
                event = {"site": site, "event_type": "page_view", "user_id": user, "timestamp": now_ms - 60_000,
                         "event_id": f"00000000-0000-4000-8000-0000000000{n:01d}{ord(site[0]) % 10}",
                         "page_url": "https://shop.example/"}
                response = post(api, {"events": [event]})
                assert response.status_code == 200, response.body
                session_of[user] = json.loads(response.body)["events"][0]["session_id"]
    assert lake.poller.poll_once() == 5
    asked = []
    real_request_query = lake.services.request_query
    lake.services.request_query = lambda request: asked.append(request) or real_request_query(request)
    yield lake.services, session_of, asked
    set_services(None)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def key(services, sites, scopes=("stats",)) -> str:
    return admin.create_key(services.access_store, sites, scopes, "test", int(time.time() * 1000))[1]


def stats_requests(site: str) -> list[tuple[str, str, dict | None]]:
    """Every stats route, reading `site`: (method, path, JSON body)."""
    window = "period=day"
    v2 = {"site_id": site, "metrics": ["visitors"], "date_range": "day"}
    return [
        ("GET", f"/stats/realtime?site={site}", None),
        ("GET", f"/stats?site={site}", None),
        ("GET", f"/stats/breakdown?site={site}&by=page", None),
        ("POST", "/api/v2/query", v2),
        ("POST", "/api/v2/funnel", {"site_id": site, "date_range": "day", "steps": ["Home", "Signup"]}),
        ("GET", f"/api/v1/stats/realtime/visitors?site_id={site}", None),
        ("GET", f"/api/v1/stats/aggregate?site_id={site}&{window}", None),
        ("GET", f"/api/v1/stats/breakdown?site_id={site}&{window}&property=event:page", None),
        ("GET", f"/api/v1/stats/timeseries?site_id={site}&{window}", None),
    ]


def call(api, method: str, path: str, body: dict | None, headers: dict):
    if method == "GET":
        return api.http.get(path, headers=headers)
    return api.http.post(path, headers={**JSON_HEADERS, **headers}, body=json.dumps(body).encode())


def test_a_key_of_site_a_reads_a_and_is_refused_b_on_every_stats_route_before_any_query(wired):
    services, _, asked = wired
    token = key(services, ["a"])
    with Client(app, stage_name=STAGE) as api:
        for method, path, body in stats_requests("a"):
            response = call(api, method, path, body, bearer(token))
            assert response.status_code == 200, (path, response.body)
        answered = call(api, "POST", "/api/v2/query", stats_requests("a")[3][2], bearer(token))
        assert json.loads(answered.body)["results"] == [{"metrics": [2], "dimensions": []}]  # a's two visitors
        asked.clear()
        for method, path, body in stats_requests("b"):
            response = call(api, method, path, body, bearer(token))
            assert response.status_code == 403, (path, response.body)
            answer = json.loads(response.body)
            if path.startswith("/api/"):  # Plausible's shape
                assert answer["code"] == "forbidden_site" and "'b'" in answer["error"], path
            else:
                assert answer["error"]["code"] == "forbidden_site" and "'b'" in answer["error"]["message"], path
        assert asked == []  # no lake query ran for any refused request


def test_stats_sites_lists_only_what_the_caller_may_read(wired):
    services, _, _ = wired
    with Client(app, stage_name=STAGE) as api:
        mine = json.loads(api.http.get("/stats/sites", headers=bearer(key(services, ["b"]))).body)
        everything = json.loads(api.http.get("/stats/sites", headers=AUTH).body)
    assert mine["sites"] == ["b"] and mine["default_site"] == "b" and set(mine["site_details"]) == {"b"}
    assert everything["sites"] == ["a", "b"] and set(everything["site_details"]) == {"a", "b"}


def test_personal_data_needs_its_scope_and_the_site(wired):
    services, session_of, _ = wired
    stats_only, personal = key(services, ["a"]), key(services, ["a"], ("stats", "personal_data"))
    with Client(app, stage_name=STAGE) as api:
        for path in (f"/sessions/{session_of['a-1']}", "/visitors/a-1/sessions?site=a", "/export?site=a"):
            response = api.http.get(path, headers=bearer(stats_only))
            assert response.status_code == 403, path
            assert json.loads(response.body)["error"]["code"] == "missing_scope", path
        own = api.http.get(f"/sessions/{session_of['a-1']}", headers=bearer(personal))
        assert own.status_code == 200 and json.loads(own.body)["session"]["visitor_id"] == "a-1"
        visitor = api.http.get("/visitors/a-1/sessions?site=a", headers=bearer(personal))
        assert visitor.status_code == 200 and len(json.loads(visitor.body)["sessions"]) == 1
        assert api.http.get("/export?site=a", headers=bearer(personal)).status_code == 303
        other = api.http.get(f"/sessions/{session_of['b-1']}", headers=bearer(personal))
        assert other.status_code == 403 and json.loads(other.body)["error"]["code"] == "forbidden_site"
        assert api.http.get("/visitors/b-1/sessions?site=b", headers=bearer(personal)).status_code == 403
        assert api.http.get("/export?site=b", headers=bearer(personal)).status_code == 403
        erase = api.http.delete("/visitors/a-1?site=a", headers=bearer(personal))
        assert erase.status_code == 403 and json.loads(erase.body)["error"]["code"] == "operator_only"
        # the operator token reads everything, as before
        assert api.http.get(f"/sessions/{session_of['b-1']}", headers=AUTH).status_code == 200


def test_a_revoked_key_is_refused_from_the_next_request(wired):
    services, _, _ = wired
    token = key(services, ["a"])
    key_id = token.split("_")[2]
    with Client(app, stage_name=STAGE) as api:
        assert api.http.get("/stats?site=a", headers=bearer(token)).status_code == 200
        admin.revoke(services.access_store, "key", key_id, int(time.time() * 1000))
        response = api.http.get("/stats?site=a", headers=bearer(token))
        assert response.status_code == 401
        assert json.loads(response.body)["error"] == {"code": "invalid_token", "message": "this API key was revoked",
                                                      "field": "Authorization"}
        v2 = call(api, "POST", "/api/v2/query", stats_requests("a")[3][2], bearer(token))
        assert v2.status_code == 401 and json.loads(v2.body)["code"] == "invalid_token"


def test_last_use_is_written_once_per_five_minutes(wired, dynamodb, monkeypatch):
    services, _, _ = wired
    token = key(services, ["a"])
    key_id = token.split("_")[2]
    counter = RequestCounter(dynamodb)
    clock = {"ms": 1_900_000_000_000}
    monkeypatch.setattr(common, "now_ms", lambda: clock["ms"])

    def last_used() -> int | None:
        item = dynamodb.get_item(TableName=ACCESS.name(STAGE), Key={"pk": {"S": f"key#{key_id}"}})["Item"]
        return int(item["last_used_at_ms"]["N"]) if "last_used_at_ms" in item else None

    assert last_used() is None
    with Client(app, stage_name=STAGE) as api:
        assert api.http.get("/stats/sites", headers=bearer(token)).status_code == 200
        assert last_used() == clock["ms"]
        counter.reset()
        clock["ms"] += 4 * 60_000  # within 5 minutes: read, not rewritten
        assert api.http.get("/stats/sites", headers=bearer(token)).status_code == 200
        assert counter.calls["UpdateItem"] == 0 and counter.calls["GetItem"] == 1
        assert last_used() == 1_900_000_000_000
        clock["ms"] += 61_000  # 5 min 1 s after the last write
        assert api.http.get("/stats/sites", headers=bearer(token)).status_code == 200
        assert last_used() == 1_900_000_000_000 + 5 * 60_000 + 1000
    listed = admin.list_credentials(services.access_store)
    assert [r["last_used_at_ms"] for r in listed] == [1_900_000_000_000 + 5 * 60_000 + 1000]


def test_a_shared_link_reads_stats_of_its_one_site_only(wired):
    services, session_of, asked = wired
    _, token = admin.create_link(services.access_store, "a", "public", int(time.time() * 1000))
    with Client(app, stage_name=STAGE) as api:
        sites = json.loads(api.http.get("/stats/sites", headers=bearer(token)).body)
        assert sites["sites"] == ["a"] and sites["default_site"] == "a"
        for method, path, body in stats_requests("a"):
            assert call(api, method, path, body, bearer(token)).status_code == 200, path
        asked.clear()
        for method, path, body in stats_requests("b"):
            assert call(api, method, path, body, bearer(token)).status_code == 403, path
        assert asked == []
        response = api.http.get(f"/sessions/{session_of['a-1']}", headers=bearer(token))
        assert response.status_code == 403 and json.loads(response.body)["error"]["code"] == "missing_scope"


def test_a_password_protected_link_unlocks_to_a_session_that_revoking_the_link_ends(wired):
    services, _, _ = wired
    record, token = admin.create_link(services.access_store, "a", "board", int(time.time() * 1000),
                                      password="correct horse")
    v2 = stats_requests("a")[3][2]
    with Client(app, stage_name=STAGE) as api:
        bare = api.http.get("/stats?site=a", headers=bearer(token))
        assert bare.status_code == 401 and json.loads(bare.body)["error"]["code"] == "share_password_required"
        bare_v2 = call(api, "POST", "/api/v2/query", v2, bearer(token))
        assert bare_v2.status_code == 401 and json.loads(bare_v2.body)["code"] == "share_password_required"

        wrong = call(api, "POST", "/share/unlock", {"token": token, "password": "wrong"}, {})
        assert wrong.status_code == 401 and json.loads(wrong.body)["error"]["code"] == "invalid_password"
        unlocked = call(api, "POST", "/share/unlock", {"token": token, "password": "correct horse"}, {})
        assert unlocked.status_code == 200
        session = json.loads(unlocked.body)
        assert session["expires_in_seconds"] == 43_200 and session["token"].startswith(f"li_sess_{record['id']}_")

        assert call(api, "POST", "/api/v2/query", v2, bearer(session["token"])).status_code == 200
        assert api.http.get("/stats?site=b", headers=bearer(session["token"])).status_code == 403

        admin.revoke(services.access_store, "link", record["id"], int(time.time() * 1000))
        assert api.http.get("/stats?site=a", headers=bearer(session["token"])).status_code == 401
        assert call(api, "POST", "/share/unlock", {"token": token, "password": "correct horse"}, {}).status_code == 401


def hostile_tokens(real: str) -> list[str]:
    link_id = real.split("_")[2]
    return [
        "", " ", "li_", "li_key_", "li_key_" + "g" * 12 + "_" + "0" * 64, real[:-1], real + "0", real.upper(),
        real[:-1] + "\u0660", "li_key_" + "\u0661" * 12 + "_" + "0" * 64, "x" * 20_000, "li_key_" + "a" * 20_000,
        f"li_sess_{link_id}_9999999999_" + "0" * 64, f"li_sess_{'0' * 12}_0000000001_" + "f" * 64,
        "li_link_" + "0" * 12 + "_" + "0" * 64, "\x00li_key_", "li_key_\ud800", "é" * 300, "Bearer x",
        "li_key_000000000000_" + "0" * 64 + "\n",
    ]


def test_hostile_tokens_are_401_never_5xx(wired):
    services, _, _ = wired
    real = key(services, ["a"])
    routes = [("GET", "/stats?site=a", None), ("POST", "/api/v2/query", stats_requests("a")[3][2]),
              ("GET", "/api/v1/stats/aggregate?site_id=a&period=day", None), ("GET", "/stats/sites", None),
              ("GET", "/visitors/a-1/sessions?site=a", None)]
    with Client(app, stage_name=STAGE) as api:
        for token in hostile_tokens(real):
            for scheme in ("Bearer ", "bearer ", ""):
                for method, path, body in routes:
                    response = call(api, method, path, body, {"Authorization": scheme + token})
                    assert response.status_code == 401, (token[:40], path, response.status_code, response.body[:200])
        for body in (b"", b"[]", b"{", b"[" * 100_000, json.dumps({"token": real, "password": "x"}).encode(),
                     json.dumps({"token": 5, "password": "x"}).encode(), json.dumps({"token": "li_link_"}).encode(),
                     json.dumps({"token": "x", "password": "y", "extra": 1}).encode(),
                     json.dumps({"token": "x", "password": "p" * 5000}).encode()):
            response = api.http.post("/share/unlock", headers=JSON_HEADERS, body=body)
            assert 400 <= response.status_code < 500, (body[:40], response.status_code, response.body)

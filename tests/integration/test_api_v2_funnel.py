"""Funnels through POST /api/v2/funnel on moto: the site's goals in LIVEINSIGHT_SITES, visits posted
through the real collector -> stream -> Parquet on S3 -> the funnel answered in Plausible's shape
(lib/plausible/stats/funnel.ex: counts, and percentages as its strings), numbers counted by hand from
what was posted; and every 400, in /api/v2/query's error shape, naming the offending part."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

SITE = "demo"
SITES = {"demo": {"origins": [], "goals": [
    {"name": "Home", "page": "/"},
    {"name": "Pricing", "page": "/pricing*"},
    {"name": "Signup", "event": "signup"},
    {"name": "Pro plan", "event": "signup", "props": {"plan": "pro"}}]}}


def posted(now_ms: int) -> list[dict]:
    """u-01: / -> /pricing -> signup (pro), 100 s apart; u-02: / -> /pricing/teams; u-03: /pricing
    then / (the wrong order); u-04: / only; u-05: /docs only (never enters); u-06: / -> signup (free),
    skipping /pricing."""
    def event(user: str, n: int, kind: str, path: str, seconds_ago: int, **extra) -> dict:
        return {"site": SITE, "event_type": kind, "user_id": user, "timestamp": now_ms - seconds_ago * 1000,
                "event_id": f"00000000-0000-4000-8000-{user[-2:]}00000000{n:02d}",
                "page_url": f"https://shop.example{path}", **extra}
    return [
        event("u-01", 1, "page_view", "/", 3000), event("u-01", 2, "page_view", "/pricing", 2900),
        event("u-01", 3, "signup", "/pricing", 2800, properties={"plan": "pro"}),
        event("u-02", 1, "page_view", "/", 2700), event("u-02", 2, "page_view", "/pricing/teams", 2600),
        event("u-03", 1, "page_view", "/pricing", 2500), event("u-03", 2, "page_view", "/", 2400),
        event("u-04", 1, "page_view", "/", 2000),
        event("u-05", 1, "page_view", "/docs", 1000),
        event("u-06", 1, "page_view", "/", 1900), event("u-06", 2, "signup", "/", 1800, properties={"plan": "free"}),
    ]


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=json.dumps(SITES),
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    now_ms = int(time.time() * 1000)
    lake.post_visits(posted(now_ms))
    yield now_ms
    set_services(None)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def funnel(api, body: dict, now_ms: int, headers: dict | None = None):
    # The last two hours, so a run just after midnight UTC still finds every posted event.
    full = {"site_id": SITE, "date_range": [iso(now_ms - 7_200_000), iso(now_ms + 60_000)], **body}
    response = api.http.post("/api/v2/funnel", headers=headers or {"Content-Type": "application/json", **AUTH},
                             body=json.dumps(full).encode())
    return response.status_code, json.loads(response.body)


def test_funnel_in_plausibles_shape(wired):
    with Client(app, stage_name=STAGE) as api:
        status, body = funnel(api, {"steps": ["Home", "Pricing", "Signup"]}, wired)
    assert status == 200, body
    # all 6 visitors; Home: everyone but u-05 (5); then /pricing*: u-01, u-02 (u-03's came before its /);
    # then a signup: u-01 (u-06 signed up without /pricing)
    assert body["results"] == {
        "steps": [
            {"label": "Home", "visitors": 5, "conversion_rate": "100", "conversion_rate_step": "0", "dropoff": 0,
             "dropoff_percentage": "0"},
            {"label": "Pricing", "visitors": 2, "conversion_rate": "40", "conversion_rate_step": "40", "dropoff": 3,
             "dropoff_percentage": "60"},
            {"label": "Signup", "visitors": 1, "conversion_rate": "20", "conversion_rate_step": "50", "dropoff": 1,
             "dropoff_percentage": "50"}],
        "all_visitors": 6, "entering_visitors": 5, "entering_visitors_percentage": "83.33",
        "never_entering_visitors": 1, "never_entering_visitors_percentage": "16.67"}
    assert body["query"]["window"] == 86_400 and body["query"]["steps"] == ["Home", "Pricing", "Signup"]
    lake = body["meta"]["liveinsight"][0]
    assert lake["engine"] == "duckdb" and lake["bytes_read"] > 0


def test_a_funnel_as_csv_has_a_row_per_step(wired):
    full = {"site_id": SITE, "date_range": [iso(wired - 7_200_000), iso(wired + 60_000)],
            "steps": ["Home", "Pricing", "Signup"]}
    with Client(app, stage_name=STAGE) as api:
        response = api.http.post("/api/v2/funnel", body=json.dumps(full).encode(),
                                 headers={"Content-Type": "application/json", "Accept": "text/csv", **AUTH})
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.body.decode().splitlines() == [
        "step,label,visitors,conversion_rate,conversion_rate_step,dropoff,dropoff_percentage",
        "1,Home,5,100,0,0,0", "2,Pricing,2,40,40,3,60", "3,Signup,1,20,50,1,50"]


def test_window_filters_and_inline_goals(wired):
    with Client(app, stage_name=STAGE) as api:
        # 60 s: u-01's and u-02's /pricing come 100 s after their /: nobody reaches step 2
        status, body = funnel(api, {"steps": ["Home", "Pricing", "Signup"], "window": 60}, wired)
        assert status == 200 and [s["visitors"] for s in body["results"]["steps"]] == [5, 0, 0], body
        # 200 s: u-01 reaches the signup at 200 s exactly (the window is inclusive)
        status, body = funnel(api, {"steps": ["Home", "Pricing", "Pro plan"], "window": 200}, wired)
        assert status == 200 and [s["visitors"] for s in body["results"]["steps"]] == [5, 2, 1], body
        # visits entering on / only: u-03 (entered on /pricing) and u-05 leave all_visitors
        status, body = funnel(api, {"steps": ["Home", "Pricing", "Signup"],
                                    "filters": [["is", "visit:entry_page", ["/"]]]}, wired)
        assert status == 200, body
        assert body["results"]["all_visitors"] == 4
        assert [s["visitors"] for s in body["results"]["steps"]] == [4, 2, 1]
        # an inline goal in the configuration's shape: any page view of /pricing then of /
        status, body = funnel(api, {"steps": [{"name": "Any pricing", "page": "/pricing*"}, "Home"]}, wired)
        assert status == 200 and [s["visitors"] for s in body["results"]["steps"]] == [3, 1], body
        assert body["results"]["steps"][0]["label"] == "Any pricing"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"steps": ["Home", "Checkout"]}, "steps[1]", "'Checkout' is not a goal of this site"),
    ({"steps": ["Home"]}, "steps", "2 to 8"),
    ({"steps": ["Home", "Pricing"] * 4 + ["Signup"]}, "steps", "2 to 8"),
    ({"steps": ["Home", "Pricing"], "window": 30}, "window", "60 to 2678400"),
    ({"steps": ["Home", "Pricing"], "window": 31 * 86_400 + 1}, "window", "60 to 2678400"),
    ({"steps": ["Home", "Pricing"], "window": "1d"}, "window", "whole number"),
    ({"steps": ["Home", "Pricing"], "metrics": ["visitors"]}, "metrics", "unknown field"),
    ({"steps": ["Home", "Pricing"], "filters": [["is", "event:goal", ["Home"]]]}, "filters[0]",
     "do not apply to funnels"),
    ({"steps": ["Home", "Pricing"], "date_range": "fortnight"}, "date_range", "not a date range"),
    ({"steps": ["Home", {"name": "Bad", "page": "pricing"}]}, "steps[1]", "page path starting with '/'"),
])
def test_bad_requests_are_400s_naming_the_part(wired, change, field, words):
    with Client(app, stage_name=STAGE) as api:
        status, body = funnel(api, change, wired)
    assert status == 400 and body["field"] == field and words in body["error"], body
    assert body["code"] == "invalid_query"


def test_token_and_body_checks(wired):
    with Client(app, stage_name=STAGE) as api:
        status, body = funnel(api, {"steps": ["Home", "Pricing"]}, wired, headers={"Content-Type": "application/json"})
        assert status == 401, body
        response = api.http.post("/api/v2/funnel", headers={"Content-Type": "application/json", **AUTH}, body=b"{")
        assert response.status_code == 400 and "not JSON" in json.loads(response.body)["error"]

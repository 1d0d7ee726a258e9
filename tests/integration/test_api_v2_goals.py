"""Goals through POST /api/v2/query on moto: the site's goals in LIVEINSIGHT_SITES, events with
revenue in two currencies posted through the real collector -> stream -> Parquet on S3 -> Plausible's
request bodies (plausible/docs src/js/apiv2-examples/revenue-metrics-query.json, adapted) -> numbers
counted by hand from what was posted; revenue in Plausible's {short, long, value, currency} shape."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline

SITE = "demo"
SITES = {"demo": {"origins": [], "goals": [
    {"name": "Signup", "event": "signup"},
    {"name": "Visit /pricing", "page": "/pricing*"},
    {"name": "Pro plan", "event": "signup", "props": {"plan": "pro"}, "currency": "USD"},
    {"name": "Purchase EUR", "event": "purchase", "currency": "EUR"}]}}


def posted(now_ms: int) -> list[dict]:
    """Five visitors: u-01 signs up for pro (USD 120.50), u-02 for pro paying EUR (left out of the USD
    goal), u-03 for free and buys twice in EUR, u-04 sees /pricing/teams only, u-05 the home page."""
    def event(user: str, n: int, kind: str, path: str, seconds_ago: int, **extra) -> dict:
        return {"site": SITE, "event_type": kind, "user_id": user, "timestamp": now_ms - seconds_ago * 1000,
                "event_id": f"00000000-0000-4000-8000-{user[-2:]}00000000{n:02d}",
                "page_url": f"https://shop.example{path}", **extra}
    return [
        event("u-01", 1, "page_view", "/pricing", 3000),
        event("u-01", 2, "signup", "/pricing", 2900, properties={"plan": "pro"},
              revenue={"amount": "120.50", "currency": "USD"}),
        event("u-02", 1, "page_view", "/", 2800),
        event("u-02", 2, "signup", "/", 2700, properties={"plan": "pro"}, revenue={"amount": 99, "currency": "EUR"}),
        event("u-03", 1, "page_view", "/shop", 2600),
        event("u-03", 2, "signup", "/shop", 2550, properties={"plan": "free"}),
        event("u-03", 3, "purchase", "/shop", 2500, revenue={"amount": "1000.25", "currency": "EUR"}),
        event("u-03", 4, "purchase", "/shop", 2400, revenue={"amount": "2500000", "currency": "EUR"}),
        event("u-04", 1, "page_view", "/pricing/teams", 2000),
        event("u-05", 1, "page_view", "/", 1000),
    ]


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json=json.dumps(SITES),
                         cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    lake.post_visits(posted(int(time.time() * 1000)))
    yield
    set_services(None)


def query(api, body: dict):
    # Yesterday and today: the visits (up to 50 minutes old) are in it at any time of day, UTC midnight too.
    today = datetime.now(timezone.utc).date()
    days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", **AUTH},
                             body=json.dumps({"site_id": SITE, "date_range": days, **body}).encode())
    return response.status_code, json.loads(response.body)


def test_goals_conversion_rates_and_revenue_by_goal(wired):
    with Client(app, stage_name=STAGE) as api:
        status, body = query(api, {"metrics": ["visitors", "events", "conversion_rate", "total_revenue",
                                                "average_revenue"], "dimensions": ["event:goal"]})
    assert status == 200, body
    rows = {r["dimensions"][0]: r["metrics"] for r in body["results"]}
    # 5 visitors in all. Signup: u-01, u-02, u-03. Visit /pricing*: u-01, u-04. Pro plan: u-01, u-02,
    # whose USD revenue is u-01's alone (u-02 paid EUR: not converted, left out). Purchase EUR: u-03 twice.
    assert rows["Signup"] == [3, 3, 60.0, None, None]
    assert rows["Visit /pricing"] == [2, 2, 40.0, None, None]
    assert rows["Pro plan"] == [2, 2, 40.0, {"short": "$120.50", "long": "$120.50", "value": 120.5, "currency": "USD"},
                                {"short": "$120.50", "long": "$120.50", "value": 120.5, "currency": "USD"}]
    assert rows["Purchase EUR"] == [1, 2, 20.0,
                                    {"short": "€2.5M", "long": "€2,501,000.25", "value": 2501000.25,
                                     "currency": "EUR"},
                                    # 1,250,500.125 to two decimals, half to even as the runner rounds
                                    {"short": "€1.3M", "long": "€1,250,500.12", "value": 1250500.12,
                                     "currency": "EUR"}]
    assert list(rows) == ["Signup", "Pro plan", "Visit /pricing", "Purchase EUR"]  # visitors desc, then name


def test_goal_filters_and_group_conversion_rate(wired):
    with Client(app, stage_name=STAGE) as api:
        status, body = query(api, {"metrics": ["visitors", "conversion_rate", "group_conversion_rate"],
                                   "dimensions": ["event:page"], "filters": [["is", "event:goal", ["Signup"]]]})
        assert status == 200, body
        # Signups happened on /pricing (u-01), / (u-02), /shop (u-03); / was seen by u-02 and u-05,
        # /pricing by u-01 alone (u-04 saw /pricing/teams), /shop by u-03 alone.
        rows = {r["dimensions"][0]: r["metrics"] for r in body["results"]}
        assert rows == {"/pricing": [1, 20.0, 100.0], "/": [1, 20.0, 50.0], "/shop": [1, 20.0, 100.0]}
        status, body = query(api, {"metrics": ["visitors", "total_revenue"],
                                   "filters": [["is", "event:goal", ["Pro plan", "Purchase EUR"]]]})
        assert status == 200 and body["results"] == [{"dimensions": [], "metrics": [3, None]}]  # two currencies
        status, body = query(api, {"metrics": ["visitors"], "filters": [["is_not", "event:goal", ["Signup"]]]})
        assert status == 200 and body["results"][0]["metrics"] == [5]  # every visitor has a non-signup event
        # contains matches goal NAMES (Plausible): "sign" case-insensitively is Signup alone here
        status, body = query(api, {"metrics": ["visitors", "conversion_rate"],
                                   "filters": [["contains", "event:goal", ["sign"], {"case_sensitive": False}]]})
        assert status == 200 and body["results"][0]["metrics"] == [3, 60.0], body
        # inside or/not: visitors who signed up or saw /pricing exactly (u-01, u-02, u-03), and who did anything
        # but sign up or look at a page whose goal name has "pricing" (every one)
        status, body = query(api, {"metrics": ["visitors", "conversion_rate"], "filters": [
            ["or", [["is", "event:goal", ["Signup"]], ["is", "event:page", ["/pricing"]]]]]})
        assert status == 200 and body["results"][0]["metrics"] == [3, 60.0], body
        for part, words, field in (
                ({"metrics": ["conversion_rate"]}, "needs an event:goal dimension or filter", "metrics"),
                ({"metrics": ["visitors"], "filters": [["is", "event:goal", ["Nope"]]]}, "'Nope' is not a goal",
                 "filters"),
                ({"metrics": ["visitors"], "filters": [["matches", "event:goal", ["Sign("]]]},
                 "is not a regular expression", "filters[0]")):
            status, body = query(api, part)
            assert status == 400 and words in body["error"] and body["field"] == field, body

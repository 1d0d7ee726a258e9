"""Plausible's Stats API v1 on moto: events posted through the real collector -> stream -> lake writer
-> GET /api/v1/stats/{aggregate,breakdown,timeseries,realtime/visitors} with the parameters of
Plausible's v1 docs -> v1's response shapes, numbers equal to a plain-Python count of the posted
events (the same workload as the v2 tests). Errors are Plausible's {"error": "..."} 400s."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline
from tests.integration.test_api_v2_query import SITE, counted, posted_events, visits_of


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    events = posted_events(int(time.time() * 1000))
    lake.post_visits(events)
    yield visits_of(events)
    set_services(None)


def get(api, path: str, headers=AUTH, **parameters):
    response = api.http.get(f"/api/v1/stats/{path}?{urlencode(parameters)}", headers=headers)
    return response.status_code, json.loads(response.body)


def test_aggregate_with_filters_and_previous_period(wired):
    visits = wired
    total = counted(visits)
    bounces = sum(1 for v in visits.values() if [e["kind"] for e in v["events"]] == ["page_view"])
    with Client(app, stage_name=STAGE) as api:
        status, body = get(api, "aggregate", site_id=SITE, period="7d",
                           metrics="visitors,visits,pageviews,events,views_per_visit,bounce_rate")
        assert status == 200, body
        assert body == {"results": {
            "visitors": {"value": total["visitors"]}, "visits": {"value": total["visits"]},
            "pageviews": {"value": total["pageviews"]}, "events": {"value": total["events"]},
            "views_per_visit": {"value": round(total["pageviews"] / total["visits"], 2)},
            "bounce_rate": {"value": round(bounces * 100 / total["visits"])}}}
        assert total["visitors"] == 6

        # the docs' "Number of visitors to a specific page", and v1's IN, != and wildcard syntax
        for expression, event_ok, visit_ok in (
                ("event:page==/pricing", lambda e: e["path"] == "/pricing", lambda v: True),
                ("visit:utm_source==google|newsletter", lambda e: True,
                 lambda v: v["utm_source"] in ("google", "newsletter")),
                ("visit:utm_source!=google", lambda e: True, lambda v: v["utm_source"] != "google"),
                ("event:page==/docs/*;visit:utm_medium==cpc", lambda e: e["path"].startswith("/docs/"),
                 lambda v: v["utm_medium"] == "cpc")):
            status, body = get(api, "aggregate", site_id=SITE, period="7d", metrics="visitors,events",
                               filters=expression)
            want = counted(visits, event_ok, visit_ok)
            assert status == 200, body
            assert body["results"] == {"visitors": {"value": want["visitors"]}, "events": {"value": want["events"]}}

        status, body = get(api, "aggregate", site_id=SITE, period="day", metrics="visitors", compare="previous_period",
                           date=datetime.now(timezone.utc).date().isoformat())
        today = counted(visits, lambda e: e["day"] == datetime.now(timezone.utc).date())["visitors"]
        assert status == 200 and body["results"]["visitors"]["value"] == today, body
        assert body["results"]["visitors"]["comparison_value"] == total["visitors"] - today
        assert "change" in body["results"]["visitors"]


def test_breakdown_timeseries_and_realtime(wired):
    visits = wired
    with Client(app, stage_name=STAGE) as api:
        # the docs' "Top pages": visitors per page, most first, then by page
        status, body = get(api, "breakdown", site_id=SITE, period="7d", property="event:page", limit="3")
        pages = defaultdict(set)
        for user, visit in visits.items():
            for e in visit["events"]:
                pages[e["path"]].add(user)
        want = sorted(([p, len(u)] for p, u in pages.items()), key=lambda r: (-r[1], r[0]))[:3]
        assert status == 200, body
        assert body == {"results": [{"page": p, "visitors": n} for p, n in want]}
        status, body = get(api, "breakdown", site_id=SITE, period="7d", property="event:page", limit="3", page="2")
        assert [r["page"] for r in body["results"]] == [p for p, _ in sorted(
            ([p, len(u)] for p, u in pages.items()), key=lambda r: (-r[1], r[0]))[3:6]]

        # utm_source: visits without one are left out, as Legacy.Breakdown does
        status, body = get(api, "breakdown", site_id=SITE, period="7d", property="visit:utm_source",
                           metrics="visitors,bounce_rate")
        sources = defaultdict(dict)
        for user, visit in visits.items():
            if visit["utm_source"]:
                sources[visit["utm_source"]][user] = visit
        assert status == 200, body
        assert [(r["utm_source"], r["visitors"]) for r in body["results"]] == sorted(
            ((s, len(g)) for s, g in sources.items()), key=lambda r: (-r[1], r[0]))
        assert set(body["results"][0]) == {"utm_source", "visitors", "bounce_rate"}

        # the docs' custom property breakdown, filtered by event name
        status, body = get(api, "breakdown", site_id=SITE, period="7d", property="event:props:plan",
                           filters="event:name==signup")
        assert status == 200 and body == {"results": [{"plan": "free", "visitors": 1}, {"plan": "pro", "visitors": 1}]}

        status, body = get(api, "timeseries", site_id=SITE, period="7d", metrics="visitors,pageviews",
                           interval="date")
        assert status == 200, body
        today = datetime.now(timezone.utc).date()
        labels = [(today - timedelta(days=6 - n)).isoformat() for n in range(7)]
        per_day = {label: [set(), 0] for label in labels}
        for user, visit in visits.items():
            for e in visit["events"]:
                per_day[e["day"].isoformat()][0].add(user)
                per_day[e["day"].isoformat()][1] += e["kind"] == "page_view"
        assert body == {"results": [{"date": d, "visitors": len(u), "pageviews": n} for d, (u, n) in per_day.items()]}

        response = api.http.get(f"/api/v1/stats/realtime/visitors?site_id={SITE}", headers=AUTH)
        assert response.status_code == 200 and json.loads(response.body) == 0  # posted 1000 s ago or more


@pytest.mark.parametrize(("path", "parameters", "words"), [
    ("aggregate", {"period": "7d", "metrics": "visitors,visitors"}, "cannot be queried multiple times"),
    ("aggregate", {"period": "2w"}, "invalid period '2w'"),
    ("aggregate", {"period": "custom", "date": "2024-01-01"}, "two ISO-8601 dates"),
    ("aggregate", {"metrics": "clicks"}, "the metric 'clicks' is not recognized"),
    ("aggregate", {"metrics": "time_on_page", "filters": "event:page==/"}, "not supported yet"),
    ("aggregate", {"metrics": "conversion_rate"}, "goal breakdown or with a goal filter"),
    ("aggregate", {"filters": "visit:planet==Mars"}, "invalid filter property 'visit:planet'"),
    ("aggregate", {"filters": "visit:browser!=Chrome|Safari"}, "!= takes one value"),
    ("aggregate", {"metrics": "bounce_rate", "filters": "event:name==signup"}, "cannot be queried with a filter"),
    ("aggregate", {"with_imported": "true"}, "no imported data"),
    ("aggregate", {"compare": "year_over_year"}, "previous_period"),
    ("aggregate", {"sort": "visitors"}, "unknown query parameter 'sort'"),
    ("breakdown", {}, "property: is required"),
    ("breakdown", {"property": "event:hostname"}, "not supported for breakdowns"),
    ("breakdown", {"property": "visit:city"}, "not supported yet"),
    ("breakdown", {"property": "event:page", "limit": "1001"}, "from 1 to 1000"),
    ("breakdown", {"property": "event:page", "metrics": "views_per_visit"}, "in a breakdown"),
    ("timeseries", {"interval": "week"}, "invalid interval 'week'"),
    ("timeseries", {"compare": "previous_period"}, "unknown query parameter 'compare'"),
])
def test_every_refusal_is_a_400_in_plausibles_shape_naming_the_part(wired, path, parameters, words):
    with Client(app, stage_name=STAGE) as api:
        status, body = get(api, path, site_id=SITE, **parameters)
    assert status == 400 and isinstance(body["error"], str) and words in body["error"], body


def test_the_token_and_an_unknown_site(wired):
    with Client(app, stage_name=STAGE) as api:
        assert get(api, "aggregate", headers={}, site_id=SITE)[0] == 401
        status, body = get(api, "aggregate", site_id="nope")
        assert status == 400 and "unknown site 'nope'" in body["error"]
        status, body = get(api, "aggregate")
        assert status == 400 and body["field"] == "site_id"

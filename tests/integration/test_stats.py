"""Statistics through the real app and moto, for a known synthetic workload with the expected
numbers written down; and the cost rule: reads depend on the range, not on traffic."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from chalicelib.ingest.collector import IngestRequest
from chalicelib.stats.buckets import Rollup, write_rollup
from tests.integration.conftest import AUTH, BROWSER_UA

MIN = 60_000
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def send(services, events, *, country="DE", user_agent=BROWSER_UA):
    result = services.collector.collect(IngestRequest(
        body=json.dumps({"events": events}).encode(), content_type="application/json",
        user_agent=user_agent, country_header=country))
    assert result.status_code == 200, result.body
    return result


def event(visitor, at_ms, path="/", event_type="page_view", **extra):
    body = {"event_type": event_type, "user_id": visitor, "event_id": str(uuid.uuid4()), "timestamp": at_ms, **extra}
    if event_type == "page_view":
        body["page_url"] = f"https://shop.example{path}"
    return body


@pytest.fixture
def workload(wire):
    """15 visits 2.5 hours ago, all ended, then rolled up.

    u0-u9: "/" then "/pricing" two minutes later; u0-u2 also sign up a minute after that.
           u0-u4 come from Google (DE), u5-u9 type the address (US).
    b0-b4: one look at "/blog" from t.co (FR, Firefox): bounces.
    """
    services = wire()
    now = int(time.time() * 1000)
    start = now - 150 * MIN
    for i in range(10):
        extra = {"referrer": "https://www.google.com/"} if i < 5 else {}
        events = [event(f"u{i}", start, "/", **extra), event(f"u{i}", start + 2 * MIN, "/pricing")]
        if i < 3:
            events.append(event(f"u{i}", start + 3 * MIN, event_type="signup"))
        send(services, events, country="DE" if i < 5 else "US")
    for i in range(5):
        send(services, [event(f"b{i}", start + 50 * MIN, "/blog", referrer="https://t.co/x")], country="FR",
             user_agent=FIREFOX)
    assert len(services.expire_sessions(now_ms=now).ended) == 15
    services.roll_up_stats(now_ms=now)
    return services, now


EXPECTED_TOTALS = {"visitors": 15, "pageviews": 25, "events": 28, "sessions": 15, "ended_sessions": 15,
                   "bounce_rate": 33.3, "avg_session_duration_seconds": 92.0, "views_per_session": 1.67}
EXPECTED_BREAKDOWNS = {
    "page": [("/", 10), ("/pricing", 10), ("/blog", 5)],
    "entry_page": [("/", 10), ("/blog", 5)],
    "exit_page": [("/pricing", 10), ("/blog", 5)],
    "referrer": [("(none)", 5), ("google.com", 5), ("t.co", 5)],
    "channel": [("Direct", 5), ("Organic Search", 5), ("Organic Social", 5)],
    "country": [("DE", 5), ("FR", 5), ("US", 5)],
    "browser": [("Chrome", 10), ("Firefox", 5)],
    "os": [("Windows", 10), ("Linux", 5)],
    "device": [("desktop", 15)],
    "event": [("page_view", 25), ("signup", 3)],
    "utm_source": [("(none)", 15)],
}


@pytest.mark.parametrize("interval", ["minute", "hour", "day"])
def test_totals_are_exact_at_every_interval(api, workload, interval):
    services, now = workload
    params = f"from={now - 5 * 3_600_000 if interval == 'minute' else now - 86_400_000}&to={now}&interval={interval}"
    response = api.http.get(f"/stats?site=demo&{params}", headers=AUTH)
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["totals"] == EXPECTED_TOTALS
    series = body["series"]
    assert sum(point["pageviews"] for point in series) == 25
    assert sum(point["sessions"] for point in series) == 15
    assert all(point["t"].endswith("Z") for point in series)


@pytest.mark.parametrize("dimension", sorted(EXPECTED_BREAKDOWNS))
def test_breakdowns(api, workload, dimension):
    _, now = workload
    response = api.http.get(f"/stats/breakdown?by={dimension}&from={now - 86_400_000}&to={now}", headers=AUTH)
    body = json.loads(response.body)
    assert [(r["value"], r["count"]) for r in body["results"]] == EXPECTED_BREAKDOWNS[dimension]


def test_realtime_shows_the_last_minutes(api, wire):
    services = wire()
    now = int(time.time() * 1000)
    for i in range(4):
        send(services, [event(f"r{i}", now - 2 * MIN, "/live"), event(f"r{i}", now - MIN, "/now")])
    send(services, [event("old", now - 20 * MIN, "/earlier")])
    body = json.loads(api.http.get("/stats/realtime?site=demo", headers=AUTH).body)
    assert (body["current_visitors"], body["active_sessions"], body["pageviews"]) == (4, 5, 9)
    assert len(body["per_minute"]) == 30 and sum(m["pageviews"] for m in body["per_minute"]) == 9
    assert body["top"]["page"][:2] == [{"value": "/live", "count": 4}, {"value": "/now", "count": 4}]
    assert body["top"]["device"] == [{"value": "desktop", "count": 5}]


def test_realtime_reads_the_same_number_of_items_after_10k_and_100k_events(wire):
    services = wire()
    now = int(time.time() * 1000)
    reader, store = services.stats_reader, services.stats

    def ingest(events: int) -> None:
        rollup = Rollup(services.settings.stats_shards)
        # spread over the last 30 minutes and 1,000 visitors, exactly as the collector rolls them up
        rollup.add_events({"site": "demo", "visitor_id": f"v{i % 1000}", "time_ms": now - (i % 30) * MIN,
                           "event_type": "page_view", "page_path": f"/p{i % 50}", "event_id": str(i)}
                          for i in range(events))
        write_rollup(store, rollup, now, services.settings.max_event_age_ms)

    def items_read() -> int:
        before = store.items_read
        reader.realtime({"site": "demo"}, now)
        return store.items_read - before

    ingest(10_000)
    after_10k = items_read()
    ingest(90_000)
    after_100k = items_read()
    assert after_10k == after_100k == 30 * services.settings.stats_shards
    assert reader.realtime({"site": "demo"}, now)["pageviews"] == 100_000


def test_unique_visitors_of_100000_are_within_2_percent_at_hour_and_day(api, wire):
    services = wire()
    now = int(time.time() * 1000)
    hour_start = now - now % 3_600_000 - 3 * 3_600_000
    rollup = Rollup(services.settings.stats_shards)
    rollup.add_events({"site": "demo", "visitor_id": f"visitor-{i}", "time_ms": hour_start + (i % 60) * MIN,
                       "event_type": "page_view", "page_path": "/", "event_id": str(i)} for i in range(100_000))
    write_rollup(services.stats, rollup, now, services.settings.max_event_age_ms)
    services.roll_up_stats(now_ms=now)
    for interval in ("hour", "day"):
        query = f"from={hour_start}&to={hour_start + 3_600_000}&interval={interval}"
        visitors = json.loads(api.http.get(f"/stats?site=demo&{query}", headers=AUTH).body)["totals"]["visitors"]
        assert abs(visitors - 100_000) / 100_000 <= 0.02, (interval, visitors)


@pytest.mark.parametrize("path, code", [
    ("/stats?interval=week", "invalid_interval"),
    ("/stats?from=2026-01-01&to=2026-11-26&interval=hour", "range_too_long"),
    ("/stats/breakdown?by=planet", "invalid_dimension"),
    ("/stats/breakdown?by=page&limit=0", "invalid_limit"),
    ("/stats/realtime?site=nope", "unknown_site"),
])
def test_bad_stats_queries_are_400(api, path, code):
    response = api.http.get(path, headers=AUTH)
    assert response.status_code == 400 and json.loads(response.body)["error"]["code"] == code


def test_stats_need_the_token(api):
    assert api.http.get("/stats/realtime").status_code == 401
    assert api.http.get("/stats/sites", headers=AUTH).status_code == 200


def test_the_minute_job_writes_nothing_for_an_idle_site(wire, counter):
    services = wire()
    counter.reset()
    report = services.roll_up_stats(now_ms=int(time.time() * 1000))
    assert report.hours == [] and report.days == [] and report.active_visitors == {"demo": 0}
    assert set(counter.calls) == {"Query"}  # reads only: no PutItem of empty buckets

"""POST /api/event (Plausible) and POST /api/send (Umami) through the real app and moto.

The bodies are what the official clients send, copied from their source: @plausible-analytics/tracker
0.4.6 (plausible.js: `{n, v, u, d, r, p, $, i, h}` as text/plain, engagement `{n, sd, d, u, p, e, v}`),
plausible-tracker 0.3.9 (request.ts: `{n, u, d, r, w, h, p: JSON text}`), Plausible's Events API
reference (docs/events-api.md curl examples), Umami's tracker (src/tracker/index.js getPayload) and
@umami/node 0.4.0 (dist/index.js: `{website, name, data}`, identify `{website, data}`).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib.core.settings import Site
from chalicelib.lake.rows import event_row
from tests.integration.conftest import BROWSER_UA, stored_events, stored_sessions

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
UMAMI_WEBSITE = "94db1cb1-74f4-4a40-ad6c-962362670409"  # the id in Umami's own docs examples
SITES = {"shop": Site("shop", frozenset({"https://www.shop.example"})),
         UMAMI_WEBSITE: Site(UMAMI_WEBSITE, frozenset({"https://blog.example"})),
         "demo": Site("demo", frozenset({"http://127.0.0.1:8000"}))}


@pytest.fixture
def api(wire, settings):
    from chalice.test import Client

    from app import app

    wire(settings_=dataclasses.replace(settings, sites=SITES))
    with Client(app, stage_name="local") as client:
        yield client


def send(api, path, document, *, content_type="application/json", headers=None, raw=None):
    body = raw if raw is not None else json.dumps(document).encode()
    return api.http.post(path, body=body, headers={"Content-Type": content_type, "User-Agent": BROWSER_UA,
                                                   **(headers or {})})


# --- Plausible ---------------------------------------------------------------------------------

def test_the_events_api_curl_example_is_stored_as_a_page_view(api, dynamodb):
    response = send(api, "/api/event", {"name": "pageview", "url": "http://dummy.site", "domain": "shop.example"},
                    headers={"X-Forwarded-For": "127.0.0.1"})
    assert (response.status_code, response.body, response.headers["Content-Type"]) == (
        202, b"ok", "text/plain; charset=utf-8")
    [event] = stored_events(dynamodb)
    assert (event["site"], event["event_type"], event["page_url"], event["page_path"], event["browser"]) == (
        "shop", "page_view", "http://dummy.site", "/", "Chrome")
    [session] = stored_sessions(dynamodb)
    assert session["page_views"] == 1 and session["session_id"] == event["session_id"]


def test_the_trackers_page_view_custom_event_with_revenue_and_engagement(api, dynamodb):
    origin = {"Origin": "https://www.shop.example"}
    tracker = "text/plain"  # what plausible.js sends (no preflight)
    page = {"n": "pageview", "v": 36, "u": "https://www.shop.example/pricing?utm_source=news", "d": "shop.example",
            "r": "https://duckduckgo.com/"}
    purchase = {"n": "Purchase", "v": 36, "u": "https://www.shop.example/pricing", "d": "shop.example", "r": None,
                "p": {"plan": "pro"}, "$": {"amount": "29.90", "currency": "EUR"}}
    engagement = {"n": "engagement", "sd": 80, "d": "shop.example", "u": "https://www.shop.example/pricing",
                  "p": {"plan": "pro"}, "e": 12000, "v": 36}
    answers = [send(api, "/api/event", body, content_type=tracker, headers=origin) for body in (page, purchase,
                                                                                                engagement)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.headers["Access-Control-Allow-Origin"] for a in answers} == {"https://www.shop.example"}
    events = {e["event_type"]: e for e in stored_events(dynamodb)}
    assert (events["page_view"]["utm_source"], events["page_view"]["referrer_host"]) == ("news", "duckduckgo.com")
    assert events["Purchase"]["properties"] == {"plan": "pro"}
    assert events["Purchase"]["revenue"] == {"amount": "29.90", "currency": "EUR"}
    assert events["engagement"]["properties"] == {"plan": "pro", "engaged_ms": 12000, "scroll_pct": 80}
    [session] = stored_sessions(dynamodb)
    assert (session["page_views"], session["events"], session["bounce"]) == (1, 3, False)
    # the lake's row of the purchase carries its revenue, of the engagement its columns
    _, row = event_row({**events["Purchase"], "session_id": session["session_id"]})
    assert (row["revenue_amount"], row["revenue_currency"]) == ("29.9000", "EUR")
    _, row = event_row({**events["engagement"], "session_id": session["session_id"]})
    assert (row["engaged_ms"], row["scroll_pct"]) == (12000, 80)


def test_the_older_tracker_sends_props_as_json_text(api, dynamodb):
    body = {"n": "Signup", "u": "https://www.shop.example/", "d": "shop.example", "r": "", "w": 1280, "h": 0,
            "p": json.dumps({"plan": "free", "seats": 3})}
    assert send(api, "/api/event", body, content_type="text/plain").status_code == 202
    [event] = stored_events(dynamodb)
    assert (event["event_type"], event["properties"]) == ("Signup", {"plan": "free", "seats": 3})
    assert "referrer" not in event


def test_two_identical_page_views_are_two_events_and_x_forwarded_for_is_not_trusted(api, dynamodb):
    body = {"name": "pageview", "url": "https://www.shop.example/", "domain": "shop"}
    for forwarded in ("203.0.113.1", "198.51.100.7"):
        assert send(api, "/api/event", body, headers={"X-Forwarded-For": forwarded}).status_code == 202
    events = stored_events(dynamodb)
    assert len(events) == 2 and len({e["event_id"] for e in events}) == 2
    assert len({e["visitor_id"] for e in events}) == 1  # one visitor: the connection's address, not the header
    [session] = stored_sessions(dynamodb)
    assert session["page_views"] == 2


@pytest.mark.parametrize("body, status, field", [
    ({"name": "pageview", "url": "https://x.example/", "domain": "nowhere.example"}, 400, "domain"),
    ({"n": "pageview", "u": "/blog", "d": "shop.example"}, 400, "u"),
    ({"n": "pageview", "u": "https://www.shop.example/", "d": "shop.example", "x": 1}, 400, "x"),
    ({"n": "Buy", "u": "https://www.shop.example/", "d": "shop", "$": {"amount": "lots", "currency": "EUR"}},
     400, "$.amount"),
    ({"n": "Buy", "u": "https://www.shop.example/", "d": "shop", "p": {"cart": {"items": 2}}}, 400, "p.cart"),
])
def test_refused_bodies_name_the_field_and_store_nothing(api, dynamodb, body, status, field):
    response = send(api, "/api/event", body)
    assert response.status_code == status
    assert list(json.loads(response.body)["errors"]) == [field]
    assert stored_events(dynamodb) == []


def test_a_bot_is_refused_with_plausibles_dropped_header(api, dynamodb):
    response = send(api, "/api/event", {"name": "pageview", "url": "https://www.shop.example/", "domain": "shop"},
                    headers={"User-Agent": GOOGLEBOT})
    assert response.status_code == 403 and response.headers["x-plausible-dropped"] == "1"
    assert json.loads(response.body)["errors"] == {"User-Agent": [
        "the User-Agent is a bot's or a crawler's: the event was not stored"]}
    assert stored_events(dynamodb) == []


def test_an_origin_not_of_the_site_is_refused_readably(api, dynamodb):
    response = send(api, "/api/event", {"n": "pageview", "u": "https://www.shop.example/", "d": "shop"},
                    content_type="text/plain", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "Origin" in json.loads(response.body)["errors"]
    assert response.headers["Access-Control-Allow-Origin"] == "https://evil.example"
    assert stored_events(dynamodb) == []


@pytest.mark.parametrize("path", ["/api/event", "/api/send"])
def test_preflight_lets_the_trackers_post_cross_origin(api, path):
    response = api.http.request("OPTIONS", path, headers={
        "Origin": "https://blog.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert (response.headers["Access-Control-Allow-Origin"], response.headers["Access-Control-Allow-Headers"]) == (
        "https://blog.example", "Content-Type")


# --- Umami -------------------------------------------------------------------------------------

def tracker_payload(**extra):
    """src/tracker/index.js getPayload() on https://blog.example/posts/1 (tag and id undefined: dropped by JSON)."""
    return {"website": UMAMI_WEBSITE, "screen": "1920x1080", "language": "en-US", "title": "Post 1",
            "hostname": "blog.example", "url": "https://blog.example/posts/1", "referrer": "", **extra}


def test_the_umami_tracker_page_view_and_event_are_stored(api, dynamodb):
    origin = {"Origin": "https://blog.example"}
    view = send(api, "/api/send", {"type": "event", "payload": tracker_payload()}, headers=origin)
    click = send(api, "/api/send", {"type": "event", "payload": tracker_payload(name="signup-button",
                                                                                 data={"color": "red"})},
                 headers=origin)
    assert (view.status_code, click.status_code) == (200, 200)
    assert view.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    answer = json.loads(view.body)
    assert set(answer) == {"visitId", "eventId"} and "disabled" not in answer
    events = {e["event_type"]: e for e in stored_events(dynamodb)}
    assert (events["page_view"]["site"], events["page_view"]["page_path"], events["page_view"]["title"]) == (
        UMAMI_WEBSITE, "/posts/1", "Post 1")
    assert events["signup-button"]["properties"] == {"color": "red"}
    assert answer == {"visitId": events["page_view"]["session_id"], "eventId": events["page_view"]["event_id"]}
    [session] = stored_sessions(dynamodb)
    assert (session["page_views"], session["events"]) == (1, 2)


def test_umami_node_track_and_identify(api, dynamodb):
    """@umami/node sends no url: a custom event without a page; identify names the user."""
    node = {"User-Agent": BROWSER_UA}
    track = send(api, "/api/send", {"type": "event", "payload": {"website": UMAMI_WEBSITE, "name": "checkout",
                                                                   "data": {"total": 42}}}, headers=node)
    identify = send(api, "/api/send", {"type": "identify", "payload": {"website": UMAMI_WEBSITE, "id": "user-7",
                                                                        "data": {"plan": "pro"}}}, headers=node)
    assert (track.status_code, identify.status_code) == (200, 200)
    events = {e["event_type"]: e for e in stored_events(dynamodb)}
    assert events["checkout"]["properties"] == {"total": 42} and "page_url" not in events["checkout"]
    assert (events["identify"]["user_id"], events["identify"]["visitor_id"], events["identify"]["properties"]) == (
        "user-7", "user-7", {"plan": "pro"})


def test_a_path_url_is_completed_with_the_hostname(api, dynamodb):
    payload = {"website": UMAMI_WEBSITE, "hostname": "blog.example", "url": "/about?utm_campaign=x",
               "referrer": "https://news.ycombinator.com/"}
    assert send(api, "/api/send", {"type": "event", "payload": payload}).status_code == 200
    [event] = stored_events(dynamodb)
    assert (event["page_url"], event["page_path"], event["utm_campaign"], event["referrer_host"]) == (
        "https://blog.example/about?utm_campaign=x", "/about", "x", "news.ycombinator.com")


@pytest.mark.parametrize("document, field", [
    ({"type": "event", "payload": {**tracker_payload(), "website": "00000000-0000-0000-0000-000000000000"}},
     "payload.website"),
    ({"type": "performance", "payload": tracker_payload(lcp=1200)}, "type"),
    ({"type": "event", "payload": tracker_payload(tag="b")}, "payload.tag"),
    ({"type": "event", "payload": tracker_payload(name="Sign up")}, "payload.name"),
    # nested data is flattened as Umami does ("cart.note"); the property rules then name the flat key
    ({"type": "event", "payload": tracker_payload(data={"cart": {"note": "x" * 513}})}, "payload.data.cart.note"),
    ({"type": "event", "payload": {**tracker_payload(), "url": None}}, "payload.url"),
])
def test_umami_refusals_name_the_field(api, dynamodb, document, field):
    response = send(api, "/api/send", document)
    assert response.status_code == 400
    error = json.loads(response.body)["error"]
    assert (error["status"], error["field"]) == (400, field)
    assert stored_events(dynamodb) == []


def test_an_umami_bot_is_not_answered_2xx(api, dynamodb):
    response = send(api, "/api/send", {"type": "event", "payload": tracker_payload()},
                    headers={"User-Agent": GOOGLEBOT})
    assert response.status_code == 403 and json.loads(response.body)["error"]["code"] == "bot"
    assert stored_events(dynamodb) == []


def test_malformed_and_oversized_bodies_keep_the_collectors_status_and_reason(api, dynamodb, capsys):
    capsys.readouterr()
    assert send(api, "/api/send", None, raw=b"{nope").status_code == 400
    assert send(api, "/api/event", None, raw=b"{}", content_type="application/xml").status_code == 415
    assert send(api, "/api/event", None, raw=b" " * (65 * 1024)).status_code == 413
    assert stored_events(dynamodb) == []
    # counted under the reason POST /events would give them (the operations guide's rejected-events table)
    rejected = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "EventsRejected" in line]
    assert [r["Reason"] for r in rejected] == ["Malformed", "UnsupportedMediaType", "TooLarge"]

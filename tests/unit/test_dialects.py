"""Plausible and Umami bodies to LiveInsight events, every refusal, and the answers (ingest/dialects.py)."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.errors import ApiError
from chalicelib.core.settings import Settings, Site
from chalicelib.ingest.collector import IngestResult
from chalicelib.ingest.dialects import PLAUSIBLE, UMAMI, Translation, resolve_site
from chalicelib.ingest.events import validate_event

WEBSITE = "94db1cb1-74f4-4a40-ad6c-962362670409"
SETTINGS = Settings(stage="local", default_site_id="shop", event_retention_days=30, sites={
    "shop": Site("shop", frozenset({"https://www.shop.example", "https://shop.example:8443"})),
    WEBSITE: Site(WEBSITE, frozenset({"https://blog.example"})),
    "twin-a": Site("twin-a", frozenset({"https://twin.example"})),
    "twin-b": Site("twin-b", frozenset({"https://twin.example"})),
    "open": Site("open", frozenset({"*"})),
})
URL = "https://www.shop.example/pricing"


def plausible(document) -> dict:
    [event] = json.loads(PLAUSIBLE.translate(json.dumps(document).encode(), "text/plain", SETTINGS).body)["events"]
    return event


def umami(payload, kind="event") -> dict:
    body = json.dumps({"type": kind, "payload": payload}).encode()
    [event] = json.loads(UMAMI.translate(body, "application/json", SETTINGS).body)["events"]
    return event


def refused(translate, document, content_type="application/json") -> ApiError:
    with pytest.raises(ApiError) as caught:
        translate(json.dumps(document).encode(), content_type, SETTINGS)
    return caught.value


@pytest.mark.parametrize("name, site", [("shop", "shop"), ("shop.example", "shop"), ("www.shop.example", "shop"),
                                        ("SHOP.example", "shop"), (WEBSITE, WEBSITE), ("blog.example", WEBSITE)])
def test_a_site_is_named_by_its_id_or_an_origins_host(name, site):
    assert resolve_site(name, "d", SETTINGS) == site


@pytest.mark.parametrize("name, code", [("nowhere.example", "unknown_site"), ("twin.example", "ambiguous_site"),
                                        ("", "missing"), (None, "missing"), (7, "missing")])
def test_an_unknown_or_ambiguous_site_is_refused(name, code):
    with pytest.raises(ApiError) as caught:
        resolve_site(name, "d", SETTINGS)
    assert (caught.value.status_code, caught.value.code, caught.value.field) == (400, code, "d")


# --- Plausible ---------------------------------------------------------------------------------

def test_long_and_short_names_translate_alike():
    long = plausible({"name": "pageview", "url": URL, "domain": "shop.example", "referrer": "https://t.co/x",
                      "props": {"author": "Ann"}, "interactive": True})
    short = plausible({"n": "pageview", "u": URL, "d": "shop.example", "r": "https://t.co/x",
                       "p": {"author": "Ann"}, "i": True, "v": 36, "h": 0, "w": 1280})
    assert long == short == {"site": "shop", "event_type": "page_view", "page_url": URL,
                             "referrer": "https://t.co/x", "properties": {"author": "Ann"}}
    assert "event_id" not in long  # no retry dedup: the collector makes one per request


def test_custom_events_revenue_engagement_and_built_ins():
    assert plausible({"n": "Purchase", "u": URL, "d": "shop", "$": {"amount": 1322.22, "currency": "USD"}}) == {
        "site": "shop", "event_type": "Purchase", "page_url": URL,
        "revenue": {"amount": 1322.22, "currency": "USD"}}
    assert plausible({"n": "engagement", "u": URL, "d": "shop", "sd": 55, "e": 4000})["properties"] == {
        "engaged_ms": 4000, "scroll_pct": 55}
    assert plausible({"n": "Outbound Link: Click", "u": URL, "d": "shop", "p": {"url": "https://x.example/"}})[
        "event_type"] == "outbound_click"
    assert plausible({"n": "Form: Submission", "u": URL, "d": "shop"})["event_type"] == "form_submission"
    assert plausible({"n": "pageview", "u": URL, "d": "shop", "m": '{"a": "1"}'})["properties"] == {"a": "1"}
    assert "referrer" not in plausible({"n": "pageview", "u": URL, "d": "shop", "r": None})


@pytest.mark.parametrize("document, field, code", [
    ({"u": URL, "d": "shop"}, "name", "missing"),
    ({"n": "", "u": URL, "d": "shop"}, "n", "missing"),
    ({"n": 5, "u": URL, "d": "shop"}, "n", "wrong_type"),
    ({"n": "x" * 121, "u": URL, "d": "shop"}, "n", "too_long"),
    ({"n": "Add to cart", "u": URL, "d": "shop"}, "n", "invalid_format"),
    ({"n": "page_view", "u": URL, "d": "shop"}, "n", "reserved_name"),
    ({"n": "pageview", "d": "shop"}, "url", "missing"),
    ({"n": "pageview", "u": "/blog", "d": "shop"}, "u", "invalid_url"),
    ({"n": "pageview", "u": "app://localhost/login", "d": "shop"}, "u", "invalid_url"),
    ({"n": "pageview", "u": URL}, "domain", "missing"),
    ({"n": "pageview", "u": URL, "d": "nowhere.example"}, "d", "unknown_site"),
    ({"n": "pageview", "u": URL, "d": "shop", "r": "not a url"}, "r", "invalid_url"),
    ({"n": "pageview", "u": URL, "d": "shop", "r": 3}, "r", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "x": 1}, "x", "unknown_field"),
    ({"n": "pageview", "url": URL, "u": URL, "d": "shop"}, "u", "repeated"),
    ({"n": "pageview", "u": URL, "d": "shop", "p": [1]}, "p", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "p": "{oops"}, "p", "malformed_json"),
    ({"n": "pageview", "u": URL, "d": "shop", "props": {"a": {"b": 1}}}, "props.a", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "p": {"bad key": "1"}}, "p.bad key", "invalid_format"),
    ({"n": "pageview", "u": URL, "d": "shop", "p": {f"k{i}": "v" for i in range(31)}}, "p", "too_many"),
    ({"n": "Buy", "u": URL, "d": "shop", "$": {"amount": "1.5"}}, "$", "wrong_type"),
    ({"n": "Buy", "u": URL, "d": "shop", "$": {"amount": "1.5", "currency": "euro"}}, "$.currency", "invalid_format"),
    ({"n": "Buy", "u": URL, "d": "shop", "revenue": {"amount": "NaN", "currency": "EUR"}}, "revenue.amount",
     "out_of_range"),
    ({"n": "Buy", "u": URL, "d": "shop", "$": {"amount": 1e15, "currency": "EUR"}}, "$.amount", "out_of_range"),
    ({"n": "Buy", "u": URL, "d": "shop", "$": {"amount": True, "currency": "EUR"}}, "$.amount", "wrong_type"),
    ({"n": "Buy", "u": URL, "d": "shop", "i": False}, "i", "unsupported"),
    ({"n": "Buy", "u": URL, "d": "shop", "interactive": "yes"}, "interactive", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "h": 1}, "h", "unsupported"),
    ({"n": "pageview", "u": URL, "d": "shop", "h": 2}, "h", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "v": "36"}, "v", "wrong_type"),
    ({"n": "pageview", "u": URL, "d": "shop", "sd": 50}, "sd", "unexpected_field"),
    ({"n": "engagement", "u": URL, "d": "shop", "e": -1}, "e", "wrong_type"),
])
def test_every_plausible_refusal_names_the_field_as_sent(document, field, code):
    error = refused(PLAUSIBLE.translate, document)
    assert (error.status_code, error.field, error.code) == (400, field, code)
    assert error.message.startswith(f"{field}: ")


def test_request_level_refusals_are_the_collectors():
    assert refused(PLAUSIBLE.translate, {"n": "pageview"}, "application/xml").status_code == 415
    assert refused(PLAUSIBLE.translate, {"events": [{"n": "pageview"}]}).field == "events"
    assert refused(PLAUSIBLE.translate, [1]).code == "invalid_shape"
    with pytest.raises(ApiError) as caught:
        PLAUSIBLE.translate(b"x" * (64 * 1024 + 1), "text/plain", SETTINGS)
    assert caught.value.status_code == 413


# --- Umami -------------------------------------------------------------------------------------

PAYLOAD = {"website": WEBSITE, "screen": "1920x1080", "language": "en-US", "title": "Post",
           "hostname": "blog.example", "url": "https://blog.example/p/1", "referrer": ""}


def test_umami_nested_data_is_flattened_as_umami_stores_it():
    # Umami's flattenJSON (src/lib/data.ts): nested keys joined with dots, arrays as their JSON text
    data = {"cart": {"items": 2, "coupon": {"code": "BF"}}, "skus": ["A", "B"], "ok": True}
    assert umami({**PAYLOAD, "name": "checkout", "data": data})["properties"] == {
        "cart.items": 2, "cart.coupon.code": "BF", "skus": '["A","B"]', "ok": True}


def test_umami_flattened_data_keeps_the_property_rules_and_names_the_client_field():
    with pytest.raises(ApiError) as caught:
        umami({**PAYLOAD, "name": "x", "data": {"cart": {"k" * 80: 1}}})
    assert caught.value.status_code == 400
    assert caught.value.field.startswith("payload.data.cart.kkk")


def test_umami_page_views_events_and_identify():
    assert umami(PAYLOAD) == {"site": WEBSITE, "event_type": "page_view", "page_url": "https://blog.example/p/1",
                              "title": "Post"}
    assert umami({**PAYLOAD, "name": "signup", "data": {"plan": "pro", "n": 2}, "id": "u-1", "timestamp": 1700000000}
                 ) == {"site": WEBSITE, "event_type": "signup", "page_url": "https://blog.example/p/1",
                       "title": "Post", "user_id": "u-1", "properties": {"plan": "pro", "n": 2},
                       "timestamp": 1_700_000_000_000}
    assert umami({"website": WEBSITE, "data": {"plan": "pro"}}, "identify") == {
        "site": WEBSITE, "event_type": "identify", "properties": {"plan": "pro"}}
    assert umami({"website": "blog.example", "hostname": "blog.example", "url": "/a", "referrer": "/b",
                  "timestamp": "1700000000"})["referrer"] == "https://blog.example/b"


@pytest.mark.parametrize("document, field, code", [
    ({"type": "event"}, "payload", "wrong_type"),
    ({"type": "event", "payload": PAYLOAD, "extra": 1}, "extra", "unknown_field"),
    ({"type": "pageview", "payload": PAYLOAD}, "type", "invalid_format"),
    ({"type": "performance", "payload": PAYLOAD}, "type", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "website": None}}, "payload.website", "missing"),
    ({"type": "event", "payload": {**PAYLOAD, "website": "11111111-2222-3333-4444-555555555555"}}, "payload.website",
     "unknown_site"),
    ({"type": "event", "payload": {**PAYLOAD, "name": "Sign up"}}, "payload.name", "invalid_format"),
    ({"type": "event", "payload": {**PAYLOAD, "name": "x" * 51}}, "payload.name", "too_long"),
    ({"type": "identify", "payload": {**PAYLOAD, "name": "x"}}, "payload.name", "unexpected_field"),
    ({"type": "event", "payload": {**PAYLOAD, "url": None}}, "payload.url", "missing"),
    ({"type": "event", "payload": {**PAYLOAD, "url": "p/1"}}, "payload.url", "invalid_url"),
    ({"type": "event", "payload": {**PAYLOAD, "url": "/p/1", "hostname": None}}, "payload.url", "invalid_url"),
    ({"type": "event", "payload": {**PAYLOAD, "hostname": "other.example"}}, "payload.hostname", "mismatch"),
    ({"type": "event", "payload": {**PAYLOAD, "hostname": "h" * 101}}, "payload.hostname", "too_long"),
    ({"type": "event", "payload": {**PAYLOAD, "data": "x"}}, "payload.data", "wrong_type"),
    ({"type": "event", "payload": {**PAYLOAD, "title": 5}}, "payload.title", "wrong_type"),
    ({"type": "event", "payload": {**PAYLOAD, "id": "u" * 129}}, "payload.id", "too_long"),
    ({"type": "event", "payload": {**PAYLOAD, "timestamp": 1.5}}, "payload.timestamp", "wrong_type"),
    ({"type": "event", "payload": {**PAYLOAD, "screen": 1920}}, "payload.screen", "wrong_type"),
    ({"type": "event", "payload": {**PAYLOAD, "ip": "1.2.3.4"}}, "payload.ip", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "userAgent": "x"}}, "payload.userAgent", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "tag": "b"}}, "payload.tag", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "link": WEBSITE}}, "payload.link", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "lcp": 1}}, "payload.lcp", "unsupported"),
    ({"type": "event", "payload": {**PAYLOAD, "colour": 1}}, "payload.colour", "unknown_field"),
])
def test_every_umami_refusal_names_the_field(document, field, code):
    error = refused(UMAMI.translate, document)
    assert (error.status_code, error.field, error.code) == (400, field, code)


def test_translated_events_pass_liveinsights_own_validation():
    event = umami({**PAYLOAD, "name": "buy", "data": {"sku": "A"}})
    assert validate_event(event, SETTINGS).properties == {"sku": "A"}
    buy = plausible({"n": "Buy", "u": URL, "d": "shop", "$": {"amount": "19.90", "currency": "EUR"}})
    revenue = validate_event(buy, SETTINGS).revenue
    assert revenue == {"amount": "19.90", "currency": "EUR"}


# --- answers -----------------------------------------------------------------------------------

FIELDS = Translation(b"", {"page_url": "u", "properties": "p"})


def result(status_code, *statuses, error=None, headers=None) -> IngestResult:
    body = {"error": error} if error else {"events": list(statuses)}
    return IngestResult(status_code, body, headers or {})


def test_answers_to_a_stored_event():
    stored = result(200, {"status": "accepted", "event_id": "e-1", "session_id": "s-1"})
    assert (PLAUSIBLE.answer(stored, FIELDS).status_code, PLAUSIBLE.answer(stored, FIELDS).body) == (202, "ok")
    answer = UMAMI.answer(stored, FIELDS)
    assert (answer.status_code, json.loads(answer.body)) == (200, {"visitId": "s-1", "eventId": "e-1"})


@pytest.mark.parametrize("outcome, status_code, field", [
    (result(200, {"status": "dropped", "reason": "bot"}), 403, "User-Agent"),
    (result(400, {"status": "invalid", "field": "properties.a", "code": "unstorable", "reason": "too big"}), 400,
     "p.a"),
    (result(503, {"status": "retry", "event_id": "e"}, headers={"Retry-After": "2"}), 503, None),
    (result(429, error={"code": "rate_limited", "message": "slow down", "field": "site"},
            headers={"Retry-After": "7"}), 429, "site"),
    (result(403, error={"code": "forbidden_origin", "message": "no", "field": "Origin"}), 403, "Origin"),
    (result(500, error={"code": "internal_error", "message": "bug"}), 500, None),
])
def test_an_event_not_stored_is_never_answered_2xx(outcome, status_code, field):
    for dialect in (PLAUSIBLE, UMAMI):
        answer = dialect.answer(outcome, FIELDS)
        assert answer.status_code == status_code
        body = json.loads(answer.body)
        named = list(body["errors"])[0] if dialect is PLAUSIBLE else body["error"].get("field")
        assert named == (field or ("request" if dialect is PLAUSIBLE else None))
        if "Retry-After" in outcome.headers:
            assert answer.headers["Retry-After"] == outcome.headers["Retry-After"]
    assert PLAUSIBLE.answer(result(200, {"status": "dropped"}), FIELDS).headers["x-plausible-dropped"] == "1"

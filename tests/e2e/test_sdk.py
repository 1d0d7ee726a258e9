"""The website SDK in Debian's headless Chromium against the local stack's demo site: what the
server stores after real page views, SPA navigation, engagement, a cut network and a 503; and
revenue, from `track()` to the stored event and the lake's `total_revenue`."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.store import from_item
from tests.e2e.conftest import VISITOR_UA, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack():
    running = start_stack({})
    yield running
    running.stop()


@pytest.fixture
def page(stack, browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def stored_events(stack) -> list[dict]:
    items = stack.dynamodb.scan(TableName="LiveInsight-local-Events")["Items"]
    return [from_item(i) for i in items if "event_id" in i]


def wait_for(predicate, timeout_seconds=20.0, what="the expected events"):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def of_visitor(stack, visitor: str) -> list[dict]:
    """Events of one test's visitor (each test has its own browser context, so its own queue)."""
    return [e for e in stored_events(stack) if e.get("user_id") == visitor]


def open_demo(stack, page, visitor: str) -> None:
    page.goto(f"{stack.base}/demo")
    page.wait_for_function("() => window.liveinsight && window.liveinsight.identify")
    page.evaluate(f"window.liveinsight.identify({json.dumps(visitor)})")


def test_page_views_spa_navigation_engagement_and_one_session(stack, page):
    page.goto(f"{stack.base}/demo")
    page.wait_for_function("() => window.liveinsight && window.liveinsight.track")
    page.click("a[data-route=pricing]")
    page.wait_for_selector("#heading:has-text('Pricing')")
    page.click("a[data-route=pricing]")  # the same view again: not a second page view
    page.click("#signup")
    time.sleep(1.3)  # time on the page, for the engagement event
    # Leaving through the outbound link, for a site without the SDK (answered locally: no network
    # here): only requests sent as the page goes can deliver the click and the engagement.
    page.context.route("https://example.org/**", lambda route: route.fulfill(status=200, body="partner site"))
    page.click("#outbound")
    page.wait_for_url("https://example.org/**")

    def visit_events():
        # The SDK sends navigator.userAgentData, which the server prefers: Debian's Chromium names itself
        # "Chromium" there, whatever user agent the test makes it play.
        events = [e for e in stored_events(stack) if e.get("browser") == "Chromium"]
        kinds = {e["event_type"] for e in events}
        return events if {"page_view", "engagement", "signup", "outbound_click"} <= kinds else None

    events = wait_for(visit_events)
    views = sorted(e["page_path"] for e in events if e["event_type"] == "page_view")
    assert views == ["/demo", "/demo/pricing"]
    assert len({e["session_id"] for e in events}) == 1
    engagement = [e for e in events if e["event_type"] == "engagement"]
    assert engagement and max(e["properties"]["engaged_ms"] for e in engagement) >= 1000
    assert next(e for e in events if e["event_type"] == "signup")["properties"] == {"plan": "pro"}
    assert next(e for e in events if e["event_type"] == "outbound_click")["properties"] == {
        "url": "https://example.org/partner"}
    assert len({e["event_id"] for e in events}) == len(events)


def test_events_sent_while_offline_arrive_exactly_once(stack, page):
    visitor = "offline-visitor"
    open_demo(stack, page, visitor)
    page.context.route("**/events", lambda route: route.abort("internetdisconnected"))
    page.evaluate("window.liveinsight.track('offline_click', {})")
    page.click("a[data-route=pricing]")  # navigate while the network is cut
    page.evaluate("window.liveinsight.flush()")
    wait_for(lambda: page.evaluate("JSON.parse(localStorage.getItem('liveinsight:queue') || '[]').length") >= 2,
             what="events queued in localStorage")
    assert not [e for e in of_visitor(stack, visitor) if e["event_type"] == "offline_click"]

    page.context.unroute("**/events")
    page.context.set_offline(True)
    page.context.set_offline(False)  # the browser is back online: the queue is sent

    def arrived():
        events = of_visitor(stack, visitor)
        return events if {"offline_click", "page_view"} <= {e["event_type"] for e in events} and \
            any(e.get("page_path") == "/demo/pricing" for e in events) else None

    wait_for(arrived, what="the queued events")
    page.goto(f"{stack.base}/demo")  # another page load resends anything still queued
    time.sleep(2.5)
    events = of_visitor(stack, visitor)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    assert [e["event_type"] for e in events].count("offline_click") == 1
    # one page view of /demo/pricing (its engagement may follow when the page is left: another event type)
    assert [e.get("page_path") for e in events if e["event_type"] == "page_view"].count("/demo/pricing") == 1
    assert page.evaluate("localStorage.getItem('liveinsight:queue')") is None


def test_a_503_is_retried_and_each_event_is_stored_once(stack, page):
    visitor = "retry-visitor"
    open_demo(stack, page, visitor)
    answered = []

    def first_answer_503(route):
        response = route.fetch()  # the server really stores the events...
        if answered:
            return route.fulfill(response=response)
        body = json.loads(response.text())
        answered.append(body)
        # ...but the client is told to retry all of them, as after a throttled DynamoDB write.
        retry = {**body, "events": [{"status": "retry", "event_id": s.get("event_id")} for s in body["events"]]}
        route.fulfill(status=503, headers={"Content-Type": "application/json", "Retry-After": "1"},
                      body=json.dumps(retry))

    page.context.route("**/events", first_answer_503)
    page.evaluate("window.liveinsight.track('purchase', {amount: 42})")
    page.evaluate("window.liveinsight.flush()")

    def stored_once():
        events = [e for e in of_visitor(stack, visitor) if e["event_type"] == "purchase"]
        queue = page.evaluate("localStorage.getItem('liveinsight:queue')")
        return events if events and queue is None else None

    events = wait_for(stored_once, what="the retried purchase")
    assert len(events) == 1 and events[0]["properties"]["amount"] == 42
    assert answered and answered[0]["accepted"] >= 1  # the first attempt had stored it


class ShopHandler(BaseHTTPRequestHandler):
    """A shop's checkout page on its own loopback origin, installing the snippet from the stack as a
    customer's site does (a page Playwright invents is not on loopback: Chromium's Local Network
    Access would refuse it the stack's script)."""

    snippet_url = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = (f'<!doctype html><title>Checkout</title><p>Thanks!</p>'
                f'<script defer src="{self.snippet_url}" data-site="shop"></script>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


@pytest.fixture(scope="module")
def shop():
    """(stack, shop origin): the site 'shop' allows the shop's origin and has a revenue goal in EUR."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShopHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    sites = {"shop": {"origins": [origin], "goals": [{"name": "Purchase", "event": "purchase", "currency": "EUR"}]}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": "shop"})
    ShopHandler.snippet_url = f"{running.base}/liveinsight.js"
    yield running, origin
    running.stop()
    server.shutdown()
    server.server_close()


def post_json(url: str, body: dict, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": VISITOR_UA, **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_bad_revenue_is_refused_by_the_server_with_its_event(shop):
    """Why the SDK leaves a bad revenue off: the server refuses the whole event, and a 4xx is final."""
    stack, origin = shop
    event = {"event_type": "purchase", "page_url": f"{origin}/checkout",
             "revenue": {"amount": "12,50", "currency": "EUR"}}
    status, answer = post_json(f"{stack.base}/events", event, {"Origin": origin})
    assert status == 400
    assert answer["events"][0]["status"] == "invalid" and answer["events"][0]["field"] == "revenue.amount"


def test_purchases_tracked_with_revenue_are_stored_and_summed_per_goal_currency(shop, browser):
    stack, origin = shop
    context = browser.new_context()
    page = context.new_page()
    sent = [({"plan": "pro"}, {"amount": 19.9, "currency": "EUR"}),
            ({"plan": "team"}, {"amount": "30.10", "currency": "EUR"}),
            ({"plan": "bad"}, {"amount": "12,50", "currency": "EUR"}),  # left off by the SDK: the event still counts
            ({"plan": "us"}, {"amount": 8, "currency": "USD"})]  # another currency: a conversion, not EUR revenue
    try:
        page.goto(f"{origin}/checkout")
        page.wait_for_function("() => window.liveinsight && window.liveinsight.identify")
        page.evaluate("""sent => {
            liveinsight.identify("revenue-visitor");
            sent.forEach(([props, revenue]) => liveinsight.track("purchase", props, {revenue}));
            liveinsight.flush();
        }""", sent)

        def purchases():
            events = [e for e in of_visitor(stack, "revenue-visitor") if e["event_type"] == "purchase"]
            return events if len(events) == len(sent) else None

        stored = {e["properties"]["plan"]: e.get("revenue") for e in wait_for(purchases, what="the purchases")}
    finally:
        context.close()
    assert stored == {"pro": {"amount": "19.9", "currency": "EUR"}, "team": {"amount": "30.10", "currency": "EUR"},
                      "bad": None, "us": {"amount": "8", "currency": "USD"}}

    # The lake's answer through Plausible's Stats API v2, against a plain sum of what the page sent.
    expected_eur = sum(Decimal(str(r["amount"])) for p, r in sent if r["currency"] == "EUR" and p["plan"] != "bad")
    today = datetime.now(timezone.utc).date()  # and yesterday: the purchases may be from just before midnight
    query = {"site_id": "shop", "metrics": ["events", "total_revenue"],
             "date_range": [(today - timedelta(days=1)).isoformat(), today.isoformat()],
             "filters": [["is", "event:goal", ["Purchase"]]]}

    def answered():
        status, answer = post_json(f"{stack.base}/api/v2/query", query,
                                   {"Authorization": "Bearer local-dev-token"})
        assert status == 200, answer
        events, revenue = answer["results"][0]["metrics"] if answer["results"] else (0, None)
        return (events, revenue) if events == len(sent) and revenue and revenue["value"] else None

    events, revenue = wait_for(answered, timeout_seconds=60, what="the purchases in the lake")
    print(f"\n/api/v2/query for goal Purchase: events={events}, total_revenue={revenue}")
    assert revenue["currency"] == "EUR"
    assert Decimal(str(revenue["value"])) == expected_eur == Decimal("50.00")

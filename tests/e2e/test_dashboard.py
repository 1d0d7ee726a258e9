"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against the local stack: it signs in, shows the numbers the API gives, and moves with new events."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

from tests.conftest import PROJECT_DIR, stage_environment
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e
TOKEN = stage_environment("local")["LIVEINSIGHT_API_TOKEN"]
ARTIFACTS = PROJECT_DIR / "test-artifacts"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Safari/605.1.15")


@pytest.fixture(scope="module")
def stack():
    running = start_stack({"EXPIRY_INTERVAL_SECONDS": "2"})
    yield running
    running.stop()


def post_visit(base: str, visitor: str, pages: list[str], country: str = "DE", referrer: str | None = None) -> None:
    events = [{"event_type": "page_view", "event_id": str(uuid.uuid4()), "user_id": visitor,
               "page_url": f"https://shop.example{page}", **({"referrer": referrer} if referrer and i == 0 else {})}
              for i, page in enumerate(pages)]
    request = urllib.request.Request(f"{base}/events", data=json.dumps({"events": events}).encode(), method="POST",
                                     headers={"Content-Type": "text/plain", "User-Agent": SAFARI,
                                              "CloudFront-Viewer-Country": country})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["accepted"] == len(events)


def api(base: str, path: str) -> dict:
    request = urllib.request.Request(f"{base}/{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_sign_in_numbers_match_the_api_and_the_chart_moves(stack, browser):
    for i in range(6):
        post_visit(stack.base, f"reader-{i}", ["/", "/pricing"] if i % 2 else ["/docs"],
                   country="DE" if i < 4 else "JP", referrer="https://www.google.com/" if i < 3 else None)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base}/dashboard")
    assert page.is_visible("#signin") and not page.is_visible("#dashboard") and not page.is_visible("#controls")

    page.fill("#token", "wrong-token")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('not accepted')")
    assert not page.is_visible("#dashboard")

    page.fill("#token", TOKEN)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#status:has-text('Updated')")
    assert not page.is_visible("#signin") and page.is_visible("#dashboard") and page.is_visible("#controls")
    assert page.evaluate("sessionStorage.getItem('liveinsight.token')") == TOKEN

    realtime = api(stack.base, "stats/realtime?site=demo")
    assert (realtime["current_visitors"], realtime["pageviews"]) == (6, 9)
    assert page.inner_text("#tile-current") == "6"
    assert page.inner_text("#tile-pageviews") == "9"
    assert page.inner_text("#tile-sessions") == "6"
    assert page.get_attribute("#chart", "data-total") == "9"
    top_page = page.locator("#table-page tr").first.inner_text().split("\t")
    assert [part.strip() for part in top_page] == ["/", "3"] or [part.strip() for part in top_page] == ["/docs", "3"]
    countries = page.inner_text("#table-country")
    assert "DE" in countries and "JP" in countries

    for i in range(3):
        post_visit(stack.base, f"late-{i}", ["/blog", "/signup"])
    # No manual refresh: the page updates itself at most every 10 seconds.
    deadline = time.monotonic() + 25
    while page.get_attribute("#chart", "data-total") != "15" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert page.get_attribute("#chart", "data-total") == "15"
    assert page.inner_text("#tile-current") == "9"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.select_option("#range", "7d")
    page.wait_for_selector("#range-card:not([hidden])")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    time.sleep(0.3)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    page.close()


def test_the_page_loads_nothing_from_outside(stack, browser):
    page = browser.new_page()
    requested, failed = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("response", lambda response: failed.append((response.url, response.status)) if response.status >= 400
            else None)
    page.goto(f"{stack.base}/dashboard")
    page.fill("#token", TOKEN)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#status:has-text('Updated')")
    assert requested and all(url.startswith(stack.base) for url in requested), requested
    # its icon is inline: no request for /favicon.ico, which API Gateway answers 403 (outside the stage's path)
    assert page.get_attribute("link[rel=icon]", "href").startswith("data:image/svg+xml,")
    assert not [url for url in requested if "favicon" in url] and failed == [], failed
    page.close()

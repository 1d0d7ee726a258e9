"""API keys and shared links (docs/access.md) in Debian's Chromium against the local stack with two sites: keys and
links made and revoked with the operator's CLI (`make key-create`, `make share-create`, ...) on the stack's own
DynamoDB, then the dashboard opened with them shows its one site's numbers (equal to the API's), never the other
site's, and a revoked credential's next request puts the page back to sign-in (or the link's message)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import PROJECT_DIR
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e
TOKEN = "local-dev-token"  # the local stage's operator token
SITES = {"a": {"origins": ["http://127.0.0.1:9"]}, "b": {"origins": ["http://127.0.0.1:9"]}}
METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Safari/605.1.15")
# Each site's visits: distinct pages, countries and counts, so a number or a row of the other site would show.
VISITS = {"a": [("DE", ["/a-home", "/a-pricing"]), ("DE", ["/a-home"]), ("FR", ["/a-docs", "/a-home"])],
          "b": [("JP", ["/only-on-b", "/b-shop", "/b-cart"]), ("JP", ["/only-on-b"]),
                ("BR", ["/b-shop", "/only-on-b", "/b-cart", "/b-paid"]), ("JP", ["/only-on-b", "/b-shop"]),
                ("JP", ["/b-shop"])]}
PAGEVIEWS = {"a": 5, "b": 11}
REFRESH_WAIT_SECONDS = 25  # the page's 15 s refresh of the live tile, and some
ARRIVAL_TIMEOUT_SECONDS = 90


@pytest.fixture(scope="module")
def stack():
    # the default site is b: a key of a must not be sent there (C2: default_site only if readable)
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(SITES), "LIVEINSIGHT_DEFAULT_SITE": "b",
                           "LAKE_POLL_INTERVAL_SECONDS": "1"})
    yield running
    running.stop()


def request(base: str, path: str, credential: str, body: dict | None = None) -> tuple[int, dict]:
    sent = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode() if body is not None else None,
                                  method="POST" if body is not None else "GET",
                                  headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def aggregate(base: str, site: str) -> list[float]:
    status, answer = request(base, "api/v2/query", TOKEN, {"site_id": site, "metrics": METRICS, "date_range": "day"})
    assert status == 200, answer
    return [float(v) for v in answer["results"][0]["metrics"]]


@pytest.fixture(scope="module")
def visits(stack):
    for site, site_visits in VISITS.items():
        for i, (country, pages) in enumerate(site_visits):
            events = [{"event_type": "page_view", "event_id": str(uuid.uuid4()), "user_id": f"{site}-reader-{i}",
                       "page_url": f"https://shop.example{page}", "site": site} for page in pages]
            sent = urllib.request.Request(f"{stack.base}/events", data=json.dumps({"events": events}).encode(),
                                          method="POST", headers={"Content-Type": "text/plain", "User-Agent": SAFARI,
                                                                  "CloudFront-Viewer-Country": country})
            with urllib.request.urlopen(sent, timeout=10) as response:
                assert json.loads(response.read())["accepted"] == len(events)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECONDS
    while True:  # the lake has them when the API counts them
        counted = {site: aggregate(stack.base, site)[2] for site in VISITS}
        if counted == PAGEVIEWS:
            return {site: aggregate(stack.base, site) for site in VISITS}
        assert time.monotonic() < deadline, counted
        time.sleep(1)


def cli(stack, *arguments: str) -> str:
    """The operator's command (`make <target> NAME=value`) on the stack's DynamoDB, as docs/access.md shows it."""
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb.meta.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1", "LIVEINSIGHT_SITES": json.dumps(SITES),
           "API_URL": stack.base}
    env.pop("STAGE", None)
    # -o: the venv this test runs in is taken as installed (make would otherwise refresh it first)
    done = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", *arguments],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def create_key(stack, site: str, scopes: str = "stats") -> str:
    [key] = re.findall(r"li_key_[0-9a-f]{12}_[0-9a-f]{64}", cli(stack, "key-create", f"SITE={site}", f"SCOPES={scopes}",
                                                               "LABEL=e2e"))
    return key


def id_of(credential: str) -> str:
    return credential.split("_")[2]


def tile_values(page) -> list[float | None]:
    values = page.eval_on_selector_all("#tiles button.tile .value", "els => els.map(e => e.dataset.value)")
    return [float(v) if v not in ("", None) else None for v in values]


def settled(page) -> None:
    """The shell says Updated and no card is still waiting for its answer."""
    page.wait_for_function("() => /Updated/.test(document.getElementById('status').textContent) && "
                           "!document.querySelector('#cards [aria-busy]')")


def sign_in(browser, base: str, credential: str, query: str = "?site=a&period=day"):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/dashboard{query}")
    page.fill("#token", credential)
    page.click("#signin button[type=submit]")
    settled(page)
    return page


def page_text(page) -> str:
    return page.inner_text("body")  # what is rendered: hidden parts are not in it


def assert_shows_a_only(page, visits) -> None:
    assert tile_values(page) == visits["a"] and tile_values(page)[2] == PAGEVIEWS["a"]
    text = page_text(page)
    assert "/a-home" in text and "/only-on-b" not in text and "/b-shop" not in text  # the Pages card: a's rows
    assert "Japan" not in text and "Brazil" not in text  # b's countries


def test_a_key_of_site_a_offers_a_only_and_never_shows_b(stack, visits, browser):
    key = create_key(stack, "a")
    page = sign_in(browser, stack.base, key, query="")  # no site asked: the default (b) is not this key's
    assert page.evaluate("location.search") == "?site=a&period=day"
    assert page.eval_on_selector_all("#site option", "els => els.map(e => e.value)") == ["a"]
    assert_shows_a_only(page, visits)

    page.goto(f"{stack.base}/dashboard?site=b&period=day")  # b asked for in the URL (the key stays in this tab)
    settled(page)
    assert "No site b here: showing a." in page.inner_text("#status")
    assert page.evaluate("location.search") == "?site=a&period=day"
    assert_shows_a_only(page, visits)
    # what the API answers this key for b, from the page itself: a 403 naming the site
    refused = page.evaluate("""(key) => fetch('api/v2/query', {method: 'POST', headers: {Authorization: 'Bearer ' + key,
        'Content-Type': 'application/json'}, body: JSON.stringify({site_id: 'b', metrics: ['visitors'],
        date_range: 'day'})}).then(r => r.json().then(body => [r.status, body]))""", key)
    assert refused[0] == 403 and refused[1]["code"] == "forbidden_site" and "'b'" in refused[1]["error"], refused
    page.close()


def test_a_revoked_key_signs_the_open_dashboard_out_at_its_next_refresh(stack, visits, browser):
    key = create_key(stack, "a")
    page = sign_in(browser, stack.base, key)
    assert_shows_a_only(page, visits)

    assert "revoked key" in cli(stack, "key-revoke", f"ID={id_of(key)}")
    page.wait_for_selector("#signin-error:has-text('not accepted')", timeout=REFRESH_WAIT_SECONDS * 1000)
    assert page.is_hidden("#dashboard") and page.is_hidden("#controls")
    assert page.inner_text("#signin-error") == "That credential was not accepted."
    assert page.evaluate("sessionStorage.getItem('liveinsight.token')") is None
    assert "/a-home" not in page_text(page) and not re.search(r"\b5\b", page_text(page))  # no numbers left

    page.reload()  # nothing kept: the sign-in form again
    assert page.is_visible("#signin") and page.is_hidden("#dashboard")
    page.fill("#token", key)  # and the revoked key cannot sign in again
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('not accepted')")
    assert page.is_hidden("#dashboard")
    page.close()


def test_sessions_need_a_key_with_personal_data(stack, visits):
    stats_only, personal = create_key(stack, "a"), create_key(stack, "a", "stats,personal_data")
    status, listed = request(stack.base, "visitors/a-reader-0/sessions?site=a", personal)
    assert status == 200 and len(listed["sessions"]) == 1, listed
    session_id = listed["sessions"][0]["session_id"]

    status, refused = request(stack.base, f"sessions/{session_id}", stats_only)
    assert status == 403 and refused["error"]["code"] == "missing_scope", refused
    assert "personal_data" in refused["error"]["message"] and "events" not in refused
    status, refused = request(stack.base, "visitors/a-reader-0/sessions?site=a", stats_only)
    assert status == 403 and refused["error"]["code"] == "missing_scope"

    status, found = request(stack.base, f"sessions/{session_id}", personal)
    assert status == 200 and found["session"]["site"] == "a"
    assert sorted(e["page_url"] for e in found["events"]) == ["https://shop.example/a-home",
                                                              "https://shop.example/a-pricing"]
    # a session of b: refused after reading it, with nothing of it answered
    status, of_b = request(stack.base, "visitors/b-reader-0/sessions?site=b", TOKEN)
    status, refused = request(stack.base, f"sessions/{of_b['sessions'][0]['session_id']}", personal)
    assert status == 403 and refused["error"]["code"] == "forbidden_site" and "only-on-b" not in json.dumps(refused)


def test_a_shared_link_shows_its_one_site_until_it_is_revoked(stack, visits, browser):
    printed = cli(stack, "share-create", "SITE=a", "LABEL=e2e board")
    [link] = re.findall(rf"{re.escape(stack.base)}/dashboard\?site=a#share=li_link_[0-9a-f]{{12}}_[0-9a-f]{{64}}",
                        printed)
    token = link.split("#share=")[1]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(link)
    settled(page)
    assert page.is_hidden("#signin") and page.is_hidden("#site-field") and page.is_hidden("#signout")
    assert page.inner_text("#shared-site") == "a" and "Shared dashboard of a" in page_text(page)
    assert_shows_a_only(page, visits)

    page.goto(f"{stack.base}/dashboard?site=b&period=day#share={token}")  # the link is a's whatever the URL says
    settled(page)
    assert page.inner_text("#shared-site") == "a"
    assert_shows_a_only(page, visits)

    assert "revoked share" in cli(stack, "share-revoke", f"ID={id_of(token)}")
    page.wait_for_selector("#unlock-error:has-text('not valid')", timeout=REFRESH_WAIT_SECONDS * 1000)
    assert page.inner_text("#unlock-error") == "This link is not valid (revoked or expired)."
    assert page.is_hidden("#dashboard") and page.is_hidden("#unlock-password") and "/a-home" not in page_text(page)
    page.reload()
    page.wait_for_selector("#unlock-error:has-text('not valid')")
    assert page.is_hidden("#dashboard") and page.is_hidden("#controls")
    page.close()

"""The dashboard's cards (chalicelib/static/cards.js) in Debian's Chromium against the local stack: every row
a card shows, its details view (search, sort, pages, CSV), goals with revenue and the funnel equal what
POST /api/v2/query and /api/v2/funnel answer for the same question.

Most tests use tests/e2e/cards_fixture/, a stand-in for the dashboard shell's ctx (contract C5): the page,
cards.js and cards.css are served on the stack's own origin (Playwright routes that one path) under the
dashboard's Content-Security-Policy, and every query goes to the real API, so each card is checked alone
and addFilter's arguments are seen. The last tests drive the real /dashboard (app.js + cards.js).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from chalicelib.routes.static_files import DASHBOARD_HEADERS
from tests.conftest import PROJECT_DIR
from tests.e2e import axe
from tests.e2e.conftest import VISITOR_UA, start_stack

pytestmark = pytest.mark.e2e
TOKEN = "local-dev-token"  # the local stage's (.chalice/config.json)
SITE = "demo"
GOALS = [{"name": "Visit /pricing", "page": "/pricing*"}, {"name": "Signup", "event": "signup"},
         {"name": "Purchase", "event": "purchase", "currency": "EUR"}]
GOAL_NAMES = [g["name"] for g in GOALS]
FIXTURE = Path(__file__).parent / "cards_fixture"
STATIC = PROJECT_DIR / "chalicelib" / "static"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Safari/605.1.15")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
ARTICLES = 26  # distinct pages beyond the shop's: more than a details page (20) holds
ARRIVAL_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def stack():
    sites = {SITE: {"origins": ["http://127.0.0.1:9"], "goals": GOALS}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": SITE,
                           "LAKE_POLL_INTERVAL_SECONDS": "1"})
    yield running
    running.stop()


def post_events(base: str, events: list[dict], country: str, user_agent: str) -> None:
    request = urllib.request.Request(f"{base}/events", data=json.dumps({"events": events}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": user_agent,
                                              "CloudFront-Viewer-Country": country})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["accepted"] == len(events)


def visit(base: str, user: str, steps: list[tuple], now_ms: int, country: str = "DE", user_agent: str = VISITOR_UA,
          referrer: str | None = None) -> int:
    """steps: (event_type, path, seconds ago, properties or None, revenue or None)."""
    events = []
    for i, (kind, path, ago, props, revenue) in enumerate(steps):
        event = {"event_type": kind, "event_id": str(uuid.uuid4()), "user_id": user, "timestamp": now_ms - ago * 1000,
                 "page_url": f"https://shop.example{path}"}
        event.update({"properties": props} if props else {})
        event.update({"revenue": revenue} if revenue else {})
        event.update({"referrer": referrer} if referrer and i == 0 else {})
        events.append(event)
    post_events(base, events, country, user_agent)
    return len(events)


def send_traffic(base: str) -> int:
    now_ms = int(time.time() * 1000)
    pv = "page_view"
    def euros(amount: str) -> dict:
        return {"amount": amount, "currency": "EUR"}

    sent = visit(base, "buyer", [(pv, "/", 100, None, None), (pv, "/pricing", 90, None, None),
                                 ("signup", "/pricing", 80, {"plan": "pro"}, None),
                                 ("purchase", "/checkout", 70, {"plan": "pro"}, euros("19.90"))],
                 now_ms, "DE", SAFARI, "https://www.google.com/")
    sent += visit(base, "subscriber", [(pv, "/blog/a?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
                                        100, None, None), (pv, "/pricing", 90, None, None),
                                       ("signup", "/pricing", 80, {"plan": "free"}, None)], now_ms, "DE")
    sent += visit(base, "phone", [(pv, "/docs", 60, None, None)], now_ms, "JP", IPHONE)
    sent += visit(base, "team", [(pv, "/pricing", 100, None, None),
                                 ("purchase", "/checkout", 90, {"plan": "team"}, euros("30.10"))],
                  now_ms, "US", VISITOR_UA, "https://news.ycombinator.com/item?id=1")
    for k in range(ARTICLES):
        pages = [(pv, f"/article-{k}", 50, None, None)] + [(pv, "/", 40, None, None)] * (k % 2)
        sent += visit(base, f"reader-{k}", pages, now_ms, ["FR", "DE", "BR"][k % 3],
                      [VISITOR_UA, SAFARI, IPHONE][k % 3])
    return sent


def date_range() -> list[str]:
    today = datetime.now(timezone.utc).date()  # and yesterday: events sent just before UTC midnight stay in
    return [(today - timedelta(days=1)).isoformat(), today.isoformat()]


def api(base: str, path: str, body: dict, csv: bool = False):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
        "Accept": "text/csv" if csv else "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return text if csv else json.loads(text)


def v2(base: str, body: dict, filters: list | None = None, csv: bool = False):
    full = {**body, "site_id": SITE, "date_range": date_range()}
    if filters or body.get("filters"):
        full["filters"] = (filters or []) + body.get("filters", [])
    return api(base, "/api/v2/query", full, csv)


@pytest.fixture(scope="module")
def traffic(stack):
    sent = send_traffic(stack.base)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECONDS
    while v2(stack.base, {"metrics": ["events"]})["results"][0]["metrics"][0] < sent:
        assert time.monotonic() < deadline, f"the lake has not got {sent} events in {ARRIVAL_TIMEOUT_SECONDS} s"
        time.sleep(0.5)
    return sent


def open_fixture(stack, browser, filters: list | None = None, width: int = 1280):
    """The fixture page on the stack's origin, with the dashboard's own headers (CSP included)."""
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: violations.append(str(error)))
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

    def serve(route):
        name = route.request.url.split("/cards-fixture/")[1].split("#")[0] or "index.html"
        path = (STATIC if name in ("cards.js", "cards.css") else FIXTURE) / name
        route.fulfill(status=200, body=path.read_bytes(),
                      headers={**DASHBOARD_HEADERS, "Content-Type": types[path.suffix] + "; charset=utf-8"})

    page.route(f"{stack.base}/cards-fixture/**", serve)
    config = {"token": TOKEN, "site": SITE, "dateRange": date_range(), "goals": GOAL_NAMES, "filters": filters or []}
    page.goto(f"{stack.base}/cards-fixture/index.html#" + urllib.request.quote(json.dumps(config)))
    page.wait_for_function("() => window.LI && LI.cards && document.querySelectorAll('#cards .li-card').length === 7")
    return page, violations


def settle(page, scope: str = "#cards") -> None:
    busy = f"'{scope}[aria-busy], {scope} [aria-busy]'"
    try:
        page.wait_for_function(f"() => !document.querySelector({busy})")
    except Exception:
        print("still busy:", page.eval_on_selector_all(busy[1:-1], "els => els.map(e => e.outerHTML.slice(0, 300))"))
        raise


def shown_rows(page, scope: str) -> list[tuple[str, list[str]]]:
    rows = page.eval_on_selector_all(f"{scope} tbody tr", "rows => rows.map(r => [r.dataset.value, "
                                     "Array.from(r.querySelectorAll('td')).map(td => td.textContent)])")
    return [(value, cells) for value, cells in rows]


def number(n) -> str:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    return f"{n:,}"


def cell(metric: str, value) -> str:
    if value is None:
        return "–"
    if metric in ("total_revenue", "average_revenue"):
        assert value["currency"] == "EUR"
        return f"€{value['value']:,.2f}"
    return number(value) + ("%" if metric == "conversion_rate" else "")


def expected_rows(answer: dict, metrics: list[str], hide_null: tuple = ()) -> list[tuple[str, list[str]]]:
    shown = [i for i, m in enumerate(metrics)
             if m not in hide_null or any(r["metrics"][i] is not None for r in answer["results"])]
    return [(r["dimensions"][0] or "", [cell(metrics[i], r["metrics"][i]) for i in shown]) for r in answer["results"]]


TABS = {  # card -> (tab slug, dimension, metrics), as the Stats API is asked
    "pages": [("top-pages", "event:page", ["visitors", "pageviews"]), ("entry-pages", "visit:entry_page", ["visits"]),
              ("exit-pages", "visit:exit_page", ["visits"])],
    "sources": [(slug, dim, ["visitors"]) for slug, dim in [
        ("channels", "visit:channel"), ("sources", "visit:source"), ("referrers", "visit:referrer"),
        ("utm-medium", "visit:utm_medium"), ("utm-source", "visit:utm_source"), ("utm-campaign", "visit:utm_campaign"),
        ("utm-content", "visit:utm_content"), ("utm-term", "visit:utm_term")]],
    "locations": [("countries", "visit:country", ["visitors"])],
    "devices": [("browsers", "visit:browser", ["visitors"]), ("os", "visit:os", ["visitors"]),
                ("devices", "visit:device", ["visitors"])],
}


def test_every_card_and_tab_shows_the_api_rows(stack, traffic, browser):
    page, violations = open_fixture(stack, browser)
    settle(page)
    for card, tabs in TABS.items():
        for slug, dimension, metrics in tabs:
            if len(tabs) > 1:
                page.click(f"#card-{card} [role=tab][data-view='{slug}']")
            page.wait_for_selector(f"#card-{card} .li-panel[data-view='{slug}']:not([aria-busy])")
            answer = v2(stack.base, {"metrics": metrics, "dimensions": [dimension], "pagination": {"limit": 9}})
            got = shown_rows(page, f"#card-{card}")
            assert got == expected_rows(answer, metrics), (card, slug)
            if slug in ("top-pages", "channels", "countries", "browsers"):
                assert got, f"{slug}: the traffic sent should show here"
            headers = page.eval_on_selector_all(f"#card-{card} thead th", "ths => ths.map(th => th.scope)")
            assert headers == ["col"] * (1 + len(metrics))
    # Nine rows at most, bars proportional to the first metric (visitors) over the card's largest.
    pages = v2(stack.base, {"metrics": ["visitors"], "dimensions": ["visit:country"]})["results"]
    bars = page.eval_on_selector_all("#card-locations tbody .li-bar",
                                     "bars => bars.map(b => parseFloat(b.style.width))")
    top = pages[0]["metrics"][0]
    assert bars == [round(r["metrics"][0] / top * 100, 1) for r in pages[:9]]
    assert page.locator("#card-pages tbody tr").count() == 9
    # Countries by name and flag, the code in the row's value.
    assert page.inner_text("#card-locations tr[data-value=DE] th") == "🇩🇪 Germany"
    # DB-IP's licence (the country database of the collector's HTTP API) asks for a link where its results show.
    credit = page.locator("#card-locations .li-credit a")
    assert (credit.inner_text(), credit.get_attribute("href")) == ("IP geolocation by DB-IP", "https://db-ip.com")
    assert violations == []
    page.close()


def test_clicking_a_country_filters_by_its_code(stack, traffic, browser):
    page, _ = open_fixture(stack, browser)
    settle(page)
    page.focus("#card-locations tr[data-value=JP] button")
    page.keyboard.press("Enter")  # a button: the keyboard works as the mouse does
    assert page.evaluate("window.addedFilters") == [["visit:country", "JP"]]
    settle(page)
    page.wait_for_selector("#card-pages .li-panel[data-view='top-pages']:not([aria-busy])")
    filtered = v2(stack.base, {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"],
                               "pagination": {"limit": 9}}, filters=[["is", "visit:country", ["JP"]]])
    assert shown_rows(page, "#card-pages") == expected_rows(filtered, ["visitors", "pageviews"])
    assert [r for r, _ in shown_rows(page, "#card-locations")] == ["JP"]
    page.close()


def test_tabs_move_with_arrow_keys(stack, traffic, browser):
    page, _ = open_fixture(stack, browser)
    settle(page)
    page.focus("#card-devices [role=tab][aria-selected=true]")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.view") == "os"
    assert page.get_attribute("#card-devices [data-view=os]", "aria-selected") == "true"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.dataset.view") == "devices"  # wraps around
    page.wait_for_selector("#card-devices .li-panel[data-view='devices']:not([aria-busy])")
    page.close()


def dialog_rows(page) -> list[tuple[str, list[str]]]:
    settle(page, "dialog")
    return shown_rows(page, "dialog[open]")


def test_details_search_sort_pages_and_csv(stack, traffic, browser):
    page, violations = open_fixture(stack, browser)
    settle(page)
    metrics = ["visitors", "pageviews"]
    page.click("#card-pages .li-details-btn")
    page.wait_for_selector("dialog[open]")
    first = v2(stack.base, {"metrics": metrics, "dimensions": ["event:page"], "order_by": [["visitors", "desc"]],
                            "pagination": {"limit": 20, "offset": 0}})
    assert dialog_rows(page) == expected_rows(first, metrics) and len(first["results"]) == 20
    page.click("dialog .li-more")
    page.wait_for_function("() => document.querySelectorAll('dialog tbody tr').length > 20")
    second = v2(stack.base, {"metrics": metrics, "dimensions": ["event:page"], "order_by": [["visitors", "desc"]],
                             "pagination": {"limit": 20, "offset": 20}})
    assert dialog_rows(page) == expected_rows(first, metrics) + expected_rows(second, metrics)
    assert page.is_hidden("dialog .li-more")  # every page shown

    page.click("dialog [data-sort='event:page']")  # a dimension sorts ascending first
    page.wait_for_selector("dialog th[aria-sort=ascending] [data-sort='event:page']")
    by_name = v2(stack.base, {"metrics": metrics, "dimensions": ["event:page"], "order_by": [["event:page", "asc"]],
                              "pagination": {"limit": 20, "offset": 0}})
    assert dialog_rows(page) == expected_rows(by_name, metrics)

    page.fill("dialog input[type=search]", "ARTICLE-1")  # contains, case-insensitive
    search = [["contains", "event:page", ["ARTICLE-1"], {"case_sensitive": False}]]
    found = v2(stack.base, {"metrics": metrics, "dimensions": ["event:page"], "order_by": [["event:page", "asc"]],
                            "pagination": {"limit": 20, "offset": 0}, "filters": search})
    page.wait_for_function(f"() => document.querySelectorAll('dialog tbody tr').length === {len(found['results'])}")
    assert dialog_rows(page) == expected_rows(found, metrics) and len(found["results"]) == 11  # 1, 10..19

    with page.expect_download() as downloaded:
        page.click("dialog .li-csv")
    download = downloaded.value
    stamp = "_".join(date_range())
    assert download.suggested_filename == f"{SITE}-top-pages-{stamp}.csv"
    csv = v2(stack.base, {"metrics": metrics, "dimensions": ["event:page"], "order_by": [["event:page", "asc"]],
                          "filters": search}, csv=True)
    assert Path(download.path()).read_bytes().decode() == csv and csv.count("\n") == 12

    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    assert violations == []
    page.close()


def test_goals_show_conversion_rates_and_revenue(stack, traffic, browser):
    page, _ = open_fixture(stack, browser)
    settle(page)
    metrics = ["visitors", "events", "conversion_rate", "total_revenue", "average_revenue"]
    answer = v2(stack.base, {"metrics": metrics, "dimensions": ["event:goal"], "pagination": {"limit": 9}})
    got = shown_rows(page, "#card-goals")
    assert got == expected_rows(answer, metrics)
    headers = page.eval_on_selector_all("#card-goals thead th", "ths => ths.map(th => th.textContent)")
    assert headers == ["Goal", "Uniques", "Total", "Conv. rate", "Revenue", "Average"]
    purchase = dict(got)["Purchase"]
    assert purchase[3] == "€50.00" and purchase[4] == "€25.00"  # 19.90 + 30.10 over two purchases
    assert dict(got)["Signup"][3] == "–"  # a goal without a currency has no revenue
    page.close()


def test_funnel_steps_equal_the_funnel_api(stack, traffic, browser):
    page, _ = open_fixture(stack, browser)
    settle(page)
    answer = api(stack.base, "/api/v2/funnel", {"site_id": SITE, "date_range": date_range(), "steps": GOAL_NAMES})
    steps = answer["results"]["steps"]
    assert [s["visitors"] for s in steps] == [3, 2, 1]
    want = [(s["label"], [number(s["visitors"]), s["conversion_rate"] + "%",
                          f"{number(s['dropoff'])} ({s['dropoff_percentage']}%)" if i else "–"])
            for i, s in enumerate(steps)]
    assert shown_rows(page, "#card-funnel") == want
    # the card's own CSV: the funnel API's answer for the steps shown (visitors, conversion rates, drop-off)
    stamp = "_".join(date_range())
    body = {"site_id": SITE, "date_range": date_range(), "steps": GOAL_NAMES}
    name, text = funnel_csv(page)
    assert (name, text) == (f"{SITE}-funnel-{stamp}.csv", api(stack.base, "/api/v2/funnel", body, csv=True))
    header = text.splitlines()[0].split(",")
    assert {"visitors", "conversion_rate", "dropoff"} <= set(header), header
    # two steps picked in the form
    page.click("#card-funnel button:has-text('Remove step')")
    page.select_option("#card-funnel select[data-step='1']", "Purchase")
    page.click("#card-funnel button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#card-funnel tbody tr').length === 2")
    settle(page)
    body["steps"] = ["Visit /pricing", "Purchase"]
    two = api(stack.base, "/api/v2/funnel", body)["results"]["steps"]
    assert [r[1][0] for r in shown_rows(page, "#card-funnel")] == [number(s["visitors"]) for s in two]
    assert funnel_csv(page)[1] == api(stack.base, "/api/v2/funnel", body, csv=True)
    page.close()


def funnel_csv(page) -> tuple[str, str]:
    with page.expect_download() as downloaded:
        page.click("#card-funnel .li-csv")
    download = downloaded.value
    return download.suggested_filename, Path(download.path()).read_bytes().decode()


def test_properties_pick_a_key_and_export_the_view(stack, traffic, browser):
    page, _ = open_fixture(stack, browser)
    settle(page)
    page.fill("#card-properties input.li-key", "plan")
    page.click("#card-properties button[type=submit]")
    page.wait_for_selector("#card-properties .li-panel[data-view='property-plan']:not([aria-busy])")
    answer = v2(stack.base, {"metrics": ["visitors", "events"], "dimensions": ["event:props:plan"],
                             "pagination": {"limit": 9}})
    assert shown_rows(page, "#card-properties") == expected_rows(answer, ["visitors", "events"])
    # "": the events without the property (the API's null)
    assert sorted(r for r, _ in shown_rows(page, "#card-properties")) == ["", "free", "pro", "team"]

    # the sections of the whole view's CSV (app.js writes them into one file), each named by card and tab
    exported = {item["title"]: item["csv"] for item in page.evaluate("LI.cards.exportAll()")}
    assert len(exported) == 3 + 8 + 1 + 3 + 1 + 1 + 1
    assert exported["Locations: Countries"] == v2(
        stack.base, {"metrics": ["visitors"], "dimensions": ["visit:country"]}, csv=True)
    assert exported["Properties: plan"] == v2(
        stack.base, {"metrics": ["visitors", "events"], "dimensions": ["event:props:plan"]}, csv=True)
    assert exported["Goals"] == v2(stack.base, {"metrics": ["visitors", "events", "conversion_rate", "total_revenue",
                                                            "average_revenue"], "dimensions": ["event:goal"]}, csv=True)
    assert exported["Funnel: Visit /pricing > Signup > Purchase"] == api(
        stack.base, "/api/v2/funnel", {"site_id": SITE, "date_range": date_range(), "steps": GOAL_NAMES}, csv=True)
    page.close()


def test_an_api_error_is_shown_with_its_message(stack, traffic, browser):
    # A filter the API refuses (LiveInsight keeps no cities): each card says what the API said.
    refused_filter = [["is", "visit:city", ["Berlin"]]]
    page, _ = open_fixture(stack, browser, filters=refused_filter)
    settle(page)
    try:
        api(stack.base, "/api/v2/query", {"site_id": SITE, "date_range": date_range(), "metrics": ["visitors"],
                                          "dimensions": ["event:page"], "filters": refused_filter})
        raise AssertionError("the API should refuse a visit:city filter")
    except urllib.error.HTTPError as error:
        refused = json.loads(error.read())["error"]
    assert "visit:city" in refused
    assert page.inner_text("#card-pages .li-error") == f"Error: {refused}"
    page.close()


def test_under_a_goal_filter_the_funnel_says_to_remove_it(stack, traffic, browser):
    # The funnel API refuses goal filters (its steps are goals): the card asks for none, and says why.
    page, _ = open_fixture(stack, browser, filters=[["is", "event:goal", ["Signup"]]])
    settle(page)
    assert "remove the goal filter" in page.inner_text("#card-funnel")
    assert page.locator("#card-funnel .li-error").count() == 0
    assert page.is_disabled("#card-funnel .li-csv")  # no funnel, no CSV of one
    # nor a funnel section in the whole view's CSV (the API would refuse it, failing the whole export)
    titles = [item["title"] for item in page.evaluate("LI.cards.exportAll()")]
    assert titles and not any(t.startswith("Funnel") for t in titles), titles
    page.close()


def test_phone_width_has_no_horizontal_scroll(stack, traffic, browser):
    page, violations = open_fixture(stack, browser, width=360)
    settle(page)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("#card-pages .li-details-btn")
    settle(page, "dialog")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert violations == []
    page.close()


def open_dashboard(stack, browser, width: int = 1280):
    first, last = date_range()
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    page.goto(f"{stack.base}/dashboard?site={SITE}&period=custom&from={first}&to={last}")
    page.fill("#token", TOKEN)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#status:has-text('Updated')")
    settle(page)
    return page


TILE_METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]


def test_in_the_dashboard_a_country_row_filters_every_tile_and_card(stack, traffic, browser):
    page = open_dashboard(stack, browser)
    page.click("#cards #card-locations tr[data-value=JP] button")
    page.wait_for_function("() => decodeURIComponent(location.search).includes('visit:country')")
    page.wait_for_selector("#status:has-text('Updated')")
    settle(page)
    assert "JP" in page.evaluate("decodeURIComponent(location.search)")
    japan = [["is", "visit:country", ["JP"]]]
    totals = v2(stack.base, {"metrics": TILE_METRICS}, filters=japan)["results"][0]["metrics"]
    tiles = page.eval_on_selector_all("#tiles button.tile .value", "els => els.map(e => e.dataset.value)")
    assert [float(t) if t else None for t in tiles] == [float(t) if t is not None else None for t in totals]
    assert totals[0] == 1  # one visitor from Japan
    pages = v2(stack.base, {"metrics": ["visitors", "pageviews"], "dimensions": ["event:page"],
                            "pagination": {"limit": 9}}, filters=japan)
    assert shown_rows(page, "#card-pages") == expected_rows(pages, ["visitors", "pageviews"])
    page.go_back()  # the filter goes with the back button, and the cards follow
    page.wait_for_function("() => !decodeURIComponent(location.search).includes('visit:country')")
    page.wait_for_function("() => document.querySelectorAll('#card-locations tbody tr').length > 1")
    page.close()


def test_a_country_then_a_page_filter_every_tile_and_card_and_back_undoes_one_at_a_time(stack, traffic, browser):
    """The issue's analysis by clicking: Germany, then /pricing within it; every tile and every card's first
    tab answers what the API answers under both filters; the URL holds both; Back removes the last one."""
    page = open_dashboard(stack, browser)
    page.click("#cards #card-locations tr[data-value=DE] button")
    page.wait_for_function("() => decodeURIComponent(location.search).includes('visit:country')")
    page.wait_for_selector("#status:has-text('Updated')")
    settle(page)
    page.click("#cards #card-pages tr[data-value='/pricing'] button")
    page.wait_for_function("() => decodeURIComponent(location.search).includes('event:page')")
    page.wait_for_selector("#status:has-text('Updated')")
    settle(page)
    both = [["is", "visit:country", ["DE"]], ["is", "event:page", ["/pricing"]]]
    state = page.evaluate("decodeURIComponent(location.search)")
    assert "visit:country,DE" in state and "event:page,/pricing" in state, state
    totals = v2(stack.base, {"metrics": TILE_METRICS}, filters=both)["results"][0]["metrics"]
    assert totals[0] == 2  # buyer and subscriber: German visitors who saw /pricing
    tiles = page.eval_on_selector_all("#tiles button.tile .value", "els => els.map(e => e.dataset.value)")
    assert [float(t) if t else None for t in tiles] == [float(t) if t is not None else None for t in totals]
    for card, tabs in TABS.items():
        slug, dimension, metrics = tabs[0]
        page.wait_for_selector(f"#card-{card} .li-panel[data-view='{slug}']:not([aria-busy])")
        answer = v2(stack.base, {"metrics": metrics, "dimensions": [dimension], "pagination": {"limit": 9}},
                    filters=both)
        assert shown_rows(page, f"#card-{card}") == expected_rows(answer, metrics), card
    assert page.locator("#chips li.chip").count() == 2
    # the live tile's counters hold no filters: it says so rather than pass for the filtered number
    page.wait_for_function("() => document.getElementById('live-hint').textContent.includes('all traffic')")
    page.go_back()  # the page filter goes; Germany stays
    page.wait_for_function("() => !decodeURIComponent(location.search).includes('event:page')")
    page.wait_for_selector("#status:has-text('Updated')")
    settle(page)
    germany = [["is", "visit:country", ["DE"]]]
    totals = v2(stack.base, {"metrics": TILE_METRICS}, filters=germany)["results"][0]["metrics"]
    tiles = page.eval_on_selector_all("#tiles button.tile .value", "els => els.map(e => e.dataset.value)")
    assert [float(t) if t else None for t in tiles] == [float(t) if t is not None else None for t in totals]
    assert "visit:country,DE" in page.evaluate("decodeURIComponent(location.search)")
    page.close()


def test_axe_finds_nothing_serious_in_the_cards_and_the_details_dialog(stack, traffic, browser, tmp_path_factory):
    page = open_dashboard(stack, browser)
    page.fill("#card-properties input.li-key", "plan")
    page.click("#card-properties button[type=submit]")
    settle(page)
    source = axe.install_axe(tmp_path_factory.mktemp("axe"))
    found = axe.violations(page, source)
    assert axe.blocking(found) == [], found
    page.click("#card-goals .li-details-btn")
    settle(page, "dialog")
    found = axe.violations(page, source)
    assert axe.blocking(found) == [], found
    page.close()

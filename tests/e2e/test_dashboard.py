"""The dashboard shell (chalicelib/static/app.js, chart.js) in Debian's Chromium against the local stack: sign-in
and shared links, every tile and the chart equal what POST /api/v2/query answers for the same view, the URL
holds the view (filters, comparison, range) and the back button restores it, CSV export, phone width, axe-core.
The cards are tested in test_dashboard_cards.py."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import PROJECT_DIR
from tests.e2e import axe
from tests.e2e.conftest import clear_of_midnight, start_stack

pytestmark = pytest.mark.e2e
TOKEN = "local-dev-token"  # the local stage's (.chalice/config.json)
SITE = "demo"
ZONE = "Europe/Berlin"
METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]
ARTIFACTS = PROJECT_DIR / "test-artifacts"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Safari/605.1.15")
ARRIVAL_TIMEOUT_SECONDS = 90


@pytest.fixture(scope="module")
def stack():
    sites = {SITE: {"origins": ["http://127.0.0.1:9"], "timezone": ZONE},
             "other": {"origins": ["http://127.0.0.1:9"]}}
    running = start_stack({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": SITE,
                           "LAKE_POLL_INTERVAL_SECONDS": "1"})
    yield running
    running.stop()


def post_visit(base: str, visitor: str, pages: list[str], country: str, at: datetime | None = None,
               seconds_apart: int = 40) -> None:
    events = [{"event_type": "page_view", "event_id": str(uuid.uuid4()), "user_id": visitor,
               "page_url": f"https://shop.example{page}", "site": SITE,
               **({"timestamp": (at + timedelta(seconds=i * seconds_apart)).isoformat()} if at else {})}
              for i, page in enumerate(pages)]
    request = urllib.request.Request(f"{base}/events", data=json.dumps({"events": events}).encode(), method="POST",
                                     headers={"Content-Type": "text/plain", "User-Agent": SAFARI,
                                              "CloudFront-Viewer-Country": country})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["accepted"] == len(events)


def api(base: str, path: str, body: dict | None = None, accept: str = "application/json",
        credential: str = TOKEN):
    request = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Bearer {credential}", "Accept": accept,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return text if accept == "text/csv" else json.loads(text)


def aggregate(base: str, date_range, filters=(), comparison: str | None = None) -> dict:
    body = {"site_id": SITE, "metrics": METRICS, "date_range": date_range, "filters": list(filters)}
    if comparison:
        body["include"] = {"comparisons": {"mode": comparison}}
    return api(base, "api/v2/query", body)["results"][0]


@pytest.fixture(scope="module")
def visits(stack):
    """Today: 6 visits (4 from Germany, 2 from Japan); yesterday (site time): 3, so comparisons have two sides."""
    clear_of_midnight(ZONE, margin_seconds=300)  # the module's tests (~90 s) see one site day
    for i in range(6):
        post_visit(stack.base, f"reader-{i}", ["/", "/pricing"] if i % 2 else ["/docs"], "DE" if i < 4 else "JP")
    yesterday = datetime.now(ZoneInfo(ZONE)).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for i in range(3):
        post_visit(stack.base, f"earlier-{i}", ["/", "/docs", "/pricing"][: i + 1], "DE", at=yesterday)
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECONDS
    while True:  # the lake has them when the API counts them
        today, before = aggregate(stack.base, "day"), aggregate(stack.base, [yesterday.date().isoformat()] * 2)
        if (today["metrics"][2], before["metrics"][2]) == (9, 6):
            return {"yesterday": yesterday.date().isoformat()}
        assert time.monotonic() < deadline, (today, before)
        time.sleep(1)


def open_dashboard(browser, base: str, query: str = "", width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    page.goto(f"{base}/dashboard{query}")
    page.fill("#token", TOKEN)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#status:has-text('Updated')")
    return page


def updated(page) -> None:
    page.wait_for_selector("#status:has-text('Updated')")


def tile_values(page) -> list[float | None]:
    values = page.eval_on_selector_all("#tiles button.tile .value", "els => els.map(e => e.dataset.value)")
    return [float(v) if v not in ("", None) else None for v in values]


def query_of(page) -> str:
    return page.evaluate("location.search")


def test_sign_in_then_every_tile_and_the_chart_equal_the_api(stack, visits, browser, tmp_path_factory):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base}/dashboard")
    assert page.is_visible("#signin") and not page.is_visible("#dashboard")
    page.fill("#token", "wrong-token")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('not accepted')")
    assert not page.is_visible("#dashboard")

    page.fill("#token", TOKEN)
    page.click("#signin button[type=submit]")
    updated(page)
    assert page.evaluate("sessionStorage.getItem('liveinsight.token')") == TOKEN
    assert query_of(page) == "?site=demo&period=day"  # the default view is in the URL at once
    assert page.eval_on_selector_all("#site option", "els => els.map(e => e.value)") == ["demo", "other"]
    assert page.inner_text("#timezone") == f"Times in {ZONE}"

    expected = aggregate(stack.base, "day")["metrics"]
    assert tile_values(page) == [float(v) for v in expected]
    assert page.inner_text("#tile-pageviews .value") == "9"
    assert page.inner_text("#tile-bounce_rate .value") == f"{expected[4]:g}%"
    # today is not over: visit metrics are those of the visits so far, and say so
    assert page.inner_text("#tile-visit_duration .hint") == "incl. visits in progress"
    assert page.inner_text("#tile-pageviews .hint") == ""
    live = api(stack.base, f"stats/realtime?site={SITE}")["current_visitors"]
    assert page.get_attribute("#live-value", "data-value") == str(live) and live >= 6
    # the chart's text names the API's figure over the range (the tile's), not a sum of its hours
    svg = page.locator("#chart svg")
    assert_chart_names_the_aggregate(page, "Unique visitors", expected[0], "6")
    assert_range_shows(page, [today_in_zone()])

    page.click("#tile-pageviews")
    updated(page)
    assert "metric=pageviews" in query_of(page)
    assert page.get_attribute("#tile-pageviews", "aria-pressed") == "true"
    assert svg.get_attribute("data-points") == "24"  # every hour
    assert_chart_names_the_aggregate(page, "Page views", expected[2], "9")
    assert page.text_content("#chart .y-title") == "Page views"
    assert page.text_content("#chart .x-title") == f"Hour ({ZONE})"
    boxes = page.eval_on_selector_all("#chart .x-tick", "els => els.map(e => e.getBBox()).map(b => [b.x, b.width])")
    assert len(boxes) >= 4 and all(a[0] + a[1] < b[0] for a, b in zip(boxes, boxes[1:], strict=False)), boxes
    y_ticks = [float(t.replace(",", "")) for t in page.eval_on_selector_all("#chart .y-tick",
                                                                            "e => e.map(x => x.textContent)")]
    steps = {b - a for a, b in zip(y_ticks, y_ticks[1:], strict=False)}
    assert y_ticks[0] == 0 and y_ticks[-1] >= 9 and len(steps) == 1, y_ticks

    svg.focus()  # keyboard: the tooltip follows the arrow keys; Home is the day's first hour
    hours = api(stack.base, "api/v2/query", {"site_id": SITE, "metrics": ["pageviews"], "date_range": "day",
                                             "dimensions": ["time:hour"]})["results"]
    first_hour = next((r["metrics"][0] for r in hours if r["dimensions"][0].endswith(" 00:00:00")), 0)
    page.keyboard.press("Home")
    assert page.is_visible("#chart .chart-tip") and f"Page views: {first_hour}" in page.inner_text("#chart .chart-tip")
    page.keyboard.press("End")
    page.keyboard.press("Escape")
    assert not page.is_visible("#chart .chart-tip")

    page.click("#tile-bounce_rate")  # a rate: no sum of hours could stand for it
    updated(page)
    assert_chart_names_the_aggregate(page, "Bounce rate", expected[4], f"{expected[4]:g}%")
    # an hour without visits has no bounce rate: a gap ("–"), not 0%
    rates = api(stack.base, "api/v2/query", {"site_id": SITE, "metrics": ["bounce_rate"], "date_range": "day",
                                             "dimensions": ["time:hour"]})["results"]
    cells = page.eval_on_selector_all("#chart .chart-data td", "els => els.map(e => e.textContent)")
    shown = [c for c in cells if c != "–"]
    assert len(cells) == 24 and len(shown) == len([r for r in rates if r["metrics"][0] is not None]) >= 1, cells
    assert page.locator("#chart circle.dot").count() == len(shown)

    found = axe.violations(page, axe.install_axe(tmp_path_factory.mktemp("axe")))
    assert axe.blocking(found) == [], found
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.close()


def today_in_zone():
    return datetime.now(ZoneInfo(ZONE)).date()


def assert_chart_names_the_aggregate(page, label: str, value, shown: str) -> None:
    svg = page.locator("#chart svg")
    assert float(svg.get_attribute("data-aggregate")) == float(value)
    assert f"{label} over the whole range: {shown}." in svg.get_attribute("aria-label")
    assert "Total" not in svg.get_attribute("aria-label")


def assert_range_shows(page, days) -> None:
    """The dates under the period picker: <time datetime> of the range's first (and last) day, as the API
    resolved it in the site's zone, their text the day of the month (whatever the locale's month names)."""
    assert page.get_attribute("#period", "aria-describedby") == "range"
    times = page.eval_on_selector_all("#range time", "els => els.map(e => [e.dateTime, e.textContent])")
    assert [t[0] for t in times] == [d.isoformat() for d in days], times
    for (_, text), day in zip(times, days, strict=True):
        assert str(day.day) in text.replace(str(day.year), ""), times


def test_the_range_picker_shows_the_days_it_covers(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=7d")
    options = dict(page.eval_on_selector_all("#period option", "els => els.map(e => [e.value, e.textContent])"))
    assert options["7d"] == "Last 7 days (to yesterday)" and options["30d"] == "Last 30 days (to yesterday)"
    yesterday = today_in_zone() - timedelta(days=1)
    assert_range_shows(page, [yesterday - timedelta(days=6), yesterday])  # 7d ends yesterday, as Plausible's
    assert " – " in page.inner_text("#range")
    # the tiles count exactly those days: the API's 7d is [yesterday - 6, yesterday]
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, "7d")["metrics"]]
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, [(yesterday - timedelta(days=6)).isoformat(),
                                                                         yesterday.isoformat()])["metrics"]]
    page.select_option("#period", "day")
    updated(page)
    assert_range_shows(page, [today_in_zone()])
    page.select_option("#period", "30d")
    updated(page)
    assert_range_shows(page, [yesterday - timedelta(days=29), yesterday])
    page.close()


def test_filters_in_the_url_apply_round_trip_and_the_back_button_restores(stack, visits, browser):
    query = "?site=demo&period=day&f=is,visit:country,JP&f=is,event:page,/docs"
    page = open_dashboard(browser, stack.base, query)
    both = [["is", "visit:country", ["JP"]], ["is", "event:page", ["/docs"]]]
    assert query_of(page) == query  # readable and unchanged
    chips = page.eval_on_selector_all("#chips .chip span", "els => els.map(e => e.textContent)")
    assert chips[0].startswith("Country is ") and chips[0].endswith("Japan") and chips[1] == "Page is /docs"
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, "day", both)["metrics"]]
    assert tile_values(page)[0] == 1

    page.click("#chips li:nth-child(2) button")  # remove the page filter
    updated(page)
    assert query_of(page) == "?site=demo&period=day&f=is,visit:country,JP"
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, "day", both[:1])["metrics"]]
    assert tile_values(page)[0] == 2

    page.select_option("#comparison", "previous_period")
    updated(page)
    assert query_of(page).endswith("&comparison=previous_period")

    page.go_back()
    updated(page)
    assert query_of(page) == "?site=demo&period=day&f=is,visit:country,JP"
    assert page.input_value("#comparison") == "off" and page.inner_text("#tile-visitors .change") == ""
    page.go_back()
    updated(page)
    assert query_of(page) == query and page.locator("#chips .chip").count() == 2
    assert tile_values(page)[0] == 1

    page.reload()  # a bookmark: the same view (the credential stays in this tab)
    updated(page)
    assert query_of(page) == query and page.locator("#chips .chip").count() == 2 and tile_values(page)[0] == 1

    page.click("#clear-filters")
    updated(page)
    assert query_of(page) == "?site=demo&period=day" and tile_values(page)[0] == 6
    page.close()


def test_comparison_deltas_equal_the_api(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=day&comparison=previous_period")
    expected = aggregate(stack.base, "day", comparison="previous_period")
    assert expected["comparison"]["metrics"][2] == 6  # yesterday's page views: a real other side
    changes = page.eval_on_selector_all("#tiles button.tile .change", "els => els.map(e => e.dataset.change)")
    assert changes == ["" if c is None else f"{c:g}" for c in expected["comparison"]["change"]]
    previous = page.eval_on_selector_all("#tiles button.tile .previous", "els => els.map(e => e.dataset.value)")
    assert [float(v) for v in previous] == [float(v) for v in expected["comparison"]["metrics"]]
    # direction in words beside the colour; page views 6 -> 9 is +50%
    assert page.inner_text("#tile-pageviews .change").startswith("↑ +50%")
    assert "better" in page.inner_text("#tile-pageviews .change .sr-only")
    assert page.is_visible("#chart path.series.comparison") and page.is_visible("#chart .chart-legend .comparison")

    page.select_option("#comparison", "year_over_year")
    updated(page)
    assert "comparison=year_over_year" in query_of(page)
    expected = aggregate(stack.base, "day", comparison="year_over_year")
    changes = page.eval_on_selector_all("#tiles button.tile .change", "els => els.map(e => e.dataset.change)")
    assert changes == ["" if c is None else f"{c:g}" for c in expected["comparison"]["change"]]
    page.close()


def test_a_custom_range_and_the_csv_of_the_whole_view(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=day")
    today = datetime.now(ZoneInfo(ZONE)).date()
    page.select_option("#period", "custom")
    updated(page)
    assert page.input_value("#from") == (today - timedelta(days=6)).isoformat()
    assert page.input_value("#to") == today.isoformat()
    page.fill("#from", visits["yesterday"])
    page.click("#custom button[type=submit]")
    updated(page)
    assert query_of(page) == f"?site=demo&period=custom&from={visits['yesterday']}&to={today.isoformat()}"
    custom = [visits["yesterday"], today.isoformat()]
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, custom)["metrics"]]
    assert tile_values(page)[2] == 15
    assert page.eval_on_selector_all("#granularity option", "e => e.map(o => o.value)") == ["hour", "day"]

    assert_range_shows(page, [date.fromisoformat(d) for d in custom])

    downloads = []
    page.on("download", lambda download: downloads.append(download))
    page.click("#export")
    page.wait_for_selector("#status:has-text('Downloaded')")
    page.wait_for_timeout(1000)  # a second file would have come by now
    assert [d.suggested_filename for d in downloads] == [f"liveinsight-demo-custom-{custom[0]}_{custom[1]}.csv"]
    sections = csv_sections(open(downloads[0].path(), newline="", encoding="utf-8").read())

    def query_csv(body: dict) -> str:
        return api(stack.base, "api/v2/query", {"site_id": SITE, "date_range": custom, "filters": [], **body},
                   accept="text/csv")

    titles = list(sections)
    assert titles[:3] == ["View", "Tiles", "Chart: Unique visitors by hour"], titles
    view = next(csv.DictReader(io.StringIO(sections["View"])))
    assert (view["site"], view["period"], view["time_zone"]) == (SITE, "custom", ZONE)
    assert view["first"].startswith(custom[0]) and view["last"].startswith(custom[1])
    assert sections["Tiles"] == query_csv({"metrics": METRICS})
    assert next(csv.DictReader(io.StringIO(sections["Tiles"])))["pageviews"] == "15"
    assert sections["Chart: Unique visitors by hour"] == query_csv(
        {"metrics": ["visitors"], "dimensions": ["time:hour"], "include": {"time_labels": True}})
    # every card's tab (this site has no goals, so no goals or funnel; no property key chosen)
    assert sorted(titles[3:]) == sorted(CARD_SECTIONS), titles
    for title, (dimension, metrics) in CARD_SECTIONS.items():
        assert sections[title] == query_csv({"metrics": metrics, "dimensions": [dimension]}), title
    assert "/pricing" in sections["Pages: Top pages"] and "DE" in sections["Locations: Countries"]
    page.close()


CARD_SECTIONS = {  # the whole view's CSV section of each card's tab: (dimension, metrics) asked of the API
    "Pages: Top pages": ("event:page", ["visitors", "pageviews"]),
    "Pages: Entry pages": ("visit:entry_page", ["visits"]), "Pages: Exit pages": ("visit:exit_page", ["visits"]),
    **{f"Sources: {label}": (dimension, ["visitors"]) for label, dimension in [
        ("Channels", "visit:channel"), ("Sources", "visit:source"), ("Referrers", "visit:referrer"),
        ("UTM medium", "visit:utm_medium"), ("UTM source", "visit:utm_source"), ("UTM campaign", "visit:utm_campaign"),
        ("UTM content", "visit:utm_content"), ("UTM term", "visit:utm_term")]},
    "Locations: Countries": ("visit:country", ["visitors"]),
    "Devices: Browser": ("visit:browser", ["visitors"]), "Devices: OS": ("visit:os", ["visitors"]),
    "Devices: Device": ("visit:device", ["visitors"]),
}


def csv_sections(text: str) -> dict[str, str]:
    """The whole view's one CSV file: a "# title" line, that section's CSV (the API's, byte for byte), then a
    blank line before the next section."""
    assert text.endswith("\r\n") and not text.endswith("\r\n\r\n")
    sections = {}
    for part in text[:-2].split("\r\n\r\n"):
        title, _, body = part.partition("\r\n")
        assert title.startswith("# ") and body and title[2:] not in sections, part[:200]
        sections[title[2:]] = body + "\r\n"
    return sections


def test_phone_width_has_no_horizontal_scrolling(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=day&f=is,visit:country,DE&comparison=previous_period",
                          width=360)
    page.wait_for_timeout(1500)  # the cards fill in
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    page.close()


def test_realtime_refreshes_itself_without_comparison(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=realtime&comparison=previous_period")
    assert query_of(page) == "?site=demo&period=realtime"  # a comparison of 30 minutes is not offered
    assert page.is_disabled("#comparison")
    # the last 30 minutes minute by minute (date_range "30m", time:minute): every local minute up to now
    assert page.eval_on_selector_all("#granularity option", "e => e.map(o => o.value)") == ["minute"]
    svg = page.locator("#chart svg")
    assert svg.get_attribute("data-points") == "31"
    assert page.text_content("#chart .x-title") == f"Minute ({ZONE})"
    assert tile_values(page)[2] == aggregate(stack.base, "30m")["metrics"][2] >= 9  # the visits of a minute ago
    before = tile_values(page)[2]
    post_visit(stack.base, "late-reader", ["/blog", "/signup"], "FR")
    deadline = time.monotonic() + 45  # the lake's lag plus one 15 s refresh
    while tile_values(page)[2] != before + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert tile_values(page)[2] == before + 2
    page.click("#tile-pageviews")  # the chart's text names the tile's figure, the API's over the 30 minutes
    updated(page)
    assert float(svg.get_attribute("data-aggregate")) == tile_values(page)[2]
    assert f"Page views over the whole range: {int(tile_values(page)[2])}." in svg.get_attribute("aria-label")
    assert len(page.eval_on_selector_all("#range time", "els => els.map(e => e.dateTime)")) == 2  # its minutes
    svg.focus()
    page.keyboard.press("End")  # the current minute, on the site's wall clock
    now = datetime.now(ZoneInfo(ZONE))
    tip = page.inner_text("#chart .chart-tip")
    minutes = [now - timedelta(minutes=m) for m in (0, 1)]  # the locale may write 14:05 or 2:05 PM
    assert any(f"{t:%H:%M}" in tip or f"{t.hour % 12 or 12}:{t:%M}" in tip for t in minutes), tip
    page.close()


def test_today_by_the_minute(stack, visits, browser):
    page = open_dashboard(browser, stack.base, "?site=demo&period=day&granularity=minute&metric=pageviews")
    assert query_of(page) == "?site=demo&period=day&granularity=minute&metric=pageviews"
    assert page.eval_on_selector_all("#granularity option", "e => e.map(o => o.value)") == ["hour", "minute"]
    svg = page.locator("#chart svg")
    assert svg.get_attribute("data-points") == "1440"  # every wall-clock minute of the day
    assert svg.get_attribute("data-aggregate") == str(int(aggregate(stack.base, "day")["metrics"][2]))
    page.select_option("#granularity", "hour")
    updated(page)
    assert svg.get_attribute("data-points") == "24" and query_of(page) == "?site=demo&period=day&metric=pageviews"
    page.close()


def create_link(stack, password: str | None) -> str:
    from chalicelib.access import admin
    from chalicelib.schema.tables import ACCESS
    from chalicelib.store.access import AccessStore

    store = AccessStore(stack.dynamodb, ACCESS.name("local"))
    return admin.create_link(store, SITE, "e2e", int(time.time() * 1000), password=password)[1]


def test_a_shared_link_shows_its_one_site_and_asks_for_its_password(stack, visits, browser):
    link = create_link(stack, "open sesame")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base}/dashboard?site=demo&period=day#share={link}")
    page.wait_for_selector("#unlock:not([hidden])")
    page.fill("#unlock-password", "wrong")
    page.click("#unlock button[type=submit]")
    page.wait_for_selector("#unlock-error:has-text('not right')")
    page.fill("#unlock-password", "open sesame")
    page.click("#unlock button[type=submit]")
    updated(page)
    assert not page.is_visible("#site-field") and not page.is_visible("#signout")
    assert page.inner_text("#shared-site") == SITE
    assert tile_values(page) == [float(v) for v in aggregate(stack.base, "day")["metrics"]]
    page.select_option("#period", "month")
    updated(page)
    assert page.evaluate("location.search + location.hash") == f"?site=demo&period=month#share={link}"
    assert page.evaluate("sessionStorage.getItem('liveinsight.token')") is None  # nothing of an operator's
    page.close()

    public = create_link(stack, None)
    page = browser.new_page()
    page.goto(f"{stack.base}/dashboard#share={public}")
    updated(page)
    assert query_of(page) == "?site=demo&period=day" and not page.is_visible("#signin")
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
    updated(page)
    assert requested and all(url.startswith(stack.base) for url in requested), requested
    # its icon is inline: no request for /favicon.ico, which API Gateway answers 403 (outside the stage's path)
    assert page.get_attribute("link[rel=icon]", "href").startswith("data:image/svg+xml,")
    assert not [url for url in requested if "favicon" in url] and failed == [], failed
    page.close()


def test_the_page_stays_within_its_weight():
    import gzip

    from chalicelib.static import static_file

    shell = sum(len(gzip.compress(static_file(name).encode(), 9))
                for name in ("app.js", "chart.js", "app.css", "dashboard.html"))
    page = shell + sum(len(gzip.compress(static_file(name).encode(), 9)) for name in ("cards.js", "cards.css"))
    assert shell <= 30 * 1024 and page <= 60 * 1024, (shell, page)

"""`make screenshots`: the dashboard's pictures in docs/screenshots/ (shown in the README), from a stack of its own.

Starts the local stack on free loopback ports (scripts/stack_process.py), backfills the demo site with
`make traffic`'s visitors (scripts/traffic_model.py, a fixed seed) plus visits of the last minutes for the
realtime view, waits until the lake counts every page view, then drives Debian's Chromium at desktop
(1280x900) and phone (390x844) width: realtime, 7 days filtered by a country, goals and funnel, properties.
The data are the seed's for the hours shown; the clock (axis labels, "today") is the moment of the run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:  # `python scripts/screenshots.py` puts scripts/ first, not the project
    sys.path.insert(0, str(PROJECT_DIR))

from scripts import stack_process  # noqa: E402
from scripts.traffic import http_send, send_backfill, site_timezone  # noqa: E402
from scripts.traffic_model import VisitMaker, backfill, regulars  # noqa: E402

SITE = "demo"
SEED = 2026
OUT_DIR = PROJECT_DIR / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium calls itself HeadlessChrome; flags keep it off the network (this machine has none).
USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
              "Safari/537.36")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--hide-scrollbars", "--font-render-hinting=none"]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
ARRIVAL_TIMEOUT_SECONDS = 300
SETTLE_TIMEOUT_MS = 240_000  # the local lake is many small files until compaction: minutes on a busy laptop
COUNTRY = "DE"  # the 7-day view's filter: a row of the Locations card, clicked
FUNNEL = ["Visit /pricing", "Signup", "Purchase"]  # goals of the local stage's demo site, in a visitor's order
PROPERTY, PROPERTY_EVENT = "plan", "signup"
# the page is settled: the shell says Updated and no card is still waiting for an answer
SETTLED = ("() => /Updated/.test(document.getElementById('status').textContent) && "
           "!document.querySelector('#cards [aria-busy]')")


@dataclass
class Volume:
    days: float = 14  # the 7 days shown and the 7 before them, their comparison
    visits_per_day: float = 110
    recent_visits: int = 24  # in the last 25 minutes: the realtime view's


QUICK = Volume(days=1.5, visits_per_day=80, recent_visits=8)


@dataclass
class Result:
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # console errors, failed or refused requests, card errors
    empty: list[str] = field(default_factory=list)  # cards that said "No data" in a picture
    pageviews: int = 0


def past_visits(volume: Volume, now_ms: int, seed: int = SEED) -> list:
    return backfill(seed, now_ms=now_ms, days=volume.days, visits_per_day=volume.visits_per_day,
                    zone=ZoneInfo(site_timezone(SITE)), site=SITE)


def recent_visits(volume: Volume, now_ms: int, seed: int = SEED) -> list:
    """Visits of the last 25 minutes, one every minute or so, the newest still going on: the realtime view's."""
    maker = VisitMaker(random.Random(f"{seed}:recent"), SITE, regulars(seed, max(20, int(volume.visits_per_day / 2))))
    visits = []
    for index in range(volume.recent_visits):
        visit = maker.visit(now_ms - int((25 - 25 * index / max(volume.recent_visits, 1)) * 60_000))
        visit.events = [e for e in visit.events if e["timestamp"] <= now_ms]
        visits.append(visit)
    return visits


def populate(base: str, visits: list) -> tuple[int, str]:
    """Sends visits through POST /events; returns their page views and the ISO instant they start from."""
    totals = send_backfill(http_send(base), visits)
    if set(totals) != {"accepted"}:
        raise RuntimeError(f"POST /events did not accept everything: {dict(totals)}")
    pageviews = sum(e["event_type"] == "page_view" for v in visits for e in v.events)
    first_ms = min(v.start_ms for v in visits)
    return pageviews, datetime.fromtimestamp(first_ms / 1000 - 1, timezone.utc).isoformat(timespec="seconds")


def api_query(base: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base}/api/v2/query", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {stack_process.TOKEN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for_lake(base: str, pageviews: int, since_iso: str, timeout_s: float = ARRIVAL_TIMEOUT_SECONDS) -> None:
    """The stream writer copies events to the lake every second or so: wait until the lake counts them all."""
    deadline = time.monotonic() + timeout_s
    while True:
        until = datetime.now(timezone.utc).isoformat(timespec="seconds")
        counted = api_query(base, {"site_id": SITE, "metrics": ["pageviews"], "date_range": [since_iso, until]})
        seen = counted["results"][0]["metrics"][0]
        if seen >= pageviews:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the lake counts {seen} of {pageviews} page views after {timeout_s:.0f} s")
        time.sleep(2)


def watch(page, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # net::ERR_ABORTED: a request still going when the script opened the next view (the browser cancels it)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.method} {r.url} {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
            if r.status >= 400 else None)


def open_view(page, base: str, query: str) -> None:
    page.goto(f"{base}/dashboard{query}")
    page.wait_for_function(SETTLED, timeout=SETTLE_TIMEOUT_MS)


def clip_of(page, selectors: list[str], margin: int = 8) -> dict:
    """The rectangle around these elements (page coordinates), a little margin, within the page's width."""
    box = page.evaluate("""(selectors) => {
      const rects = selectors.map((s) => document.querySelector(s).getBoundingClientRect());
      const left = Math.min(...rects.map((r) => r.left)), top = Math.min(...rects.map((r) => r.top));
      const right = Math.max(...rects.map((r) => r.right)), bottom = Math.max(...rects.map((r) => r.bottom));
      return {x: left + scrollX, y: top + scrollY, width: right - left, height: bottom - top,
              pageWidth: document.documentElement.clientWidth};
    }""", selectors)
    x = max(0, box["x"] - margin)
    return {"x": x, "y": max(0, box["y"] - margin), "width": min(box["width"] + 2 * margin, box["pageWidth"] - x),
            "height": box["height"] + 2 * margin}


def shoot_width(browser, base: str, out_dir: Path, name: str, size: tuple[int, int], result: Result) -> None:
    mobile = name == "phone"
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1,
                                  is_mobile=mobile, has_touch=mobile, reduced_motion="reduce",
                                  timezone_id=site_timezone(SITE), locale="en-US")  # a visitor of the site's city
    context.add_init_script(f"sessionStorage.setItem('liveinsight.token', {json.dumps(stack_process.TOKEN)})")
    page = context.new_page()
    watch(page, result.problems)

    def save(what: str, **options) -> None:
        path = out_dir / f"{name}-{what}.png"
        said = page.eval_on_selector_all(".li-card .li-empty, .li-card .li-error", """els => els.map(e =>
            [e.className, e.closest('.li-card').querySelector('h2').textContent + ': ' + e.textContent])""")
        result.problems.extend(f"{path.name}: {text}" for kind, text in said if kind == "li-error")
        result.empty.extend(f"{path.name}: {text}" for kind, text in said if kind == "li-empty")
        page.mouse.move(0, 0)  # no hover left where the last click or tap was
        page.screenshot(path=str(path), animations="disabled", caret="hide", **options)
        result.files.append(path)

    def top() -> dict:
        """A phone's viewport holds the header and tiles only: its pictures go down to the chart's end."""
        return {"clip": clip_of(page, ["header", ".chart-card"], margin=0), "full_page": True} if mobile else {}

    open_view(page, base, f"?site={SITE}&period=realtime")
    save("realtime", **top())

    open_view(page, base, f"?site={SITE}&period=7d&comparison=previous_period")
    page.click(f"#card-locations [data-focus='row:visit:country:{COUNTRY}']")
    page.wait_for_selector("#chips .chip")
    page.wait_for_function(SETTLED, timeout=SETTLE_TIMEOUT_MS)
    page.evaluate("window.scrollTo(0, 0)")
    save("7d-filtered", **top())

    open_view(page, base, f"?site={SITE}&period=7d")
    funnel = page.locator("#card-funnel")
    for index, goal in enumerate(FUNNEL):
        funnel.locator(f"select[data-step='{index}']").select_option(goal)
    while funnel.locator("select[data-step]").count() > len(FUNNEL):
        funnel.get_by_role("button", name="Remove step").click()
    funnel.get_by_role("button", name="Show funnel").click()
    page.wait_for_function("() => document.querySelectorAll('#card-funnel tbody tr').length === %d && "
                           "!document.querySelector('#card-funnel [aria-busy]')" % len(FUNNEL),
                           timeout=SETTLE_TIMEOUT_MS)
    save("goals-funnel", clip=clip_of(page, ["#card-goals", "#card-funnel"]), full_page=True)

    # a property's values among the events that carry it: the signups' plans
    open_view(page, base, f"?site={SITE}&period=7d&f=is,event:name,{PROPERTY_EVENT}")
    properties = page.locator("#card-properties")
    properties.locator("input.li-key").fill(PROPERTY)
    properties.get_by_role("button", name="Show").click()
    page.wait_for_function("() => document.querySelectorAll('#card-properties tbody tr').length > 0 && "
                           "!document.querySelector('#card-properties [aria-busy]')", timeout=SETTLE_TIMEOUT_MS)
    save("properties", clip=clip_of(page, ["#card-goals", "#card-properties"]), full_page=True)
    context.close()


def shoot(base: str, out_dir: Path, widths: dict[str, tuple[int, int]] = WIDTHS) -> Result:
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    result = Result()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=[*CHROMIUM_ARGS, f"--user-agent={USER_AGENT}"])
        try:
            for name, size in widths.items():
                shoot_width(browser, base, out_dir, name, size, result)
        finally:
            browser.close()
    return result


def run(out_dir: Path = OUT_DIR, volume: Volume | None = None, say=print) -> Result:
    """A stack of its own, filled, then photographed; it is stopped whatever happens."""
    volume = volume or Volume()
    # the lake polled every second; the scheduled rollups and expiry as make local runs them
    with stack_process.start({"LAKE_POLL_INTERVAL_SECONDS": "1"}) as stack:
        say(f"Local stack at {stack.base}; sending {volume.days:g} days of visits (seed {SEED})…")
        pageviews, since = populate(stack.base, past_visits(volume, int(time.time() * 1000)))
        say(f"Sent {pageviews} page views; waiting for the lake…")
        wait_for_lake(stack.base, pageviews, since)
        # the last minutes' visits once the past is in: sending the past takes minutes on a laptop
        recent, _ = populate(stack.base, recent_visits(volume, int(time.time() * 1000)))
        pageviews += recent
        wait_for_lake(stack.base, pageviews, since)
        say("Photographing…")
        result = shoot(stack.base, out_dir)
        result.pageviews = pageviews
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--quick", action="store_true", help="fewer visits (a test's run)")
    args = parser.parse_args(argv)
    result = run(args.out, QUICK if args.quick else Volume())
    for path in result.files:
        print(f"  {path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path}"
              f"  {path.stat().st_size // 1024} KB")
    for empty in result.empty:
        print(f"empty: {empty}", file=sys.stderr)
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())

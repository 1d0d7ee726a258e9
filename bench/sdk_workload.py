"""What the website SDK really sends (issue 16): the snippet (chalicelib/static/liveinsight.js, as the API
serves it) driven in Debian's Chromium over (a) a multi-page site and (b) a single-page app, every request it
sends recorded (events, bytes), so `make bench` prices what browsers send instead of a guess.

A loopback HTTP server serves the pages and the snippet and answers `POST /events` as the collector does
(200, every event `accepted`), keeping each body. A visit is a fresh browser context (a new visitor: empty
localStorage) that lands on a page from a search engine and moves on: of 1-8 pages (48% bounce, as
scripts/traffic_model.py), by a link of the site, sometimes Back; a page is sometimes hidden and shown again
(a tab switch); the visit ends by closing the tab, or by a link to another site (answered locally: nothing
leaves loopback). Dwell is scaled to 1.1-2.5 s a page: the SDK's requests depend on time only through its
1-second batch timer, which a real dwell (median 40 s) passes too. Seeded: the same run makes the same
visits (the browser's timing may still move an event between requests).

`.venv/bin/python -m bench.sdk_workload [--quick]`; bench/run.py replays the recorded requests through the
collector for the cost per page view.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

SNIPPET = PROJECT_DIR / "chalicelib" / "static" / "liveinsight.js"
SITE = "demo"  # the site of the stage bench/run.py replays the requests on
PAGES = 12
BOUNCE_SHARE = 0.48
VISIT_HEADER = "X-Bench-Visit"  # which visit (browser context) a request came from: the replay's visitor
OTHER_SITE = "http://partner.example/"  # an outbound link's target: fulfilled by the browser context, locally
QUICK_VISITS = {"multi_page": 6, "spa": 4}
FULL_VISITS = {"multi_page": 60, "spa": 30}

_HEAD = ('<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
         '<script defer src="/liveinsight.js" data-site="' + SITE + '" data-outbound></script></head>')
_FILLER = "<p>" + "Lorem ipsum dolor sit amet. " * 60 + "</p>"


def multi_page(n: int) -> str:
    links = "".join(f'<li><a id="to{k}" href="/p{k}.html">Page {k}</a></li>' for k in range(PAGES) if k != n)
    return (_HEAD.format(title=f"Page {n}") + f"<body><h1>Page {n}</h1><ul>{links}</ul>"
            f'<a id="out" href="{OTHER_SITE}">A partner</a>' + _FILLER * 3 + "</body></html>")


# A router of the usual kind: links with data-route change the view with history.pushState.
SPA = (_HEAD.format(title="App") + """<body><h1 id="view">/</h1><nav>"""
       + "".join(f'<a data-route href="/app/v{k}">View {k}</a> ' for k in range(PAGES)) + """</nav>""" + _FILLER * 3
       + """<script>
document.addEventListener("click", function (e) {
  var a = e.target.closest("a[data-route]");
  if (!a) return;
  e.preventDefault();
  history.pushState({}, "", a.getAttribute("href"));
  document.getElementById("view").textContent = location.pathname;
  document.title = "App " + location.pathname;
});
</script></body></html>""")


class Recorder:
    """The pages, the snippet and `POST /events`, on 127.0.0.1; what each request carried."""

    def __init__(self, snippet: bytes) -> None:
        self.snippet = snippet
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a keepalive request of a page that is gone: nobody reads the answer

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/liveinsight.js":
                    return self._send(200, recorder.snippet, "text/javascript")
                if path.startswith("/app"):
                    return self._send(200, SPA.encode(), "text/html")
                if path.startswith("/p") and path.endswith(".html") and path[2:-5].isdigit():
                    return self._send(200, multi_page(int(path[2:-5])).encode(), "text/html")
                return self._send(404, b"not here", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                events = json.loads(body)["events"]
                with recorder._lock:
                    recorder.requests.append({"visit": int(self.headers.get(VISIT_HEADER, -1)),
                                              "body": body.decode(), "bytes": len(body), "events": len(events),
                                              "page_views": sum(e["event_type"] == "page_view" for e in events),
                                              "types": [e["event_type"] for e in events]})
                answer = json.dumps({"events": [{"event_id": e["event_id"], "status": "accepted"} for e in events]})
                return self._send(200, answer.encode(), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def _pages_in_visit(rnd: random.Random) -> int:
    return 1 if rnd.random() < BOUNCE_SHARE else rnd.randint(2, 8)


def _dwell(page, rnd: random.Random) -> None:
    """Time on the page (scaled), a scroll, and sometimes a tab switch (hidden, then shown again)."""
    page.wait_for_timeout(rnd.uniform(1100, 2500))
    page.mouse.wheel(0, rnd.randint(200, 3000))
    if rnd.random() < 0.15:
        page.evaluate("""() => {
          const set = (state) => {
            Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
          };
          set("hidden"); set("visible");
        }""")
    page.wait_for_timeout(200)


def _visit(browser, base: str, kind: str, rnd: random.Random, number: int) -> int:
    """One visitor's visit; the page views it made."""
    context = browser.new_context(extra_http_headers={VISIT_HEADER: str(number)})
    context.route(OTHER_SITE + "**", lambda route: route.fulfill(status=200, body="elsewhere",
                                                                 content_type="text/html"))
    page = context.new_page()
    pages = _pages_in_visit(rnd)
    landing = f"{base}/p{rnd.randrange(PAGES)}.html" if kind == "multi_page" else f"{base}/app/v{rnd.randrange(PAGES)}"
    page.goto(landing, referer="https://www.google.com/")
    page.wait_for_load_state("load")
    for n in range(pages):
        _dwell(page, rnd)
        if n == pages - 1:
            break
        if kind == "spa":  # another view than this one (the same one is no new page view)
            here = int(page.evaluate("location.pathname").rsplit("v", 1)[1])
            page.locator("a[data-route]").nth(rnd.choice([k for k in range(PAGES) if k != here])).click()
        elif n > 0 and rnd.random() < 0.1:
            page.go_back(wait_until="load")
        else:
            targets = page.locator("ul a")
            with page.expect_navigation(wait_until="load"):
                targets.nth(rnd.randrange(targets.count())).click()
    if kind == "multi_page" and rnd.random() < 0.2:
        with page.expect_navigation():
            page.click("#out")  # leaves for another site
        page.wait_for_timeout(300)
    page.close()  # as a tab is closed: pagehide runs
    page.wait_for_timeout(300) if not page.is_closed() else time.sleep(0.3)  # its keepalive request leaves
    context.close()
    return pages


def record(kind: str, visits: int, seed: int = 16, snippet: bytes | None = None) -> dict:
    """Runs the visits of one kind of site; its requests and what they carried. `snippet`: another build of
    the SDK (an older one, to compare), else the one the API serves."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    rnd = random.Random(f"{seed}-{kind}")
    recorder = Recorder(snippet or SNIPPET.read_bytes())
    started = time.perf_counter()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                made = sum(_visit(browser, recorder.base, kind, rnd, n) for n in range(visits))
            finally:
                browser.close()
        time.sleep(0.5)  # a keepalive request of the last page closed may still be on its way
    finally:
        recorder.stop()
    requests = recorder.requests
    page_views = sum(r["page_views"] for r in requests)
    events = sum(r["events"] for r in requests)
    return {"kind": kind, "visits": visits, "page_views_made": made, "page_views_sent": page_views,
            "requests": len(requests), "events": events,
            "requests_per_page_view": round(len(requests) / max(1, page_views), 3),
            "events_per_request": round(events / max(1, len(requests)), 2),
            "bytes_per_request": round(sum(r["bytes"] for r in requests) / max(1, len(requests))),
            "event_types": {t: sum(r["types"].count(t) for r in requests)
                            for t in sorted({t for r in requests for t in r["types"]})},
            "seconds": round(time.perf_counter() - started, 1), "recorded": requests}


def measure(quick: bool = False) -> dict:
    visits = QUICK_VISITS if quick else FULL_VISITS
    return {kind: record(kind, n) for kind, n in visits.items()}


def summary(recorded: dict) -> str:
    return "\n".join(
        f"{kind}: {r['visits']} visits, {r['page_views_sent']} page views in {r['requests']} requests "
        f"({r['requests_per_page_view']} a page view, {r['events_per_request']} events and "
        f"{r['bytes_per_request']} bytes a request); events {r['event_types']}" for kind, r in recorded.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few visits of each kind (the tests' run)")
    args = parser.parse_args(argv)
    recorded = measure(args.quick)
    print(summary(recorded))
    print(json.dumps({k: {n: v for n, v in r.items() if n != "recorded"} for k, r in recorded.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

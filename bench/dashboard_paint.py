"""The dashboard's first meaningful paint and page weight (issue 15: paint <= 1 s on the local stack with
1,000,000 events stored; the page's JS + CSS <= 60 KB gzipped), measured in Debian's Chromium.

A fresh local stack (scripts/local_stack.py, as tests/e2e start it) per period, its lake in moto's S3
holding 30 compacted days ending today (today's partition compacted too, its events before now), then
/dashboard?site=shop&period=... opened once cold (lake cache empty, query modules not yet imported) and
reloaded warm. Paint and completeness are timed inside the page (performance.now() from navigation start,
a MutationObserver and the next animation frame); the page weight is gzip -9 of every document, script and
style sheet the browser actually requested.

`.venv/bin/python -m bench.dashboard_paint [--quick]`; part of `make bench` (bench/run.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.lake_cost import DAY_MS, build_compacted_lake  # noqa: E402
from bench.query_latency import GOALS  # noqa: E402

SITE = "shop"
DAYS = 30
PERIODS = ("day", "7d", "30d")
QUICK_PERIODS = ("day", "30d")  # the tests' run: the shortest and the longest
TOKEN = "bench-dashboard-token-0123456789"
BUCKET = "liveinsight-bench-lake"
PAINT_TARGET_SECONDS = 1.0
WEIGHT_TARGET_BYTES = 60_000  # 60 KB of JS + CSS, gzipped (the HTML is counted beside it)
LOAD_TIMEOUT_MS = 180_000
WEIGHED_TYPES = ("document", "script", "stylesheet")

# Runs in the page before its own scripts: signs in as test_dashboard.py does (the token in sessionStorage),
# logs each fetch (what it asked, when it started, when its body had arrived) and marks, from navigation
# start, the DOM moment each part is there and the animation frame after it (the frame that paints it).
PROBE = """
(() => {
  sessionStorage.setItem("liveinsight.token", %(token)s);
  const probe = window.__paint = { marks: {}, requests: [] };
  const realFetch = window.fetch;
  window.fetch = function (url, options) {
    const entry = { url: String(url), start: performance.now() };
    try {
      const body = options && options.body ? JSON.parse(options.body) : null;
      if (body) Object.assign(entry, { dimensions: body.dimensions || [], metrics: body.metrics || [],
                                       steps: body.steps, date_range: body.date_range });
    } catch (e) { /* not JSON: nothing to note */ }
    probe.requests.push(entry);
    return realFetch.apply(this, arguments).then((response) => {
      entry.status = response.status;
      response.clone().text().then(() => { entry.end = performance.now(); });
      return response;
    });
  };
  function mark(name) {
    if (probe.marks[name + "_dom"] !== undefined) return;
    probe.marks[name + "_dom"] = performance.now();
    requestAnimationFrame(() => { probe.marks[name] = performance.now(); });
  }
  function check() {
    const values = document.querySelectorAll("#tiles .tile .value");
    const tiles = values.length > 1 && Array.prototype.every.call(values, (v) => v.hasAttribute("data-value"));
    const svg = document.querySelector("#chart svg[data-points]");
    const line = svg && svg.querySelector("path.series.main");
    const chart = !!(line && Number(svg.getAttribute("data-points")) > 0 && line.getAttribute("d"));
    if (tiles) mark("tiles");
    if (chart) mark("chart");
    if (tiles && chart) mark("paint");
    const cards = document.querySelectorAll("#cards .li-card");
    if (tiles && chart && cards.length && !document.querySelector("#cards [aria-busy]")) {
      probe.cards = cards.length;
      probe.cardErrors = document.querySelectorAll("#cards .li-error").length;
      mark("complete");
    }
  }
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true,
                                                  characterData: true });
})();
"""


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered)), "p95_ms": round(p95), "max_ms": round(ordered[-1]),
            "runs": len(ordered)}


def upload_lake(root: str, endpoint: str) -> int:
    """Every object of the built lake into the stack's bucket (moto's S3 on loopback); objects put."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local")
    files = sorted(p for p in Path(root).rglob("*") if p.is_file())
    for path in files:
        s3.put_object(Bucket=BUCKET, Key=path.relative_to(root).as_posix(), Body=path.read_bytes())
    return len(files)


def _query_name(entry: dict) -> str:
    """What a logged fetch asked for, in a few words (tiles, chart, a card's dimension, the funnel)."""
    url = entry["url"]
    if "funnel" in url:
        return "funnel"
    if "api/v2/query" not in url:
        return url.rsplit("/", 1)[-1].split("?")[0]
    dimensions = entry.get("dimensions") or []
    if not dimensions:
        return "tiles"
    return "chart " + dimensions[0] if dimensions[0].startswith("time:") else dimensions[0]


def _load(page, url: str) -> dict:
    page.goto(url)
    try:
        page.wait_for_function("() => window.__paint && window.__paint.marks.complete !== undefined",
                               timeout=LOAD_TIMEOUT_MS)
    except Exception as exc:  # noqa: BLE001 - a page that never completes: say what it was waiting for
        state = page.evaluate("""() => ({status: (document.getElementById("status") || {}).textContent,
            marks: (window.__paint || {}).marks, cards: (window.__paint || {}).cards,
            pending: ((window.__paint || {}).requests || []).filter(r => r.end === undefined).map(r => r.url)})""")
        raise RuntimeError(f"the dashboard at {url} did not complete in {LOAD_TIMEOUT_MS} ms: {state}") from exc
    probe = page.evaluate("window.__paint")
    status = page.inner_text("#status")
    if "Could not" in status or probe.get("cardErrors"):
        raise RuntimeError(f"the dashboard did not answer at {url}: {status!r}, {probe.get('cardErrors')} card errors")
    marks = probe["marks"]
    requests = [{"what": _query_name(r), "start_ms": round(r["start"]), "end_ms": round(r["end"]) if "end" in r
                 else None, "status": r.get("status")} for r in probe["requests"]]
    return {"paint_ms": round(marks["paint"]), "tiles_ms": round(marks["tiles"]), "chart_ms": round(marks["chart"]),
            "complete_ms": round(marks["complete"]), "cards": probe.get("cards"), "requests": requests}


def _weigh(responses: list) -> dict:
    """gzip -9 of each document, script and style sheet the page requested (in request order)."""
    files = []
    for response in responses:
        body = response.body()
        files.append({"path": response.url.split("//", 1)[-1].split("/", 1)[-1].split("?")[0],
                      "type": response.request.resource_type, "bytes": len(body),
                      "gzip_bytes": len(gzip.compress(body, compresslevel=9, mtime=0))})
    assets = [f for f in files if f["type"] != "document"]
    js_css = sum(f["gzip_bytes"] for f in assets)
    return {"files": files, "js_css_gzip_bytes": js_css,
            "total_gzip_bytes": sum(f["gzip_bytes"] for f in files), "target_js_css_gzip_bytes": WEIGHT_TARGET_BYTES,
            "met": js_css <= WEIGHT_TARGET_BYTES and bool(assets)}


def measure_period(browser, lake_root: str, period: str, reloads: int, cache_dir: str) -> dict:
    """A fresh stack with the lake uploaded; the period's first (cold) load, then `reloads` warm ones."""
    from scripts import stack_process

    sites = {SITE: {"origins": [], "goals": GOALS}}
    stack = stack_process.start({"LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": SITE,
                         "LIVEINSIGHT_API_TOKEN": TOKEN, "LIVEINSIGHT_LAKE_BUCKET": BUCKET,
                         # the query function's local lake copies (LakeCache under the temp dir): empty at start
                         "TMPDIR": cache_dir,
                         # the minute jobs (expiry, rollup, compaction) stay out of the timed loads
                         "EXPIRY_INTERVAL_SECONDS": "3600"})
    try:
        objects = upload_lake(lake_root, stack.dynamodb_url)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(PROBE % {"token": json.dumps(TOKEN)})
        page = context.new_page()
        weighed = []
        page.on("response", lambda r: weighed.append(r) if r.request.resource_type in WEIGHED_TYPES else None)
        url = f"{stack.base}/dashboard?site={SITE}&period={period}"
        cold = _load(page, url)
        weight = _weigh(weighed)
        warm = [_load(page, url) for _ in range(reloads)]
        context.close()
    finally:
        stack.stop()
    return {"period": period, "objects_uploaded": objects, "cold": cold, "weight": weight,
            "warm_paint": _percentiles([w["paint_ms"] for w in warm]),
            "warm_complete": _percentiles([w["complete_ms"] for w in warm]),
            "warm_tiles": _percentiles([w["tiles_ms"] for w in warm]),
            "warm_chart": _percentiles([w["chart_ms"] for w in warm]),
            "warm_requests_last_load": warm[-1]["requests"]}


def measure(quick: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    events = 50_000 if quick else 1_000_000
    chosen = QUICK_PERIODS if quick else PERIODS
    reloads = 2 if quick else 10
    now_ms = int(time.time() * 1000)
    day0_ms = (now_ms // DAY_MS - (DAYS - 1)) * DAY_MS  # 30 UTC days, the last one today
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root, sync_playwright() as playwright:
        stored = build_compacted_lake(root, DAYS, events, day0_ms=day0_ms, until_ms=now_ms)
        build_seconds = time.perf_counter() - started
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            periods = {}
            for period in chosen:
                with tempfile.TemporaryDirectory() as cache_dir:
                    periods[period] = measure_period(browser, root, period, reloads, cache_dir)
        finally:
            browser.close()
    weight = periods[chosen[0]]["weight"]
    worst_warm_p50 = max(p["warm_paint"]["p50_ms"] for p in periods.values())
    return {"events": events // DAYS * DAYS, "days": DAYS, "stored_bytes": stored, "today": "compacted",
            "lake_build_seconds": round(build_seconds, 1), "periods": periods, "weight": weight,
            "target_paint_ms": round(PAINT_TARGET_SECONDS * 1000),
            "paint_met_warm_p50": worst_warm_p50 <= PAINT_TARGET_SECONDS * 1000, "quick": quick,
            "seconds": round(time.perf_counter() - started)}


def table(figures: dict) -> str:
    lines = [f"dashboard over {figures['events']:,} events in {figures['days']} compacted days (local stack, "
             f"Chromium); first meaningful paint = every tile's number and the chart's points, target "
             f"<= {figures['target_paint_ms']} ms"]
    for period, p in figures["periods"].items():
        lines.append(f"  {period:>4}: cold paint {p['cold']['paint_ms']} ms (complete {p['cold']['complete_ms']} ms); "
                     f"warm paint p50 {p['warm_paint']['p50_ms']} / p95 {p['warm_paint']['p95_ms']} ms, complete "
                     f"p50 {p['warm_complete']['p50_ms']} / p95 {p['warm_complete']['p95_ms']} ms "
                     f"({p['warm_paint']['runs']} reloads, {len(p['warm_requests_last_load'])} requests a load)")
    w = figures["weight"]
    lines.append(f"  page weight (gzip -9): JS + CSS {w['js_css_gzip_bytes']:,} B "
                 f"(target <= {w['target_js_css_gzip_bytes']:,}),"
                 f" with the HTML {w['total_gzip_bytes']:,} B: " +
                 ", ".join(f"{f['path']} {f['gzip_bytes']:,}" for f in w["files"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50,000 events, day and 30d, 2 reloads: the tests' run")
    args = parser.parse_args(argv)
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    figures = measure(args.quick)
    print(table(figures))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

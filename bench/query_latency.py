"""Stats API latency over the lake: p50/p95 of filtered 30-day breakdowns and of a 4-step funnel over
1,000,000 events (compacted days, as compaction leaves them), answered by the API's own path
(`plausible.run` over `runner.answer`: translation, DuckDB, response), warm, in a fresh process,
each LIST and GET of the lake waiting S3's typical time (bench/prices.py S3_MS_PER_CALL).

`.venv/bin/python -m bench.query_latency [--quick]`; part of `make bench` (bench/run.py).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402
from bench.cli import bench_main  # noqa: E402
from bench.lake_cost import DAY0_MS, DAY_MS, DirectoryLakeObjects, Quiet, build_compacted_lake  # noqa: E402

SITE = "shop"
DAYS = 30
BREAKDOWN_TARGET_P95_SECONDS, FUNNEL_TARGET_P95_SECONDS = 1.5, 3.0
# The bench workload's pages and events (bench/lake_workload.py): a shop's path to a paid signup.
GOALS = [{"name": "Visit /", "page": "/"}, {"name": "Read the blog", "page": "/blog*"},
         {"name": "Visit /pricing", "page": "/pricing"},
         {"name": "Visit /docs", "page": "/docs*"}, {"name": "Visit /signup", "page": "/signup"},
         {"name": "Signup", "event": "signup", "currency": "USD"}]
# Most page views match a step (blog posts): the heavy case, every one of them a row of each step's pass.
FUNNEL_STEPS = ["Visit /", "Read the blog", "Visit /docs", "Visit /signup"]
# Filtered 30-day breakdowns, as an analyst clicks through a dashboard: each answered in turn, repeatedly.
BREAKDOWNS = [
    {"dimensions": ["event:page"], "filters": [["is", "visit:device", ["mobile"]]]},
    {"dimensions": ["visit:source"], "filters": [["is", "visit:country", ["US", "DE", "GB"]],
                                                 ["contains", "event:page", ["blog"]]]},
    {"dimensions": ["visit:country"], "filters": [["is_not", "visit:channel", ["Direct"]]]},
    {"dimensions": ["event:page"], "filters": [["or", [["is", "visit:browser", ["Safari", "Mobile Safari"]],
                                                        ["matches", "visit:entry_page", ["^/docs"]]]]]},
    {"dimensions": ["time:day"], "filters": [["is", "visit:device", ["desktop"]], ["is", "visit:country", ["US"]]]},
    {"dimensions": ["event:goal"], "filters": [["is", "visit:channel", ["Organic Search"]]],
     "metrics": ["visitors", "events", "conversion_rate", "total_revenue"]},
]
METRICS = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "percentage"]


def _settings():
    from chalicelib.core.settings import Settings, parse_sites

    sites = parse_sites(json.dumps({SITE: {"goals": GOALS}}))
    return Settings(stage="bench", sites=sites, default_site_id=SITE, event_retention_days=400)


def _percentiles(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_seconds": round(statistics.median(ordered), 3), "p95_seconds": round(p95, 3),
            "max_seconds": round(ordered[-1], 3), "runs": len(ordered)}


def _timed(run, rounds: int) -> tuple[list[float], object]:
    seconds, last = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        last = run()
        seconds.append(time.perf_counter() - started)
    return seconds, last


def latency_child(lake_root: str, rounds: int) -> dict:
    """In a fresh process: each breakdown and the funnel answered once to warm the cache (the query
    function's local copies), then `rounds` times each; percentiles over all the warm runs."""
    from chalicelib.query import plausible
    from chalicelib.query.runner import answer
    from chalicelib.store.lake_duckdb import LakeCache

    settings, lake = _settings(), DirectoryLakeObjects(lake_root, request_ms=prices.S3_MS_PER_CALL)
    date_range = [_iso_day(DAY0_MS), _iso_day(DAY0_MS + (DAYS - 1) * DAY_MS)]
    now_ms = DAY0_MS + DAYS * DAY_MS + 3_600_000
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = LakeCache(root=cache_dir)

        def ask(request: dict) -> dict:
            return answer(request, lake, settings, Quiet(), cache=cache)

        def breakdown(spec: dict):
            body = {"site_id": SITE, "date_range": date_range, "metrics": spec.get("metrics", METRICS),
                    "dimensions": spec["dimensions"], "filters": spec["filters"], "pagination": {"limit": 100}}
            return plausible.run(body, ask, settings.sites, settings.event_retention_days, now_ms)

        cold_started = time.perf_counter()
        for spec in BREAKDOWNS:
            breakdown(spec)
        cold_seconds = time.perf_counter() - cold_started
        warm: list[float] = []
        rows = 0
        for spec in BREAKDOWNS:
            seconds, last = _timed(lambda spec=spec: breakdown(spec), rounds)
            warm += seconds
            rows += len(last["results"])
        funnel = _funnel_figures(lake, cache, settings, date_range, now_ms, rounds)
    return {"breakdown": {**_percentiles(warm), "queries": len(BREAKDOWNS), "rows_answered": rows,
                          "first_pass_seconds": round(cold_seconds, 3)}, "funnel": funnel}


def _funnel_figures(lake, cache, settings, date_range: list[str], now_ms: int, rounds: int) -> dict:
    from chalicelib.query import funnel, funnel_sql

    def ask(request: dict) -> dict:
        return funnel_sql.answer(request[funnel.FUNNEL], lake, settings, Quiet(), cache=cache)

    body = {"site_id": SITE, "date_range": date_range, "steps": FUNNEL_STEPS}
    run = lambda: funnel.run(body, ask, settings.sites, settings.event_retention_days, now_ms)  # noqa: E731
    run()
    seconds, last = _timed(run, rounds)
    steps = [step["visitors"] for step in last["results"]["steps"]]
    return {**_percentiles(seconds), "steps": len(FUNNEL_STEPS), "visitors_per_step": steps}


def _iso_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def measure(quick: bool = False) -> dict:
    events = 30_000 if quick else 1_000_000
    rounds = 2 if quick else 10
    with tempfile.TemporaryDirectory() as root:
        stored = build_compacted_lake(root, DAYS, events)
        out = subprocess.run([sys.executable, "-m", "bench.query_latency", "--child", root, str(rounds)],
                             cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {"events": events // DAYS * DAYS, "days": DAYS, "stored_bytes": stored, **figures,
            "targets": {"breakdown_p95_seconds": BREAKDOWN_TARGET_P95_SECONDS,
                        "funnel_p95_seconds": FUNNEL_TARGET_P95_SECONDS}, "quick": quick}


def table(figures: dict) -> str:
    b, f = figures["breakdown"], figures["funnel"]
    return "\n".join([
        f"filtered 30-day breakdown over {figures['events']:,} events (Stats API v2, DuckDB, warm): "
        f"p50 {b['p50_seconds']} s, p95 {b['p95_seconds']} s over {b['runs']} runs of {b['queries']} queries "
        f"(target p95 <= {BREAKDOWN_TARGET_P95_SECONDS} s)",
        f"{f['steps']}-step funnel over the same: p50 {f['p50_seconds']} s, p95 {f['p95_seconds']} s "
        f"(target <= {FUNNEL_TARGET_P95_SECONDS} s); visitors per step {f['visitors_per_step']}",
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, __doc__, measure, table, ("child", ("LAKE_DIR", "ROUNDS"), latency_child))


if __name__ == "__main__":
    sys.exit(main())

"""make bench in its tiny configuration, so it cannot rot: it runs and reports every key (not timings)."""

import json
import math
import subprocess
import sys

import pytest

from bench.run import access_log_line
from tests.conftest import PROJECT_DIR

KEYS = {
    "realtime_freshness_p50_seconds", "realtime_freshness_p95_seconds",
    "events_per_second_single", "events_per_second_batch25", "ddb_requests_per_event_single",
    "ddb_requests_per_event_batch25", "write_units_per_page_view", "cold_start_ms", "peak_rss_mb",
    "realtime_query_items_10k", "realtime_query_items_100k", "expiry_items_read_1k_of_10k",
    "usd_per_million_page_views", "baseline_usd_per_million_page_views", "baseline_cold_start_ms",
    "baseline_peak_rss_mb", "stalled_answer_seconds", "lake_writer_events_per_second",
    "lake_bytes_per_event_compacted_1m", "lake_s3_requests_per_1000_events_1m", "lake_usd_per_million_page_views",
    "lake_query_30d_seconds", "lake_query_30d_peak_rss_mb", "lake_query_30d_files_read",
    "stats_api_breakdown_30d_p50_seconds", "stats_api_breakdown_30d_p95_seconds",
    "stats_api_funnel_4_steps_p50_seconds", "stats_api_funnel_4_steps_p95_seconds",
    "usd_per_million_page_views_spa", "usd_per_million_page_views_single_request",
    "requests_per_page_view_multi_page", "requests_per_page_view_spa", "write_units_per_page_view_spa",
    "usd_per_million_page_views_rest_api", "usd_per_million_page_views_function_url",
    "function_size_cheapest_fitting_mb", "function_cpu_ms_per_request", "cold_start_import_ms",
    "baseline_cold_start_import_ms", "write_units_per_page_view_by_visitors_per_minute",
    "usd_per_million_page_views_by_visitors_per_minute", "scale_curve_spread", "hot_key_ceiling_requests_per_second",
    "package_cold_start_ms", "package_cold_start_ms_without_bytecode", "baseline_package_cold_start_ms",
    "rollup_job_peak_rss_mb_by_visitors_per_minute", "rollup_job_lambda_seconds_by_visitors_per_minute",
}


def test_the_benchmark_runs_and_reports_every_figure(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "bench/run.py", "--quick", "--output", str(output)], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    last_line = json.loads(done.stdout.strip().splitlines()[-1])
    assert KEYS <= set(last_line)
    details = json.loads(output.read_text())["details"]
    assert details["quick"] is True
    # a DynamoDB that never answers: the documented 503 with Retry-After, every event to resend
    assert (details["stalled"]["status_code"], details["stalled"]["statuses"]) == (503, ["retry"])
    assert details["stalled"]["retry_after"]
    # counts, not timings: these are deterministic
    assert last_line["realtime_query_items_10k"] == last_line["realtime_query_items_100k"]
    assert last_line["expiry_items_read_1k_of_10k"] == 20  # the quick run ends 20 of 200 sessions
    # 3 a request (the duplicate check, the session read, the transaction of session and event), and the
    # per-site limit's reservation about once per 100 events; the statistics are the stream function's:
    # one invocation every 13 requests in the replay (a site of 100 visitors a minute), one update per bucket
    # the batch touches (4 shards; a bucket new this minute adds a refused update, an earlier hour a marker)
    assert 3.0 <= last_line["ddb_requests_per_event_single"] <= 3.1
    single = details["single"]
    assert single["event_statuses"] == {"accepted": single["page_views"]}  # every event new, every one stored
    assert single["stream_invocations_per_page_view"] == round(math.ceil(single["requests"] / 13)
                                                               / single["page_views"], 3)
    assert 1.0 <= single["stream_ddb_calls_per_invocation"] <= 9.0
    # the lake: one PUT per full stream batch of 1,000 events; a 30-day query of compacted days
    # reads one object a day
    assert details["lake"]["writer"]["puts_per_1000_events"] == 1.0
    assert last_line["lake_query_30d_files_read"] == 30
    # the Stats API's latency bench answers every breakdown and a funnel whose steps only narrow
    latency = details["query_latency"]
    assert latency["breakdown"]["queries"] == 6 and latency["breakdown"]["rows_answered"] > 6
    reached = latency["funnel"]["visitors_per_step"]
    assert len(reached) == 4 and reached[0] > reached[1] and reached == sorted(reached, reverse=True)
    # the SDK's recorded requests: every page view the browser made was sent and stored, a page's engagement
    # rides with the next page view (never a request of its own while the visitor follows the site's links),
    # and a single-page app needs fewer requests a page view than a multi-page site
    for kind in ("multi_page", "spa"):
        replayed = details[kind]
        assert replayed["recorded"]["page_views_made"] == replayed["recorded"]["page_views_sent"]
        assert replayed["page_views"] == replayed["recorded"]["page_views_sent"] > 0
    assert last_line["requests_per_page_view_spa"] < last_line["requests_per_page_view_multi_page"] < 2
    # the ingest path: the same recorded traffic priced through each API; only API Gateway's price differs
    # (REST $3.50, HTTP API $1.00, a function URL nothing, per million requests: bench/prices.py), and its
    # stage's access log line (the REST API's format is shorter; a function URL has none; $0.50 a GB)
    per_page_view = last_line["requests_per_page_view_multi_page"]
    http, rest = last_line["usd_per_million_page_views"], last_line["usd_per_million_page_views_rest_api"]
    http_line, rest_line = (len(access_log_line(module).encode()) + 1 for module in ("collector", "api"))
    assert rest - http == pytest.approx(per_page_view * (2.50 + (rest_line - http_line) * 0.5e-3), abs=0.01)
    assert http - last_line["usd_per_million_page_views_function_url"] == pytest.approx(
        per_page_view * (1.00 + http_line * 0.5e-3), abs=0.01)
    # the function's size: below a whole core its CPU costs the same at every size and only the wait for
    # DynamoDB grows with memory, so a request costs more the larger the function
    sizes = details["function_size"]["rows"]
    assert [r["memory_mb"] for r in sizes] == [128, 256, 512, 1024, 1769]
    costs = [r["usd_per_million_requests"] for r in sizes]
    assert costs == sorted(costs) and len(set(costs)) == len(costs)
    assert last_line["function_size_cheapest_fitting_mb"] in (128, 256, 512, 1024, 1769)
    # the minute job late in an hour of 1,000 visitors a minute: it read every item of the hour's 60 minutes
    # (and the current visitors' last five), rewrote the hour and the one minute summary due since its last run
    (job,) = details["rollup_scale"]["levels"]
    assert job["visitors_per_minute"] == 1_000 and (job["hours"], job["summaries_written"]) == (1, 1)
    assert job["items_read"] >= job["hour_items"] > 0

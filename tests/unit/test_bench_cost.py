"""The cost model of `make bench` (bench/run.py): what a request is billed for beyond its own printing."""

import json

from bench import prices
from bench.idle_cost import lambda_platform_log_bytes
from bench.run import access_log_line, our_cost, usd_per_million

FIGURES = {"requests": 150, "page_views": 100, "lambda_ms_per_request": 29.1, "write_units_per_page_view": 0.0,
           "read_units_per_page_view": 0.0, "log_bytes_per_page_view": 0.0,
           "stream_invocations_per_page_view": 0.0, "stream_usd_per_invocation": 0.0}


def test_the_access_log_line_is_the_stages_own_format():
    collector, rest = json.loads(access_log_line("collector")), json.loads(access_log_line("api"))
    assert set(collector) == {"requestId", "time", "httpMethod", "routeKey", "status", "responseLength",
                              "integrationLatency", "latency", "integrationStatus", "integrationError"}
    assert "resourcePath" in rest and "routeKey" not in rest
    assert collector["routeKey"] == "POST /events" and rest["resourcePath"] == "/events"


def test_each_request_pays_lambdas_own_lines_and_its_stages_access_log_line():
    platform = lambda_platform_log_bytes(30, 512)  # 29.1 ms billed as 30, at the collector's 512 MB
    line = len(access_log_line("collector").encode()) + 1
    assert our_cost(FIGURES) == round(usd_per_million(1.5, 29.1, 0.0, 0.0, 1.5 * (platform + line)), 3)
    # a function URL has no stage, so no access log, and no API price
    assert our_cost(FIGURES, "function_url") == round(usd_per_million(
        1.5, 29.1, 0.0, 0.0, 1.5 * platform, api_usd_per_million_requests=0.0), 3)
    rest_line = len(access_log_line("api").encode()) + 1
    assert our_cost(FIGURES, "rest_api") == round(usd_per_million(
        1.5, 29.1, 0.0, 0.0, 1.5 * (platform + rest_line),
        api_usd_per_million_requests=prices.API_GATEWAY_REST_USD_PER_MILLION_REQUESTS), 3)

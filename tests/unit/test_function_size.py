"""bench/function_size.py's arithmetic: a request's duration at a memory size, its price, the choice."""

from __future__ import annotations

import pytest

from bench import prices
from bench.function_size import choose, on_lambda_ms, usd_per_million_requests


def test_cpu_stretches_with_the_share_of_a_core_and_dynamodb_does_not():
    assert on_lambda_ms(10, 1769, 4) == 10 + 4 * prices.DYNAMODB_MS_PER_CALL
    assert on_lambda_ms(10, 3538, 0) == 10  # above one vCPU a single-threaded request is no faster
    assert on_lambda_ms(10, 128, 0) == pytest.approx(10 * 1769 / 128)
    assert on_lambda_ms(0, 512, 0) == 1  # Lambda bills 1 ms at least


def test_the_price_is_gb_seconds_and_the_request():
    assert usd_per_million_requests(1024, 100) == pytest.approx(
        0.1 * 1_000_000 * prices.LAMBDA_USD_PER_GB_SECOND + prices.LAMBDA_USD_PER_MILLION_REQUESTS, abs=1e-3)


def test_the_cheapest_size_within_the_latency_budget_and_the_memory_headroom_is_chosen():
    rows = [{"memory_mb": 128, "lambda_ms_p95": 260, "peak_rss_mb": 60, "usd_per_million_requests": 0.64},
            {"memory_mb": 256, "lambda_ms_p95": 140, "peak_rss_mb": 60, "usd_per_million_requests": 0.69},
            {"memory_mb": 512, "lambda_ms_p95": 80, "peak_rss_mb": 60, "usd_per_million_requests": 0.77}]
    assert choose(rows)["memory_mb"] == 256  # 128 MB answers too slowly
    heavy = [{**r, "peak_rss_mb": 200} for r in rows]
    assert choose(heavy)["memory_mb"] == 512  # 200 MB of 256 leaves too little free

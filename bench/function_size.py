"""The event collector's memory size, chosen by measurement: duration x price at each size.

    .venv/bin/python -m bench.function_size [--quick]      (make bench: function_size_cheapest_fitting_mb)

Lambda gives a function CPU in proportion to its memory: at 1,769 MB the equivalent of one vCPU (AWS
Lambda Developer Guide, "Configure Lambda function memory"). The collector serves visits' requests as the
SDK sends them (bench/size_child.py: a page view with the last page's engagement, cookieless visitors,
event ids, no CloudFront header) in a fresh process against a moto server, and the process's CPU time per
request is measured: our code and botocore's, moto's not (it is another process). A request's duration on
Lambda at a size is that CPU time stretched by the size's share of a core, plus 5 ms a DynamoDB call
(bench/prices.py, as the cost model). The size chosen is the cheapest whose p95 duration stays under
LATENCY_BUDGET_MS and whose peak memory leaves MEMORY_HEADROOM of it free. CPU time, unlike wall time,
does not depend on what else the machine runs. What is deployed is .chalice/config.json's (512 MB, which
the operations guide's troubleshooting names): docs/performance.md says why.

Not measured here: arm64 (this machine is x86_64; an emulator's timings say nothing of Graviton), and
the init phase at small sizes (Lambda's documentation does not say how it shares CPU then).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402

SIZES_MB = (128, 256, 512, 1024, 1769)
FULL_CORE_MB = 1769
LATENCY_BUDGET_MS = 150  # p95 of a request's time on Lambda: an SDK request (keepalive) should answer within it
MEMORY_HEADROOM = 0.4  # of the size left free at the peak: Python's heap grows with bursts of large batches


def on_lambda_ms(cpu_ms: float, memory_mb: int, calls: float) -> float:
    """A request's duration on Lambda at `memory_mb`: its CPU at that share of a core, and DynamoDB's latency."""
    return max(1.0, cpu_ms * max(1.0, FULL_CORE_MB / memory_mb) + calls * prices.DYNAMODB_MS_PER_CALL)


def usd_per_million_requests(memory_mb: int, billed_ms: float) -> float:
    gb_seconds = 1_000_000 * memory_mb / 1024 * billed_ms / 1000
    return round(gb_seconds * prices.LAMBDA_USD_PER_GB_SECOND + prices.LAMBDA_USD_PER_MILLION_REQUESTS, 3)


def choose(rows: list[dict]) -> dict:
    fitting = [r for r in rows if r["lambda_ms_p95"] <= LATENCY_BUDGET_MS
               and r["peak_rss_mb"] <= (1 - MEMORY_HEADROOM) * r["memory_mb"]]
    return min(fitting or rows, key=lambda r: (r["usd_per_million_requests"], r["memory_mb"]))


def measure_cpu(requests: list[tuple[bytes, str]] | None = None, quick: bool = False) -> dict:
    """CPU per request of the collector in a fresh process against a moto server: `requests` (body, source
    address) as given, or synthetic visits as the SDK sends them."""
    import boto3

    from bench.run import bench_child, moto_server
    from chalicelib.schema.tables import create_tables
    from tests.conftest import stage_environment

    count, warm_up = (40, 8) if quick else (400, 40)
    with moto_server() as endpoint:
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), "prod")
        # the local stage's sites and settings, as bench/run.py replays with, on tables named for prod
        env = {**os.environ, **stage_environment("local"), "LIVEINSIGHT_STAGE": "prod",
               "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
               "LIVEINSIGHT_COUNTRY_DB": str(PROJECT_DIR / "build" / "geo" / "country.mmdb"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        if requests is None:
            return bench_child("size_child.py", ["-", count, warm_up], env, timeout=900)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as listed:
            json.dump([{"body": body.decode(), "ip": ip} for body, ip in requests], listed)
            listed.flush()
            return bench_child("size_child.py", [listed.name, len(requests), warm_up], env, timeout=900)


def lambda_ms_per_request(requests: list[tuple[bytes, str]], calls_per_request: float, memory_mb: int) -> dict:
    """What bench/run.py prices: the given requests' CPU, stretched to `memory_mb`, with DynamoDB's latency."""
    got = measure_cpu(requests)
    return {"cpu_ms_per_request": got["cpu_ms_mean"],
            "lambda_ms_per_request": round(on_lambda_ms(got["cpu_ms_mean"], memory_mb, calls_per_request), 2)}


def measure(quick: bool = False) -> dict:
    got = measure_cpu(None, quick)
    calls = got["dynamodb_calls_per_request"]
    rows = []
    for memory_mb in SIZES_MB:
        billed = on_lambda_ms(got["cpu_ms_mean"], memory_mb, calls)
        rows.append({"memory_mb": memory_mb, "lambda_ms_mean": round(billed, 1),
                     "lambda_ms_p95": round(on_lambda_ms(got["cpu_ms_p95"], memory_mb, calls), 1),
                     "usd_per_million_requests": usd_per_million_requests(memory_mb, billed),
                     "peak_rss_mb": got["peak_rss_mb"]})
    chosen = choose(rows)
    return {"rows": rows, "chosen_memory_mb": chosen["memory_mb"], "latency_budget_ms": LATENCY_BUDGET_MS,
            "memory_headroom": MEMORY_HEADROOM, "measured": got}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = measure(parser.parse_args(argv).quick)
    got = result["measured"]
    print(f"CPU per request {got['cpu_ms_mean']} ms (p95 {got['cpu_ms_p95']}), {got['dynamodb_calls_per_request']} "
          f"DynamoDB calls, peak RSS {got['peak_rss_mb']} MB, over {got['requests']} requests")
    print(f"{'MB':>6} {'Lambda ms':>10} {'p95':>8} {'$/M req':>8}")
    for r in result["rows"]:
        print(f"{r['memory_mb']:>6} {r['lambda_ms_mean']:>10} {r['lambda_ms_p95']:>8} "
              f"{r['usd_per_million_requests']:>8}")
    print(f"chosen: {result['chosen_memory_mb']} MB (cheapest with p95 <= {LATENCY_BUDGET_MS} ms on Lambda and "
          f"{int(MEMORY_HEADROOM * 100)}% of memory free at the peak)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: LiveInsight's speed, memory and cost per page view, beside the baseline.

Prints a table, writes bench/results.json, and ends with one line of JSON. Everything DynamoDB
does is counted (requests with botocore hooks; capacity from real item sizes, bench/capacity.py);
time is measured for our own code and the emulator's time replaced by a per-call latency
(bench/prices.py), since moto is far slower than DynamoDB. `--quick` is the tiny run the tests use.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402
from bench.function_size import lambda_ms_per_request, on_lambda_ms  # noqa: E402
from bench.idle_cost import lambda_platform_log_bytes  # noqa: E402

RESULTS = PROJECT_DIR / "bench" / "results.json"
LAMBDA_MEMORY_GB = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["prod"][
    "lambda_memory_size"] / 1024
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
PAGES_PER_VISIT = 4  # page views in one visit (session) of the workload
# The replay's site: 100 visitors a minute (the scale curve's smallest), whose 1.6 requests a visitor-minute
# make ~13 requests in the statistics function's 5-second batching window (app.py).
REPLAY_REQUESTS_PER_BATCH = 13
STREAM_MEMORY_MB = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["prod"][
    "lambda_functions"]["aggregate_events"]["lambda_memory_size"]
MIN = 60_000


def _aws_env() -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)


def _settings():
    from chalicelib.core.settings import load_settings
    from tests.conftest import stage_environment

    return load_settings({**stage_environment("local"), "LIVEINSIGHT_STAGE": "bench"})


class Timer:
    """Time spent inside DynamoDB calls, to subtract from wall time."""

    def __init__(self, client) -> None:
        self.inside_seconds = 0.0
        self._start = 0.0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, **_):
        self._start = time.perf_counter()

    def _after(self, **_):
        self.inside_seconds += time.perf_counter() - self._start


def _visit_requests(visits: int, batch: int, now_ms: int):
    """Visits of PAGES_PER_VISIT page views by distinct visitors, as requests of `batch` events."""
    for visit in range(visits):
        views = [{"event_type": "page_view", "event_id": str(uuid.uuid4()), "user_id": f"visitor-{visit}",
                  "page_url": f"https://shop.example/p{(visit + i) % 30}?utm_source=news",
                  "referrer": "https://www.google.com/" if i == 0 else "https://shop.example/",
                  "timestamp": now_ms - (PAGES_PER_VISIT - i) * 15_000} for i in range(PAGES_PER_VISIT)]
        for start in range(0, len(views), batch):
            chunk = views[start:start + batch]
            yield json.dumps({"events": chunk} if len(chunk) > 1 else chunk[0]).encode(), len(chunk)


def measure_ingest(batch: int, page_views: int) -> dict:
    """Page views through the real collector (the handler's core), on moto in this process."""
    now = int(time.time() * 1000)
    # whole visits per request when batching: one visitor's batch is what the SDK sends
    requests = list(_visit_requests(page_views // PAGES_PER_VISIT, min(batch, PAGES_PER_VISIT), now)) \
        if batch <= PAGES_PER_VISIT else _batched(page_views, batch, now)
    return replay([(body, n, "203.0.113.1") for body, n in requests], now)


def measure_recorded(recorded: dict) -> dict:
    """The requests bench/sdk_workload.py recorded from the SDK in Chromium, replayed through the collector:
    each visit from an address of its own (a visitor of its own, as the server tells visitors apart)."""
    requests = [(r["body"].encode(), r["page_views"], f"198.18.{r['visit'] // 250}.{r['visit'] % 250 + 1}")
                for r in recorded["recorded"]]
    newest = max(e["timestamp"] for r in recorded["recorded"] for e in json.loads(r["body"])["events"])
    figures = replay(requests, newest + 1000)
    return {**figures, "recorded": {k: v for k, v in recorded.items() if k != "recorded"}}


def replay(requests: list[tuple[bytes, int, str]], now: int) -> dict:
    """Requests (body, page views in it, source address) through the real collector, on moto in this
    process, with the statistics stream function over what they stored every REPLAY_REQUESTS_PER_BATCH
    requests (a site of 100 visitors a minute; bench/scale_curve.py has busier ones); the minute jobs
    then end the sessions and roll their statistics up (an hour later)."""
    import boto3
    from moto import mock_aws

    from bench.capacity import CapacityMeter
    from chalicelib.ingest.collector import IngestRequest
    from chalicelib.schema.tables import EVENTS, TABLES, create_tables
    from chalicelib.services import Services
    from scripts.local_stream import StreamPoller

    _aws_env()
    settings = _settings()
    by_name = {spec.name(settings.stage): spec for spec in TABLES}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        services = Services(settings, dynamodb_client=client)
        # Warm-up: today's salt and the user-agent parser, paid once per process.
        with redirect_stdout(io.StringIO()):
            services.collector.collect(IngestRequest(
                body=json.dumps({"event_type": "page_view", "page_url": "https://shop.example/"}).encode(),
                content_type="text/plain", user_agent=UA, source_ip="203.0.113.1"))
        streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                               endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
        arn = client.describe_table(TableName=EVENTS.name(settings.stage))["Table"]["LatestStreamArn"]
        function = [services.aggregate_events]  # the stream function: measured once the warm-up is done
        poller = StreamPoller(streams, arn, lambda event: function[0](event))
        with redirect_stdout(io.StringIO()):
            poller.poll_once()  # the warm-up's event
        meter = CapacityMeter(client, boto3.client("dynamodb", region_name="us-east-1"), lambda t: by_name[t])
        timer = Timer(client)
        stream = StreamedStatistics(services.aggregate_events, meter, WideTimer(client))
        function[0] = stream.invoke
        log = io.StringIO()
        statuses: Counter = Counter()  # the events' answers: a resent event is a duplicate
        started = time.perf_counter()
        stream_seconds = 0.0
        with redirect_stdout(log):
            for n, (body, _, source_ip) in enumerate(requests, 1):
                result = services.collector.collect(IngestRequest(body=body, content_type="text/plain",
                                                                  user_agent=UA, source_ip=source_ip,
                                                                  country_header="DE"))
                assert result.status_code == 200, result.body
                statuses.update(event["status"] for event in result.body["events"])
                if n % REPLAY_REQUESTS_PER_BATCH == 0 or n == len(requests):
                    inside, polled = timer.inside_seconds, time.perf_counter()
                    poller.poll_once()
                    stream_seconds += time.perf_counter() - polled - (timer.inside_seconds - inside)
        wall = time.perf_counter() - started - stream_seconds
        ingest_calls = sum(meter.calls.values()) - stream.calls
        ingest_inside = timer.inside_seconds
        # All-in: the minute jobs end these sessions and roll up their statistics later.
        with redirect_stdout(log):
            services.expire_sessions(now_ms=now + 60 * MIN)
            services.roll_up_stats(now_ms=now + 60 * MIN)
        pv = sum(n for _, n, _ in requests)
    own_ms_per_request = (wall - ingest_inside) * 1000 / len(requests)
    return {
        "page_views": pv, "requests": len(requests), "events_per_second": round(pv / wall, 1),
        "ddb_requests_per_event": round(ingest_calls / pv, 4),
        "write_units_per_page_view": round(meter.write_units / pv, 3),
        "write_units_per_page_view_by_table": {k: round(v / pv, 3)
                                               for k, v in sorted(meter.write_units_by_table.items())},
        "read_units_per_page_view": round(meter.read_units / pv, 3),
        "own_ms_per_request": round(own_ms_per_request, 3),
        "ddb_calls_per_request": round(ingest_calls / len(requests), 3),
        "event_statuses": dict(sorted(statuses.items())),
        # the statistics stream function (256 MB: .chalice/config.json), one invocation a batch
        **stream.figures(pv),
        "log_bytes_per_page_view": round(len(log.getvalue().encode()) / pv, 1),
        # the same requests in a process of their own: CPU a request, at the function's share of a core
        **lambda_ms_per_request([(body, ip) for body, _, ip in requests], ingest_calls / len(requests),
                                round(LAMBDA_MEMORY_GB * 1024)),
    }


class WideTimer(Timer):
    """Time inside DynamoDB calls and the capacity meter's reads around them (from parameter building on)."""

    def __init__(self, client) -> None:  # not super().__init__: it would register the narrow hooks
        self.inside_seconds = 0.0
        self._start = 0.0
        client.meta.events.register_first("before-parameter-build.dynamodb", self._before)
        client.meta.events.register_last("after-call.dynamodb", self._after)


class StreamedStatistics:
    """The statistics stream function in the replay: its invocations, DynamoDB calls and CPU time, kept
    apart from the collector's, and priced as Lambda bills it at its own memory size. The stream is read
    every `requests_per_batch` requests, as Lambda's 5-second window gathers a site's requests."""

    def __init__(self, invoke, meter, timer) -> None:
        self._invoke, self._meter, self._timer = invoke, meter, timer
        self.invocations = self.calls = 0
        self.cpu_seconds = 0.0

    def invoke(self, lambda_event: dict) -> dict:
        # the mapping's filter (deploy/package.py STREAM_FILTER): Lambda invokes nobody for a daily salt
        records = [r for r in lambda_event["Records"]
                   if r["eventName"] == "INSERT" and "event_id" in r["dynamodb"].get("NewImage", {})]
        if not records:
            return {}
        calls, inside, started = sum(self._meter.calls.values()), self._timer.inside_seconds, time.process_time()
        try:
            return self._invoke({**lambda_event, "Records": records})
        finally:  # the time inside DynamoDB calls is moto's (and the meter's reads), not the function's
            self.cpu_seconds += max(0.0, time.process_time() - started - (self._timer.inside_seconds - inside))
            self.invocations += 1
            self.calls += sum(self._meter.calls.values()) - calls

    def figures(self, page_views: int) -> dict:
        invocations = max(1, self.invocations)
        # its own CPU (less the time inside DynamoDB calls, which is moto's) at the function's share of a
        # core, and DynamoDB's latency a call
        lambda_ms = on_lambda_ms(self.cpu_seconds * 1000 / invocations, STREAM_MEMORY_MB, self.calls / invocations)
        usd_per_invocation = (prices.LAMBDA_USD_PER_MILLION_REQUESTS / 1e6
                              + STREAM_MEMORY_MB / 1024 * lambda_ms / 1000 * prices.LAMBDA_USD_PER_GB_SECOND)
        return {"stream_invocations_per_page_view": round(self.invocations / page_views, 3),
                "stream_requests_per_batch": REPLAY_REQUESTS_PER_BATCH,
                "stream_ddb_calls_per_invocation": round(self.calls / invocations, 3),
                "stream_lambda_ms_per_invocation": round(lambda_ms, 2),
                "stream_usd_per_invocation": usd_per_invocation}


def _batched(page_views: int, batch: int, now: int):
    """Requests of `batch` events, each from one visitor: one browser's SDK batch, sent when 25
    events have gathered within its one-second timer (a busy single-page app)."""
    requests = []
    for r in range(page_views // batch):
        views = [{"event_type": "page_view", "event_id": str(uuid.uuid4()), "user_id": f"visitor-{r}",
                  "page_url": f"https://shop.example/p{i % 30}", "timestamp": now - (batch - i) * 30}
                 for i in range(batch)]
        requests.append((json.dumps({"events": views}).encode(), batch))
    return requests


def usd_per_million(requests_per_pv: float, lambda_ms_per_request: float, write_units: float, read_units: float,
                    log_bytes: float, put_metric_data_per_pv: float = 0.0,
                    api_usd_per_million_requests: float = prices.API_GATEWAY_HTTP_USD_PER_MILLION_REQUESTS) -> float:
    """All-in list price of a million page views (bench/prices.py); by default sent to the collector's HTTP API."""
    million = 1_000_000
    api = requests_per_pv * api_usd_per_million_requests
    lambda_requests = requests_per_pv * prices.LAMBDA_USD_PER_MILLION_REQUESTS
    gb_seconds = requests_per_pv * million * LAMBDA_MEMORY_GB * max(1.0, lambda_ms_per_request) / 1000
    lambda_duration = gb_seconds * prices.LAMBDA_USD_PER_GB_SECOND
    dynamodb = (write_units * prices.DYNAMODB_USD_PER_MILLION_WRITE_UNITS
                + read_units * prices.DYNAMODB_USD_PER_MILLION_READ_UNITS)
    logs = log_bytes * million / 1e9 * prices.CLOUDWATCH_LOGS_USD_PER_GB_INGESTED
    metrics = put_metric_data_per_pv * million / 1000 * prices.CLOUDWATCH_USD_PER_THOUSAND_PUT_METRIC_DATA
    return round(api + lambda_requests + lambda_duration + dynamodb + logs + metrics, 3)


# The ways a request reaches the collector: the price per million requests of what is in front, and the
# Terraform module whose stage writes an access log line per request (None: no access log).
WAYS_IN = {"collector": (prices.API_GATEWAY_HTTP_USD_PER_MILLION_REQUESTS, "collector"),
           "rest_api": (prices.API_GATEWAY_REST_USD_PER_MILLION_REQUESTS, "api"),
           "function_url": (0.0, None)}
# API Gateway's value of each $context variable the access logs print, for a POST /events.
CONTEXT_SAMPLES = {"requestId": "Kp3xYj0ZoAMEVxw=", "requestTime": "28/Nov/2026:10:14:39 +0000",
                   "httpMethod": "POST", "routeKey": "POST /events", "resourcePath": "/events", "status": "200",
                   "responseLength": "161", "integrationLatency": "31", "responseLatency": "33",
                   "integrationStatus": "200", "integration.status": "200", "integrationErrorMessage": "-"}


def access_log_line(module: str) -> str:
    """One request's line in a stage's access log, in the format terraform/modules/<module>/documents.tf gives
    it (compact JSON, as Terraform's jsonencode writes it)."""
    text = (PROJECT_DIR / "terraform" / "modules" / module / "documents.tf").read_text()
    block = text[text.index("access_log_format"):]
    fields = re.findall(r'(\w+)\s*=\s*"\$context\.([\w.]+)"', block[:block.index("})")])
    return json.dumps({name: CONTEXT_SAMPLES[variable] for name, variable in fields}, separators=(",", ":"))


def our_cost(figures: dict, way_in: str = "collector") -> float:
    """`way_in`: what is in front of the function (WAYS_IN; the collector's HTTP API by default). Lambda's
    duration: the requests' CPU at the function's share of a core plus DynamoDB's latency
    (bench/function_size.py). Logs: what the handler printed, Lambda's own START, END and REPORT lines of
    each invocation (the collector's and the statistics function's) and the stage's access log line."""
    api_price, access_log = WAYS_IN[way_in]
    requests_per_pv = figures["requests"] / figures["page_views"]
    per_request = (lambda_platform_log_bytes(math.ceil(figures["lambda_ms_per_request"]),
                                             round(LAMBDA_MEMORY_GB * 1024))
                   + (len(access_log_line(access_log).encode()) + 1 if access_log else 0))
    invocations = figures["stream_invocations_per_page_view"]
    stream_lines = invocations * lambda_platform_log_bytes(
        math.ceil(figures.get("stream_lambda_ms_per_invocation", 1)), STREAM_MEMORY_MB)
    log_bytes = figures["log_bytes_per_page_view"] + requests_per_pv * per_request + stream_lines
    stream = invocations * figures["stream_usd_per_invocation"] * 1_000_000
    return round(usd_per_million(requests_per_pv, figures["lambda_ms_per_request"],
                                 figures["write_units_per_page_view"], figures["read_units_per_page_view"],
                                 log_bytes, api_usd_per_million_requests=api_price) + stream, 3)


def baseline_cost(own_ms_per_event: float) -> float:
    # One request per event to a REST API (no access log: the guide names none); per event one put_item
    # (1 unit), one session update (1 unit: items under 1 KB) and one PutMetricData; it prints nothing of
    # its own, and Lambda prints its START, END and REPORT lines. Its own time (botocore's work left out,
    # which flatters it) at the same share of a core as ours.
    lambda_ms = (on_lambda_ms(own_ms_per_event, round(LAMBDA_MEMORY_GB * 1024), 2)
                 + prices.CLOUDWATCH_MS_PER_CALL)
    platform = lambda_platform_log_bytes(math.ceil(lambda_ms), round(LAMBDA_MEMORY_GB * 1024))
    return usd_per_million(1.0, lambda_ms, 2.0, 0.0, platform, put_metric_data_per_pv=1.0,
                           api_usd_per_million_requests=prices.API_GATEWAY_REST_USD_PER_MILLION_REQUESTS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server():
    """A moto server on a free loopback port for child processes (AWS_ENDPOINT_URL): its endpoint."""
    from moto.server import ThreadedMotoServer

    _aws_env()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto's state is the process's, shared by every server and mock_aws in it: each server starts empty
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield endpoint
    finally:
        server.stop()


def bench_child(script: str, args: list, env: dict, timeout: int = 600) -> dict:
    """bench/<script> in a fresh interpreter: the JSON of the `BENCH ` line it prints on stderr."""
    done = subprocess.run([sys.executable, str(PROJECT_DIR / "bench" / script), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    line = next((out for out in done.stderr.splitlines() if out.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"bench/{script} {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(line[6:])


@contextmanager
def cold_start_stage():
    """A moto server holding the prod stage's tables and the baseline's, for fresh processes to start
    against: the environment (endpoint, one site, a token) such a process needs."""
    import boto3

    from bench import baseline
    from chalicelib.schema.tables import create_tables

    with moto_server() as endpoint:
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        create_tables(dynamodb, "prod")
        for table, key in baseline.TABLES.items():
            dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
        yield {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_DYNAMODB": endpoint, "LIVEINSIGHT_STAGE": "prod",
               "LIVEINSIGHT_SITES": '{"default": {"origins": []}}', "LIVEINSIGHT_DEFAULT_SITE": "default",
               "LIVEINSIGHT_API_TOKEN": "bench-token-bench-token-1234"}


def measure_processes(cold_runs: int, rss_events: int, baseline_rss_events: int) -> dict:
    """Fresh processes against a moto server: cold starts and peak memory, ours and the baseline's."""
    with cold_start_stage() as stage:
        env = {**os.environ, **stage, "PYTHONDONTWRITEBYTECODE": "1"}

        def child(target: str, events: int, batch: int) -> dict:
            return bench_child("child.py", [target, events, batch], env)

        ours_runs = [child("ours", 1, 1) for _ in range(cold_runs)]
        theirs_runs = [child("baseline", 1, 1) for _ in range(cold_runs)]
        ours = [run["cold_start_ms"] for run in ours_runs]
        theirs = [run["cold_start_ms"] for run in theirs_runs]
        our_rss = child("ours", rss_events, 25)
        their_rss = child("baseline", baseline_rss_events, 25)
    return {"cold_start_ms": round(statistics.median(ours), 1),
            "baseline_cold_start_ms": round(statistics.median(theirs), 1),
            # Lambda's init phase is the import; the first request loads what it needs on the way
            "cold_start_import_ms": round(statistics.median(run["import_ms"] for run in ours_runs), 1),
            "baseline_cold_start_import_ms": round(statistics.median(run["import_ms"] for run in theirs_runs), 1),
            "peak_rss_mb": our_rss["peak_rss_mb"], "rss_events": our_rss["events"],
            "baseline_peak_rss_mb": their_rss["peak_rss_mb"], "baseline_rss_events": their_rss["events"]}


def measure_baseline_own_ms(events: int) -> float:
    """The baseline handler's own time per event (its AWS calls' time taken out), on moto."""
    import boto3
    from moto import mock_aws

    _aws_env()
    with mock_aws():
        from bench import baseline as module

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for table, key in module.TABLES.items():
            dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}])
        inside = [0.0]
        clients = [module.dynamodb.meta.client, module.cloudwatch]
        marks = {}
        for c in clients:
            c.meta.events.register("before-call", lambda **kw: marks.__setitem__("t", time.perf_counter()))
            c.meta.events.register("after-call", lambda **kw: inside.__setitem__(0, inside[0] + time.perf_counter()
                                                                                  - marks["t"]))
        from bench.child import api_event, batch

        started = time.perf_counter()
        for i in range(events):
            module.handler(api_event(batch(1, i)), None)
        wall = time.perf_counter() - started
    return (wall - inside[0]) * 1000 / events


def measure_realtime_items() -> dict:
    """Items one realtime query reads after 10,000 and after 100,000 events in its 30 minutes, once the minute
    job has summarised the finished minutes (stats/summary.py), 45 s into the current minute."""
    import boto3
    from moto import mock_aws

    from chalicelib.schema.tables import create_tables
    from chalicelib.services import Services
    from chalicelib.stats.buckets import Rollup, write_rollup

    _aws_env()
    settings = _settings()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        services = Services(settings, dynamodb_client=client)
        now = int(time.time() * 1000) // MIN * MIN + 45_000
        found = {}
        for label, events in (("10k", 10_000), ("100k", 90_000)):
            rollup = Rollup(settings.stats_shards)
            rollup.add_events({"site": "demo", "visitor_id": f"v{i % 2000}", "time_ms": now - (i % 30) * MIN,
                               "event_type": "page_view", "page_path": f"/p{i % 50}", "event_id": str(i)}
                              for i in range(events))
            write_rollup(services.stats, rollup, now, services.settings.max_event_age_ms)
            services.roll_up_stats(now_ms=now)
            before = services.stats.items_read
            services.stats_reader.realtime({"site": "demo"}, now)
            found[label] = services.stats.items_read - before
    return {"realtime_query_items_10k": found["10k"], "realtime_query_items_100k": found["100k"]}


def run(quick: bool) -> dict:
    from bench.dashboard_paint import measure as measure_dashboard_paint
    from bench.expiry_cost import measure as measure_expiry
    from bench.flood_items import measure as measure_floods
    from bench.freshness import measure as measure_freshness
    from bench.function_size import measure as measure_function_size
    from bench.idle_cost import measure as measure_idle
    from bench.lake_cost import measure as measure_lake
    from bench.package_cold_start import measure as measure_package_cold_start
    from bench.query_latency import measure as measure_query_latency
    from bench.rollup_scale import measure as measure_rollup_scale
    from bench.scale_curve import LEVELS, QUICK_LEVELS, curve
    from bench.sdk_workload import measure as measure_sdk_workload
    from bench.stalled_store import measure as measure_stalled
    from bench.user_agent_cost import measure as measure_user_agent

    recorded = measure_sdk_workload(quick)  # the SDK in Chromium: a multi-page site and a single-page app
    multi_page, spa = measure_recorded(recorded["multi_page"]), measure_recorded(recorded["spa"])
    single = measure_ingest(batch=1, page_views=40 if quick else 2000)  # the operations guide's curl request
    batch25 = measure_ingest(batch=25, page_views=50 if quick else 5000)
    processes = measure_processes(cold_runs=5, rss_events=200 if quick else 10_000,
                                  baseline_rss_events=50 if quick else 2_000)
    # the same, from the Lambda package in the runtime's clean interpreter: with its bytecode and without
    package_cold = measure_package_cold_start(1 if quick else 7)
    realtime = measure_realtime_items()
    expiry = measure_expiry(20, 200) if quick else measure_expiry(1000, 10_000)
    baseline_own_ms = measure_baseline_own_ms(20 if quick else 500)
    idle = measure_idle()  # the same in a quick run: one hour of each minute job, on an empty stage
    sizing = measure_function_size(quick)  # the collector's CPU a request, priced at each memory size
    stalled = measure_stalled()  # one request against an endpoint that never answers
    floods = measure_floods(quick)  # distinct paths, names, sources, visitors in one minute; then the jobs
    user_agent = measure_user_agent(quick)  # the User-Agent work of one request, 8 KB against normal
    lake = measure_lake(quick)  # stream writer, a replayed day of batches and compactions, a 30-day query
    latency = measure_query_latency(quick)  # Stats API v2: filtered 30-day breakdowns and a 4-step funnel
    paint = measure_dashboard_paint(quick)  # the dashboard in Chromium on the local stack: paint, page weight
    freshness = measure_freshness(quick)  # an event accepted -> counted in /stats/realtime, with the stream's window
    rollup = measure_rollup_scale(quick)  # the minute job late in a busy hour: its memory and CPU
    bills = {bill["page_views_per_month"]: bill for bill in lake["bills"]}
    days = {day["page_views_per_month"]: day for day in lake["replayed_days"]}
    results = {
        # the headline: what browsers running the SDK send, recorded (bench/sdk_workload.py) and replayed
        "usd_per_million_page_views": our_cost(multi_page),
        "usd_per_million_page_views_spa": our_cost(spa),
        # the ingest path's choice (docs/performance.md): the same recorded traffic through the REST API,
        # and through a Lambda function URL (no API Gateway price; no stage throttling, access log or guide URL)
        "usd_per_million_page_views_rest_api": our_cost(multi_page, "rest_api"),
        "usd_per_million_page_views_function_url": our_cost(multi_page, "function_url"),
        "requests_per_page_view_multi_page": multi_page["recorded"]["requests_per_page_view"],
        "requests_per_page_view_spa": spa["recorded"]["requests_per_page_view"],
        "write_units_per_page_view": multi_page["write_units_per_page_view"],
        "write_units_per_page_view_spa": spa["write_units_per_page_view"],
        # secondary rows: the operations guide's one page view per curl request, and 25 of one visitor
        "usd_per_million_page_views_single_request": our_cost(single),
        "usd_per_million_page_views_batch25": our_cost(batch25),
        "events_per_second_single": single["events_per_second"],
        "events_per_second_batch25": batch25["events_per_second"],
        "ddb_requests_per_event_single": single["ddb_requests_per_event"],
        "ddb_requests_per_event_batch25": batch25["ddb_requests_per_event"],
        "write_units_per_page_view_single_request": single["write_units_per_page_view"],
        "write_units_per_page_view_batch25": batch25["write_units_per_page_view"],
        "read_units_per_page_view": single["read_units_per_page_view"],
        "cold_start_ms": processes["cold_start_ms"],
        "cold_start_import_ms": processes["cold_start_import_ms"],
        "package_cold_start_ms": package_cold["package_cold_start_ms"],
        "package_cold_start_ms_without_bytecode": package_cold["package_cold_start_ms_without_bytecode"],
        "baseline_package_cold_start_ms": package_cold["baseline_package_cold_start_ms"],
        "peak_rss_mb": processes["peak_rss_mb"],
        **realtime,
        "expiry_items_read_1k_of_10k": expiry["items_read"],
        "expiry_items_read_per_ended_session": expiry["items_read_per_ended_session"],
        "baseline_usd_per_million_page_views": baseline_cost(baseline_own_ms),
        "baseline_cold_start_ms": processes["baseline_cold_start_ms"],
        "baseline_cold_start_import_ms": processes["baseline_cold_start_import_ms"],
        "baseline_peak_rss_mb": processes["baseline_peak_rss_mb"],
        "idle_usd_per_month": idle["usd_per_month"],
        "function_size_cheapest_fitting_mb": sizing["chosen_memory_mb"],
        "function_cpu_ms_per_request": sizing["measured"]["cpu_ms_mean"],
        "stalled_answer_seconds": stalled["stalled_answer_seconds"],
        "largest_item_bytes": floods["largest_item_bytes"],
        "flood_failed_requests": floods["flood_failed_requests"],
        "user_agent_ms_8kb": user_agent["user_agent_ms_8kb"],
        "user_agent_ms_normal": user_agent["user_agent_ms_normal"],
        "lake_writer_events_per_second": lake["writer"]["events_per_second"],
        "lake_bytes_per_event_compacted_1m": days[1_000_000]["bytes_per_event"],
        "lake_s3_requests_per_1000_events_1m": bills[1_000_000]["requests_per_1000_events"],
        "lake_usd_per_million_page_views": {f"{n // 1000}k": bill["usd_per_million_page_views"]
                                            for n, bill in bills.items()},
        "lake_query_30d_seconds": lake["query_30_days"]["warm_seconds"],
        "lake_query_30d_cold_seconds": lake["query_30_days"]["cold_seconds"],
        "lake_query_30d_peak_rss_mb": lake["query_30_days"]["peak_rss_mb"],
        "lake_query_30d_files_read": lake["query_30_days"]["files_read"],
        "stats_api_breakdown_30d_p50_seconds": latency["breakdown"]["p50_seconds"],
        "stats_api_breakdown_30d_p95_seconds": latency["breakdown"]["p95_seconds"],
        "stats_api_funnel_4_steps_p50_seconds": latency["funnel"]["p50_seconds"],
        "stats_api_funnel_4_steps_p95_seconds": latency["funnel"]["p95_seconds"],
        "dashboard_paint_warm_p50_ms": {k: p["warm_paint"]["p50_ms"] for k, p in paint["periods"].items()},
        "dashboard_paint_warm_p95_ms": {k: p["warm_paint"]["p95_ms"] for k, p in paint["periods"].items()},
        "dashboard_paint_cold_ms": {k: p["cold"]["paint_ms"] for k, p in paint["periods"].items()},
        "dashboard_complete_warm_p50_ms": {k: p["warm_complete"]["p50_ms"] for k, p in paint["periods"].items()},
        "dashboard_js_css_gzip_bytes": paint["weight"]["js_css_gzip_bytes"],
        "realtime_freshness_p50_seconds": freshness["freshness_p50_seconds"],
        "realtime_freshness_p95_seconds": freshness["freshness_p95_seconds"],
        "rollup_job_peak_rss_mb_by_visitors_per_minute": {
            str(r["visitors_per_minute"]): r["peak_rss_mb"] for r in rollup["levels"]},
        "rollup_job_lambda_seconds_by_visitors_per_minute": {
            str(r["visitors_per_minute"]): r["lambda_seconds_estimate"] for r in rollup["levels"]},
    }
    # One site from 100 to 100,000 visitors a minute: what grows is the statistics buckets (bench/scale_curve.py)
    scale = curve(QUICK_LEVELS if quick else LEVELS, results={**results, "details": {"multi_page": multi_page}})
    results = {
        **results,
        "write_units_per_page_view_by_visitors_per_minute": {
            str(r["visitors_per_minute"]): r["write_units_per_page_view"] for r in scale["levels"]},
        "usd_per_million_page_views_by_visitors_per_minute": {
            str(r["visitors_per_minute"]): r["usd_per_million_page_views"] for r in scale["levels"]},
        "scale_curve_spread": scale["spread_write_units"],
        "hot_key_ceiling_requests_per_second": scale["hot_key_ceiling_requests_per_second"],
        "details": {"multi_page": multi_page, "spa": spa, "single": single, "batch25": batch25,
                    "scale_curve": scale, "processes": processes, "package_cold_start": package_cold,
                    "expiry": expiry, "idle": idle,
                    "function_size": sizing, "stalled": stalled, "floods": floods, "user_agent": user_agent,
                    "lake": lake, "query_latency": latency, "dashboard_paint": paint, "freshness": freshness,
                    "rollup_scale": rollup,
                    "baseline_own_ms_per_event": round(baseline_own_ms, 3), "lambda_memory_gb": LAMBDA_MEMORY_GB,
                    "prices_as_of": prices.PRICES_AS_OF, "quick": quick},
    }
    return results


def table(results: dict) -> str:
    rows = [(k, v) for k, v in results.items() if k != "details"]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny run (for the tests), not a measurement")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(args.quick)
    print(table(results))
    print(f"({time.perf_counter() - started:.0f} s; details in {args.output})")
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "details"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a request's User-Agent costs the ingest path: an 8 KB one against a normal browser's.

    .venv/bin/python -m bench.user_agent_cost [--quick]      (make bench records user_agent_ms_8kb)

The User-Agent work of POST /events is chalicelib/enrich's: the bot check (is_bot: the crawler
list), the client description (describe_client: ua-parser and the device type), and the cookieless
visitor hash (visitor_hash), each as the collector calls it. Both parsers keep a cache keyed by the
User-Agent, which a flood of distinct User-Agents never hits: every run here uses a User-Agent not
seen before (a counter at its start), so each time is a cache miss, the cost an attacker can impose.
The parsers' one-off start (rule compilation) is paid before timing. Each figure is the median of
many runs, in milliseconds. Several 8 KB shapes are timed, since the crawler list's cost depends on
the text; `user_agent_ms_8kb` is the slowest shape's median. Then the whole collector on moto, once
with each User-Agent (DynamoDB emulated: compare the two, not the absolute figure).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

NORMAL = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.{n}.0 Safari/537.36")
SIZE = 8192
# Shapes of an 8 KB User-Agent; `{n}` makes each run's distinct.
SHAPES = {
    "browser_then_digits": NORMAL + " " + "0" * SIZE,
    "letters": "{n}" + "abcdefghij" * (SIZE // 10),
    "browser_then_words": NORMAL + " " + "compatible; like Gecko; Mobile " * (SIZE // 31),
    "repeated_browser": " ".join([NORMAL] * (SIZE // len(NORMAL) + 1)),
}
SALT = bytes(32)


def _user_agent(shape: str, n: int) -> str:
    return shape.replace("{n}", str(n), 1)[:SIZE]


def _ua_work():
    """The collector's User-Agent work, as one call (whatever functions the tree has)."""
    from chalicelib import enrich

    steps = [(name, getattr(enrich, name)) for name in ("is_bot", "describe_client") if hasattr(enrich, name)]
    if hasattr(enrich, "visitor_hash"):
        steps.append(("visitor_hash", lambda ua: enrich.visitor_hash(SALT, "demo", "203.0.113.9", ua)))

    def work(user_agent: str) -> None:
        for _, step in steps:
            step(user_agent)

    return work, [name for name, _ in steps]


def median_ms(work, shape: str, runs: int, offset: int) -> float:
    times = []
    for n in range(offset, offset + runs):
        user_agent = _user_agent(shape, n)
        started = time.perf_counter()
        work(user_agent)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def collector_ms(user_agents: list[str]) -> float:
    """The median time of POST /events (one page view) through the collector on moto."""
    import boto3
    from moto import mock_aws

    from bench.run import _aws_env, _settings
    from chalicelib.ingest.collector import IngestRequest
    from chalicelib.schema.tables import create_tables
    from chalicelib.services import Services

    _aws_env()
    settings = _settings()
    body = json.dumps({"event_type": "page_view", "page_url": "https://shop.example/"}).encode()
    times = []
    with mock_aws(), redirect_stdout(io.StringIO()):
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        collector = Services(settings, dynamodb_client=client).collector
        collector.collect(IngestRequest(body=body, content_type="text/plain", user_agent="warm-up"))  # the salt
        for user_agent in user_agents:
            request = IngestRequest(body=body, content_type="text/plain", user_agent=user_agent,
                                    source_ip="203.0.113.9")
            started = time.perf_counter()
            collector.collect(request)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(quick: bool = False) -> dict:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    work, steps = _ua_work()
    work(_user_agent(NORMAL, 0))  # matcher compilation and imports: once per process, not per request
    work(_user_agent(SHAPES["letters"], 0))
    normal_runs, long_runs = (50, 3) if quick else (2000, 25)
    normal = median_ms(work, NORMAL, normal_runs, offset=1)
    shapes = {name: round(median_ms(work, shape, long_runs, offset=1), 3) for name, shape in SHAPES.items()}
    slowest = max(shapes, key=shapes.get)
    collect_runs = 3 if quick else 15
    return {
        "user_agent_ms_normal": round(normal, 4),
        "user_agent_ms_8kb": shapes[slowest],
        "slowest_8kb_shape": slowest,
        "user_agent_ms_8kb_by_shape": shapes,
        "steps_timed": steps,
        "runs": {"normal": normal_runs, "8kb_each_shape": long_runs},
        "collector_ms_normal_user_agent": round(collector_ms(
            [_user_agent(NORMAL, 10_000 + n) for n in range(collect_runs)]), 2),
        "collector_ms_8kb_user_agent": round(collector_ms(
            [_user_agent(SHAPES[slowest], 10_000 + n) for n in range(collect_runs)]), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.user_agent_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few runs (for the tests), not a measurement")
    results = measure(parser.parse_args(argv).quick)
    for shape, ms in results["user_agent_ms_8kb_by_shape"].items():
        print(json.dumps({"user_agent": f"8 KB, {shape}", "median_ms": ms}))
    print(json.dumps({"user_agent": "normal", "median_ms": results["user_agent_ms_normal"]}))
    print(json.dumps({k: v for k, v in results.items() if k != "user_agent_ms_8kb_by_shape"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

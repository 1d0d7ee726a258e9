"""Realtime freshness: from an event accepted (POST /events answered 200) to the event counted in
GET /stats/realtime, on a local stack whose statistics stream is polled every 5 seconds (Lambda's
batching window for the statistics function, app.py), so the figure is the window's wait plus our own
work (the poll, the batch's updates, the read) on this machine.

    .venv/bin/python -m bench.freshness            # 40 page views, a visitor each, 0.2-1.5 s apart
    .venv/bin/python -m bench.freshness --quick    # 5

In AWS, Lambda polls a stream shard four times a second and invokes the function when a batch is full
or its window ends; a record waits at most the window (5 s) for its batch, about the local poll's wait.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

WINDOW_SECONDS = 5  # app.py: aggregate_events' maximum_batching_window_in_seconds
SITE = "fresh"
TOKEN = "local-dev-token"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def _post(base: str, visitor: int) -> None:
    body = json.dumps({"site": SITE, "event_type": "page_view", "user_id": f"fresh-{visitor}",
                       "page_url": f"https://fresh.example/p{visitor % 7}"}).encode()
    request = urllib.request.Request(f"{base}/events", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": UA})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status


def _counted(base: str) -> int:
    request = urllib.request.Request(f"{base}/stats/realtime?site={SITE}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["pageviews"]


def measure(quick: bool = False, seed: int = 16) -> dict:
    from scripts import stack_process

    events = 5 if quick else 40
    rng = random.Random(seed)
    stack = stack_process.start({"LIVEINSIGHT_SITES": json.dumps({SITE: {"origins": []}}),
                                 "LIVEINSIGHT_DEFAULT_SITE": SITE, "STATS_POLL_INTERVAL_SECONDS": str(WINDOW_SECONDS),
                                 "EXPIRY_INTERVAL_SECONDS": "3600"})
    accepted: list[float] = []
    seen: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:  # the realtime view, every 100 ms: when did the count reach each event
        while not done.is_set() or len(seen) < len(accepted):
            count, now = _counted(stack.base), time.monotonic()
            for n in range(1, count + 1):
                seen.setdefault(n, now)
            if len(seen) >= events:
                return
            time.sleep(0.1)

    try:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        for visitor in range(events):
            _post(stack.base, visitor)
            accepted.append(time.monotonic())
            time.sleep(rng.uniform(0.2, 1.5))
        done.set()
        watcher.join(timeout=4 * WINDOW_SECONDS + 30)
    finally:
        stack.stop()
    # The n-th event accepted is counted once the count reaches n (the stream keeps their order per shard,
    # and one shard carries them all locally).
    waits = sorted(seen[n + 1] - at for n, at in enumerate(accepted) if n + 1 in seen)
    if len(waits) < events:
        raise RuntimeError(f"only {len(waits)} of {events} events reached /stats/realtime")
    return {"events": events, "window_seconds": WINDOW_SECONDS,
            "freshness_p50_seconds": round(statistics.median(waits), 2),
            "freshness_p95_seconds": round(waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))], 2),
            "freshness_max_seconds": round(waits[-1], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(measure(parser.parse_args(argv).quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

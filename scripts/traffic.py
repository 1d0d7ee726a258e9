"""`make traffic`: realistic demo visits sent through the public API (POST /events) of a running local stack.

First it backfills the last LIVEINSIGHT_TRAFFIC_DAYS days (default 7; 0: none) with about
LIVEINSIGHT_TRAFFIC_VISITS_PER_DAY visits a day (default 300), sent in batches with the events' own
timestamps (the local stage accepts timestamps up to 30 days old: LIVEINSIGHT_MAX_EVENT_AGE_HOURS),
then sends live visits in real time for LIVEINSIGHT_TRAFFIC_MINUTES (default 10) or until Ctrl-C.
What visitors do is scripts/traffic_model.py. LIVEINSIGHT_TRAFFIC_SEED (default 2026) makes the
backfill reproducible: the same seed sends the same events, answered `duplicate` the second time.
Every request comes from 127.0.0.1, where cookieless ids could not tell visitors apart, so each
simulated visitor has a `user_id`. Loopback only.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:  # `python scripts/traffic.py` puts scripts/ first, not the project
    sys.path.insert(0, str(PROJECT_DIR))

from scripts.traffic_model import Visit, VisitMaker, backfill, regulars  # noqa: E402

MAX_EVENTS = 100  # chalicelib/ingest/events.py MAX_EVENTS_PER_REQUEST
MAX_BODY_BYTES = 60_000  # under the collector's 64 KB, as the SDK keeps its batches
MAX_ATTEMPTS = 8
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# send(body bytes, headers) -> (HTTP status, answer JSON, response headers)
Send = Callable[[bytes, dict], tuple[int, dict, dict]]


def http_send(base: str) -> Send:
    if urlsplit(base).hostname not in LOOPBACK:
        raise SystemExit(f"make traffic only talks to a local stack on loopback, not {base}")

    def send(body: bytes, headers: dict) -> tuple[int, dict, dict]:
        request = urllib.request.Request(f"{base}/events", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:  # 4xx/5xx still carry the collector's JSON answer
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    return send


def batches(visits: Iterable[Visit]) -> Iterator[tuple[Visit, list[dict]]]:
    """Requests as browsers of one kind in one country would send them (the User-Agent and country
    are the request's): whole visits of visitors who share both, at most MAX_EVENTS events and
    MAX_BODY_BYTES, in time order. Yields (a visit naming the request's visitor kind, its events)."""
    open_batches: dict[tuple, tuple[Visit, list[dict], int]] = {}
    for visit in sorted(visits, key=lambda v: v.start_ms):
        key = (visit.visitor.user_agent, visit.visitor.country)
        size = sum(len(json.dumps(e)) + 1 for e in visit.events)
        first, events, used = open_batches.get(key, (visit, [], 0))
        if events and (len(events) + len(visit.events) > MAX_EVENTS or used + size > MAX_BODY_BYTES):
            yield first, events
            first, events, used = visit, [], 0
        open_batches[key] = (first, events + visit.events, used + size)
    for first, events, _ in open_batches.values():
        if events:
            yield first, events


def deliver(send: Send, like: Visit, events: list[dict], sleep: Callable[[float], None] = time.sleep) -> Counter:
    """POST /events as the SDK does: JSON as text/plain, the visitor's User-Agent, client hints and
    country; 429 and 503 are waited out (Retry-After) and what was not stored is sent again."""
    visitor, statuses = like.visitor, Counter()
    headers = {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": visitor.user_agent,
               "CloudFront-Viewer-Country": visitor.country}
    for _ in range(MAX_ATTEMPTS):
        document = {"events": events, **({"client_hints": visitor.client_hints} if visitor.client_hints else {})}
        status, answer, response_headers = send(json.dumps(document).encode(), headers)
        if status in (429, 503):
            retry = [e for e, s in zip(events, answer.get("events", []), strict=False) if s.get("status") == "retry"]
            statuses.update(s["status"] for s in answer.get("events", []) if s.get("status") != "retry")
            events = events if status == 429 else retry
            sleep(float(response_headers.get("Retry-After", 2)))
            if events:
                continue
            return statuses
        if status >= 400 and not answer.get("events"):
            raise RuntimeError(f"POST /events answered {status}: {answer}")
        statuses.update(s["status"] for s in answer["events"])
        return statuses
    raise RuntimeError(f"POST /events kept answering {status} after {MAX_ATTEMPTS} attempts")


def send_backfill(send: Send, visits: list[Visit], progress: Callable[[Counter], None] = lambda c: None) -> Counter:
    totals: Counter = Counter()
    for like, events in batches(visits):
        totals += deliver(send, like, events)
        progress(totals)
    return totals


def run_live(send: Send, maker: VisitMaker, *, minutes: float, visits_per_minute: float,
             clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
             progress: Callable[[Counter], None] = lambda c: None) -> Counter:
    """Visits that happen now: each event is sent when its moment comes (a visitor reading a page for
    a minute sends its engagement a minute later), new visits arrive at random (Poisson). At the end,
    visits still going on are left there, as visitors who closed their tab."""
    totals: Counter = Counter()
    end_s = clock() + minutes * 60
    next_visit_s = clock()
    due: list[tuple[int, int, dict, Visit]] = []  # (timestamp ms, tie-break, event, its visit)
    order = 0
    while clock() < end_s:
        now_s = clock()
        while next_visit_s <= now_s:
            visit = maker.visit(int(next_visit_s * 1000))
            for event in visit.events:
                order += 1
                heapq.heappush(due, (event["timestamp"], order, event, visit))
            next_visit_s += maker.rng.expovariate(visits_per_minute / 60)
        ready: dict[str, tuple[Visit, list[dict]]] = {}
        while due and due[0][0] <= now_s * 1000:
            _, _, event, visit = heapq.heappop(due)
            ready.setdefault(visit.visitor.user_id, (visit, []))[1].append(event)
        for visit, events in ready.values():
            totals += deliver(send, visit, events, sleep)
        progress(totals)
        sleep(1.0)  # the SDK flushes its queue every second
    return totals


def site_timezone(site: str) -> str:
    """The demo site's time zone from the local stage's settings (the hours people visit in)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    sites = json.loads(config["stages"]["local"]["environment_variables"]["LIVEINSIGHT_SITES"])
    return sites.get(site, {}).get("timezone", "UTC")


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def main() -> int:
    base = os.environ.get("LIVEINSIGHT_URL", f"http://127.0.0.1:{os.environ.get('LIVEINSIGHT_PORT', '8000')}")
    send = http_send(base)
    site = os.environ.get("LIVEINSIGHT_TRAFFIC_SITE", "demo")
    days, per_day = _number("LIVEINSIGHT_TRAFFIC_DAYS", 7), _number("LIVEINSIGHT_TRAFFIC_VISITS_PER_DAY", 300)
    minutes, seed = _number("LIVEINSIGHT_TRAFFIC_MINUTES", 10), int(_number("LIVEINSIGHT_TRAFFIC_SEED", 2026))
    zone = ZoneInfo(os.environ.get("LIVEINSIGHT_TRAFFIC_TIMEZONE") or site_timezone(site))

    def show(totals: Counter) -> None:
        print("\r" + ", ".join(f"{n} {status}" for status, n in sorted(totals.items())), end="", flush=True)

    try:
        if days > 0:
            visits = backfill(seed, now_ms=int(time.time() * 1000), days=days, visits_per_day=per_day, zone=zone,
                              site=site)
            print(f"Backfilling {len(visits)} visits of the last {days:g} days ({zone.key}) to {base}.", flush=True)
            send_backfill(send, visits, show)
            print()
        print(f"Sending live visits to {base} for {minutes:g} minutes (Ctrl-C stops).", flush=True)
        maker = VisitMaker(random.Random(f"{seed}:live:{time.time()}"), site, regulars(seed, max(20, int(per_day / 2))))
        # Live visits come a little faster than the backfill's average, so the realtime view moves.
        run_live(send, maker, minutes=minutes, visits_per_minute=max(per_day / 1440 * 3, 1), progress=show)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.exit(f"\ncould not reach LiveInsight at {base} ({exc}); is `make local` running?")
    print("\nDone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

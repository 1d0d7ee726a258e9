"""`make traffic`: realistic demo visits sent through the API of a running local stack.

Each visit is one visitor with a real browser User-Agent, a country, a source (search, social,
email campaign, referral or direct) and a few page views, sent the way the SDK sends them. Every
request comes from 127.0.0.1, where cookieless ids could not tell visitors apart, so each simulated
visitor has a `user_id`. Runs for LIVEINSIGHT_TRAFFIC_MINUTES (default 10) or until Ctrl-C;
loopback only.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.request
import uuid
from urllib.parse import urlsplit

USER_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", 5),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", 2),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1.1 Mobile/15E148 Safari/604.1", 4),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile "
     "Safari/537.36", 3),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 1),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.103 "
     "Mobile/15E148 Safari/604.1", 1),
]
COUNTRIES = [("US", 5), ("DE", 3), ("GB", 2), ("FR", 2), ("IN", 2), ("BR", 1), ("JP", 1), ("KR", 1)]
SOURCES = [  # (referrer, utm query, weight)
    (None, "", 4),
    ("https://www.google.com/", "", 5),
    ("https://duckduckgo.com/", "", 1),
    ("https://t.co/demo", "", 2),
    ("https://www.reddit.com/r/webdev/", "", 1),
    ("https://news.ycombinator.com/item?id=1", "", 1),
    (None, "?utm_source=newsletter&utm_medium=email&utm_campaign=november", 2),
    ("https://partner-blog.example/review", "?utm_source=partner&utm_medium=referral&utm_campaign=launch", 1),
]
PAGES = ["/", "/pricing", "/features", "/docs", "/docs/install", "/blog/real-time-analytics", "/signup", "/about"]


def pick(rng: random.Random, weighted):
    return rng.choices([item[:-1] if len(item) > 2 else item[0] for item in weighted],
                       weights=[item[-1] for item in weighted])[0]


def visit_events(rng: random.Random, site_origin: str) -> tuple[list[dict], str, str]:
    referrer, utm = pick(rng, SOURCES)
    pages = [rng.choice(PAGES[:4])] + rng.sample(PAGES, k=rng.choice([0, 0, 1, 2, 3]))
    now = int(time.time() * 1000)
    visitor = f"demo-{uuid.uuid4().hex[:12]}"
    events = []
    for i, page in enumerate(pages):
        event = {"event_type": "page_view", "event_id": str(uuid.uuid4()), "page_url": site_origin + page,
                 "title": page.strip("/") or "home", "timestamp": now + i, "user_id": visitor}
        if i == 0:
            event["page_url"] += utm
            if referrer:
                event["referrer"] = referrer
        events.append(event)
    if "/signup" in pages:
        events.append({"event_type": "signup", "event_id": str(uuid.uuid4()), "user_id": visitor,
                       "properties": {"plan": "pro"}})
    user_agent = pick(rng, USER_AGENTS)
    country = pick(rng, COUNTRIES)
    return events, user_agent, country


def send(base: str, events: list[dict], user_agent: str, country: str) -> int:
    request = urllib.request.Request(
        f"{base}/events", data=json.dumps({"events": events}).encode(), method="POST",
        headers={"Content-Type": "text/plain", "User-Agent": user_agent, "CloudFront-Viewer-Country": country})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["accepted"]


def main() -> int:
    base = os.environ.get("LIVEINSIGHT_URL", f"http://127.0.0.1:{os.environ.get('LIVEINSIGHT_PORT', '8000')}")
    if urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"make traffic only talks to a local stack on loopback, not {base}")
    minutes = float(os.environ.get("LIVEINSIGHT_TRAFFIC_MINUTES", "10"))
    rng = random.Random()
    deadline = time.monotonic() + minutes * 60
    sent = 0
    print(f"Sending demo visits to {base} for {minutes:g} minutes (Ctrl-C stops).", flush=True)
    try:
        while time.monotonic() < deadline:
            for _ in range(rng.randint(1, 4)):
                events, user_agent, country = visit_events(rng, "https://shop.example")
                sent += send(base, events, user_agent, country)
            print(f"\r{sent} events accepted", end="", flush=True)
            time.sleep(rng.uniform(1.0, 3.0))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.exit(f"\ncould not reach LiveInsight at {base} ({exc}); is `make local` running?")
    print(f"\nDone: {sent} events accepted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

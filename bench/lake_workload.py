"""Realistic lake rows for the lake's benchmarks: visits of 1-8 page views over a site's pages, an
engagement event per page left after a few seconds, some custom events with properties and revenue,
referrers and channels, campaigns, devices and countries in proportions like a small business site's.
Deterministic for a seed, so figures are comparable between runs."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

DAY_MS = 86_400_000
PAGES = ["/"] + [f"/blog/{slug}-{n}" for n in range(120) for slug in ("how-to", "news")][:160] + [
    "/pricing", "/about", "/contact", "/signup", "/docs", "/docs/install", "/docs/api", "/features", "/careers"]
SOURCES = [  # (weight, referrer, referrer_host, source, channel)
    (40, None, None, None, "Direct"),
    (30, "https://www.google.com/", "www.google.com", "Google", "Organic Search"),
    (6, "https://www.bing.com/", "www.bing.com", "Bing", "Organic Search"),
    (6, "https://news.ycombinator.com/", "news.ycombinator.com", "news.ycombinator.com", "Referral"),
    (5, "https://t.co/", "t.co", "Twitter", "Organic Social"),
    (4, "https://www.facebook.com/", "www.facebook.com", "Facebook", "Organic Social"),
    (3, "https://chatgpt.com/", "chatgpt.com", "ChatGPT", "AI Assistants"),
    (6, "https://mail.google.com/", "mail.google.com", "Gmail", "Email"),
]
CLIENTS = [  # (weight, browser, version, os, os_version, device)
    (40, "Chrome", "131", "Windows", "10", "desktop"), (20, "Chrome Mobile", "131", "Android", "14", "mobile"),
    (15, "Mobile Safari", "18", "iOS", "18.1", "mobile"), (10, "Safari", "18", "Mac OS X", "10.15", "desktop"),
    (8, "Firefox", "133", "Windows", "10", "desktop"), (4, "Edge", "131", "Windows", "11", "desktop"),
    (3, "Mobile Safari", "18", "iOS", "18.1", "tablet"),
]
COUNTRIES = [(35, "US"), (10, "DE"), (10, "GB"), (8, "FR"), (8, "IN"), (6, "CA"), (5, "NL"), (5, "BR"),
             (4, "JP"), (3, "KR"), (6, None)]


def _pick(rng: random.Random, weighted: list[tuple]) -> tuple:
    return rng.choices(weighted, weights=[w[0] for w in weighted])[0]


def visit_rows(rng: random.Random, site: str, start_ms: int) -> list[dict]:
    """One visit's rows, as the stream writer makes them from stored events."""
    visitor = "anon-%016x" % rng.getrandbits(64)
    session = "%020x" % rng.getrandbits(80)
    _, referrer, referrer_host, source, channel = _pick(rng, SOURCES)
    _, browser, browser_version, os_name, os_version, device = _pick(rng, CLIENTS)
    country = _pick(rng, COUNTRIES)[1]
    campaign = rng.random() < 0.08
    common = {"session_id": session, "visitor_id": visitor, "page_host": "www.example.com", "browser": browser,
              "browser_version": browser_version, "os": os_name, "os_version": os_version, "device_type": device,
              "country": country, "referrer": referrer, "referrer_host": referrer_host, "source": source,
              "channel": channel}
    if campaign:
        common.update(utm_source="newsletter", utm_medium="email", utm_campaign="black-friday",
                      source="newsletter", channel="Email")
    pages = 1 if rng.random() < 0.45 else rng.randint(2, 8)
    rows, time_ms = [], start_ms
    for n in range(pages):
        path = "/" if n == 0 and rng.random() < 0.4 else rng.choice(PAGES)
        received = time_ms + rng.randint(30, 900)
        row = {**common, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
               "event_type": "page_view", "time": time_ms, "received_time": received,
               "page_url": f"https://www.example.com{path}", "page_path": path, "title": f"Example - {path}"}
        if n:
            row.update(referrer=None, referrer_host=None)
        rows.append({k: v for k, v in row.items() if v is not None})
        dwell_ms = int(rng.lognormvariate(9.8, 1.1))  # median ~18 s
        if dwell_ms >= 1000:
            rows.append({k: v for k, v in {
                **common, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": "engagement", "time": time_ms + dwell_ms, "received_time": time_ms + dwell_ms + 200,
                "page_url": f"https://www.example.com{path}", "page_path": path, "engaged_ms": dwell_ms,
                "scroll_pct": rng.randint(10, 100), "properties": {"engaged_ms": str(dwell_ms)},
                "referrer": None, "referrer_host": None}.items() if v is not None})
        if path == "/signup" and rng.random() < 0.3:
            rows.append({k: v for k, v in {
                **common, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_type": "signup",
                "time": time_ms + 5000, "received_time": time_ms + 5200, "page_url": "https://www.example.com/signup",
                "page_path": "/signup", "properties": {"plan": rng.choice(["free", "pro", "team"])},
                "revenue_amount": rng.choice(["0", "19.0000", "49.0000"]), "revenue_currency": "USD",
                "referrer": None, "referrer_host": None}.items() if v is not None})
        time_ms += dwell_ms + rng.randint(500, 5000)
    return rows


def day_rows(site: str, day_start_ms: int, events: int, seed: int = 1) -> Iterator[dict]:
    """About `events` rows of one UTC day, visits spread over it (busier in the afternoon)."""
    rng = random.Random(f"{site}/{day_start_ms}/{seed}")
    made = 0
    while made < events:
        hour = min(23, max(0, int(rng.gauss(14, 5))))
        start = day_start_ms + hour * 3_600_000 + rng.randrange(3_600_000 - 600_000)
        rows = visit_rows(rng, site, start)
        made += len(rows)
        yield from rows

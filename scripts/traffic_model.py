"""`make traffic`'s visitors: who comes, when, from where, and what they do, as the SDK would report it.

Pure and deterministic (a seeded random.Random and a given `now`): visits are lists of the events
sdk/src/tracker.js sends (page_view with title and referrer, `engagement` with engaged_ms and
scroll_pct at every page leave, custom events with properties, revenue as decimal text), with
their own timestamps. traffic.py sends them; the tests count what the Stats API makes of them.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

SITE_ORIGIN = "https://shop.example"
SECOND_MS = 1000

# Real browsers' User-Agents, weighted to a typical site's mix (about 55% desktop, 40% phone, 5%
# tablet). Chromium browsers also send navigator.userAgentData, as the SDK does (client_hints).
_CHROME = [{"brand": "Google Chrome", "version": "131"}, {"brand": "Chromium", "version": "131"},
           {"brand": "Not_A Brand", "version": "24"}]
USER_AGENTS: list[tuple[str, dict | None, int]] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", {"brands": _CHROME, "mobile": False, "platform": "Windows"}, 22),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", {"brands": _CHROME, "mobile": False, "platform": "macOS"}, 10),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", None, 9),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", None, 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", {"brands": [{"brand": "Microsoft Edge", "version": "131"},
                                                 {"brand": "Chromium", "version": "131"}],
                                      "mobile": False, "platform": "Windows"}, 5),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", None, 3),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1.1 Mobile/15E148 Safari/604.1", None, 22),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", {"brands": _CHROME, "mobile": True, "platform": "Android"}, 15),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", None, 3),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
     "Mobile/15E148 Safari/604.1", None, 5),
]
COUNTRIES = [("DE", 18), ("US", 22), ("GB", 8), ("FR", 7), ("NL", 4), ("AT", 3), ("CH", 3), ("IN", 6),
             ("BR", 4), ("CA", 4), ("JP", 3), ("ES", 4), ("PL", 3), ("SE", 2), ("AU", 2), ("KR", 1)]
EURO_COUNTRIES = {"DE", "FR", "NL", "AT", "ES"}  # these buy from the EU store (EUR); everyone else pays USD

# path -> (title, how often it is the next page a visitor opens)
PAGES: dict[str, tuple[str, int]] = {
    "/": ("Shop Example: privacy-first analytics", 10),
    "/pricing": ("Pricing", 12),
    "/features": ("Features", 9),
    "/docs": ("Documentation", 7),
    "/docs/install": ("Install", 5),
    "/docs/api": ("API reference", 3),
    "/blog": ("Blog", 4),
    "/blog/real-time-analytics": ("Real-time analytics without cookies", 3),
    "/blog/cookieless-tracking": ("How cookieless tracking works", 3),
    "/download": ("Download", 4),
    "/about": ("About us", 2),
    "/signup": ("Sign up", 5),
}


@dataclass(frozen=True)
class Channel:
    """A way in: referrers to pick from, the landing page's query (utm tags, click ids), landing pages,
    how often it brings visits, and how often those leave after one page."""

    name: str
    referrers: tuple[str | None, ...]
    query: str
    landings: tuple[str, ...]
    weight: int
    bounce_rate: float


CHANNELS = (
    Channel("search", ("https://www.google.com/", "https://www.google.com/", "https://www.google.com/",
                       "https://www.bing.com/", "https://duckduckgo.com/"), "",
            ("/", "/blog/real-time-analytics", "/blog/cookieless-tracking", "/docs/install", "/pricing"), 32, 0.48),
    Channel("direct", (None,), "", ("/", "/", "/pricing", "/docs"), 22, 0.40),
    Channel("social", ("https://t.co/x3Fv9", "https://www.reddit.com/r/webdev/", "https://www.linkedin.com/",
                       "https://news.ycombinator.com/item?id=41234567", "https://l.facebook.com/"), "",
            ("/blog/real-time-analytics", "/blog/cookieless-tracking", "/"), 13, 0.62),
    Channel("email", (None,), "?utm_source=newsletter&utm_medium=email&utm_campaign=november",
            ("/blog/real-time-analytics", "/pricing"), 8, 0.35),
    Channel("referral", ("https://dev.to/analytics/self-hosted", "https://partner-blog.example/review"), "",
            ("/", "/features"), 9, 0.45),
    Channel("paid", ("https://www.google.com/",), "?utm_source=google&utm_medium=cpc&utm_campaign=brand",
            ("/pricing", "/"), 8, 0.50),
    Channel("ai", ("https://chatgpt.com/",), "", ("/docs", "/features"), 3, 0.38),
    Channel("campaign", ("https://www.facebook.com/",),
            "?utm_source=facebook&utm_medium=paid_social&utm_campaign=black_friday", ("/pricing",), 5, 0.60),
)

# Visits by the hour of the day in the site's time zone (fewer at night) and by weekday (Mon..Sun).
HOUR_WEIGHTS = (0.20, 0.12, 0.08, 0.06, 0.06, 0.10, 0.25, 0.50, 0.80, 1.00, 1.10, 1.10,
                1.05, 1.10, 1.15, 1.10, 1.00, 0.95, 0.90, 0.85, 0.80, 0.65, 0.45, 0.30)
WEEKDAY_WEIGHTS = (1.05, 1.10, 1.10, 1.05, 0.95, 0.60, 0.55)
PAGES_AFTER_THE_FIRST = {1: 30, 2: 22, 3: 15, 4: 11, 5: 8, 6: 6, 7: 4}  # engaged visits: more pages, rarer
RETURNING_SHARE = 0.25  # of visits, by one of the site's regular visitors
PLANS = {"free": ("0", 55), "pro": ("19.00", 35), "team": ("49.00", 10)}
DOWNLOADS = ("liveinsight-1.4.2.dmg", "liveinsight-1.4.2.exe", "liveinsight-1.4.2.tar.gz", "whitepaper.pdf")
OUTBOUND = ("https://github.com/liveinsight/liveinsight", "https://plausible.io/docs", "https://aws.amazon.com/lambda/")


@dataclass(frozen=True)
class Visitor:
    user_id: str
    user_agent: str
    client_hints: dict | None
    country: str


@dataclass
class Visit:
    visitor: Visitor
    channel: str
    start_ms: int
    events: list[dict] = field(default_factory=list)

    @property
    def end_ms(self) -> int:
        return max(e["timestamp"] for e in self.events)


def pick(rng: random.Random, weighted: list[tuple] | tuple) -> tuple:
    return rng.choices(weighted, weights=[item[-1] for item in weighted])[0]


def dwell_ms(rng: random.Random) -> int:
    """Time on a page: log-normal, median 40 s, most between 10 s and 3 min, at most 10 minutes."""
    return int(min(max(rng.lognormvariate(math.log(40), 0.9), 3), 600) * SECOND_MS)


class VisitMaker:
    """Makes visits: each one a visitor (new or returning), a channel, and what the visitor does."""

    def __init__(self, rng: random.Random, site: str = "demo", regulars: list[Visitor] | None = None) -> None:
        self.rng = rng
        self.site = site
        self.regulars = regulars or []

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _visitor(self) -> Visitor:
        if self.regulars and self.rng.random() < RETURNING_SHARE:
            return self.rng.choice(self.regulars)
        return new_visitor(self.rng)

    def _event(self, visit: Visit, event_type: str, time_ms: int, page: str, **extra) -> None:
        event = {"event_type": event_type, "event_id": self._id(), "timestamp": time_ms,
                 "page_url": SITE_ORIGIN + page, "site": self.site, "user_id": visit.visitor.user_id, **extra}
        visit.events.append(event)

    def visit(self, start_ms: int) -> Visit:
        rng = self.rng
        channel = rng.choices(CHANNELS, weights=[c.weight for c in CHANNELS])[0]
        visit = Visit(self._visitor(), channel.name, start_ms)
        bounce = rng.random() < channel.bounce_rate
        pages = [rng.choice(channel.landings)]
        if not bounce:
            for _ in range(pick(rng, list(PAGES_AFTER_THE_FIRST.items()))[0]):
                pages.append(self._next_page(pages[-1]))
        referrer = rng.choice(channel.referrers)
        time_ms = start_ms
        for index, page in enumerate(pages):
            url_page = page + (channel.query if index == 0 else "")
            extra = {"title": PAGES[page][0]}
            previous = SITE_ORIGIN + pages[index - 1] if index else referrer
            if previous:
                extra["referrer"] = previous  # the SDK's: the page before, or document.referrer
            self._event(visit, "page_view", time_ms, url_page, **extra)
            stay_ms = rng.randint(1500, 9500) if bounce else dwell_ms(rng)
            if not bounce:
                self._actions(visit, page, url_page, time_ms, stay_ms)
            self._engagement(visit, url_page, time_ms + stay_ms, stay_ms, bounce)
            time_ms += stay_ms + rng.randint(200, 1500)
        return visit

    def _next_page(self, current: str) -> str:
        if current == "/pricing" and self.rng.random() < 0.3:
            return "/signup"
        choices = [(path, weight) for path, (_, weight) in PAGES.items() if path != current]
        return pick(self.rng, choices)[0]

    def _engagement(self, visit: Visit, url_page: str, left_ms: int, stay_ms: int, bounce: bool) -> None:
        """What the SDK sends when the page is hidden or left: visible time and deepest scroll. A
        bounce stays under 10 s (sessions/model.py ENGAGED_AFTER_MS: 10 s or more is engaged)."""
        visible_ms = stay_ms if bounce else int(stay_ms * self.rng.uniform(0.55, 1.0))
        scroll_pct = self.rng.randint(10, 60) if bounce else min(100, self.rng.randint(30, 100) + stay_ms // 20_000)
        self._event(visit, "engagement", left_ms, url_page,
                    properties={"engaged_ms": visible_ms, "scroll_pct": scroll_pct})

    def _actions(self, visit: Visit, page: str, url_page: str, page_ms: int, stay_ms: int) -> None:
        """Custom events while on a page: downloads, outbound links, signups and purchases."""
        rng = self.rng
        at = page_ms + int(stay_ms * rng.uniform(0.3, 0.9))
        if page in ("/download", "/docs/install") and rng.random() < 0.5:
            self._event(visit, "download", at, url_page, properties={"file": rng.choice(DOWNLOADS)})
        elif page.startswith(("/blog/", "/docs")) and rng.random() < 0.12:
            self._event(visit, "outbound_click", at, url_page, properties={"url": rng.choice(OUTBOUND)})
        elif page == "/signup" and rng.random() < 0.4:
            plan = pick(rng, [(name, weight) for name, (_, weight) in PLANS.items()])[0]
            self._event(visit, "signup", at, url_page, properties={"plan": plan})
            if PLANS[plan][0] != "0" and rng.random() < 0.7:
                self._purchase(visit, plan, at + rng.randint(20, 90) * SECOND_MS)

    def _purchase(self, visit: Visit, plan: str, time_ms: int) -> None:
        euro = visit.visitor.country in EURO_COUNTRIES
        seats = self.rng.choice((1, 1, 1, 2, 3, 5))
        amount = f"{float(PLANS[plan][0]) * seats:.2f}"
        self._event(visit, "purchase", time_ms, "/signup", properties={"plan": plan, "store": "eu" if euro else "us"},
                    revenue={"amount": amount, "currency": "EUR" if euro else "USD"})


def new_visitor(rng: random.Random) -> Visitor:
    user_agent, hints, _ = pick(rng, USER_AGENTS)
    return Visitor(f"demo-{rng.getrandbits(48):012x}", user_agent, hints, pick(rng, COUNTRIES)[0])


def regulars(seed: int, count: int) -> list[Visitor]:
    """The visitors who come back (RETURNING_SHARE of visits): the same ones for one seed."""
    rng = random.Random(f"{seed}:regulars")
    return [new_visitor(rng) for _ in range(count)]


def hourly_visits(rng: random.Random, hour_start_ms: int, visits_per_day: float, zone: ZoneInfo) -> int:
    """How many visits start in this hour: a Poisson draw around the day's volume, shaped by the site's
    local hour and weekday."""
    local = datetime.fromtimestamp(hour_start_ms / 1000, tz=zone)
    mean = visits_per_day * HOUR_WEIGHTS[local.hour] / sum(HOUR_WEIGHTS) * WEEKDAY_WEIGHTS[local.weekday()]
    return poisson(rng, mean)


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method (means here are small: a few dozen an hour)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def backfill(seed: int, *, now_ms: int, days: float, visits_per_day: float, zone: ZoneInfo,
             site: str = "demo") -> list[Visit]:
    """Visits of the last `days` days, oldest first; events that would lie after `now_ms` (a visit still
    going on) are left out, as the browser has not sent them yet. Each hour's visits depend on the seed
    and the hour only: a second run with the same seed sends the same events again (same ids), which
    the collector answers `duplicate`, so running `make traffic` twice does not double the past days."""
    start = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc) - timedelta(days=days)
    hour_ms = int(start.replace(minute=0, second=0, microsecond=0).timestamp() * 1000)
    regular_visitors = regulars(seed, max(20, int(visits_per_day / 2)))
    visits = []
    while hour_ms < now_ms:
        rng = random.Random(f"{seed}:{site}:{hour_ms}")
        maker = VisitMaker(rng, site, regular_visitors)
        starts = sorted(hour_ms + rng.randrange(3_600_000) for _ in range(hourly_visits(rng, hour_ms, visits_per_day,
                                                                                            zone)))
        for start_ms in starts:
            if now_ms - days * 86_400_000 <= start_ms < now_ms:
                visit = maker.visit(start_ms)
                visit.events = [e for e in visit.events if e["timestamp"] <= now_ms]
                visits.append(visit)
        hour_ms += 3_600_000
    return visits

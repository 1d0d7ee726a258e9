"""Real-time aggregates: what each batch of new events adds to the per-minute statistics buckets.

A minute bucket is one item per (site, minute, shard) holding counters (`pageviews`, `sessions`,
...), one map per breakdown (`page`: {"/pricing": 3}, `country`: {"DE": 2}, ...) and the set of
hashed visitor ids seen that minute. A batch of the events table's stream (stats/stream.py) is rolled
up in memory and makes one conditional update per bucket it touches: exactly once and size-bounded (a
full item continues in the minute's next item; see store/stats.py), and fewer updates a page view the
busier the site, since a batch holds more of each minute. A visitor always lands in the same
shard, so shards never share a visitor and their visitor sets union exactly. Hour and day buckets
are computed from minute buckets by the minute job (rollup.py), where breakdowns are flattened to
`page:/pricing`-style counters.

Session numbers come from sessions: `sessions` and the source dimensions count the event that starts
a session (flagged by the sessionizer); `ended`, `bounces`, `duration_ms`, `session_pageviews`, entry
and exit pages count when it ends (whoever ends it writes them: the expiry job, or the request whose
event ends it), all in the bucket of the session's start, so they agree with GET /sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from chalicelib.sessions.model import PAGE_VIEW, STARTS_SESSION, Session

if TYPE_CHECKING:
    from chalicelib.store import StatsStore

MINUTE, HOUR, DAY = "minute", "hour", "day"
BUCKET_MS = {MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000}
_LABEL_FORMATS = {MINUTE: "%Y-%m-%dT%H:%M", HOUR: "%Y-%m-%dT%H", DAY: "%Y-%m-%d"}
_KEY_LETTER = {MINUTE: "m", HOUR: "h", DAY: "d"}
MAX_VALUE_BYTES = 200  # a breakdown value is cut to this many UTF-8 bytes: part of the item size bound
NONE = "(none)"
# How long buckets are kept: minutes feed the realtime view and the hour rollups; hours serve ranges up
# to a month; days live as long as events. A minute bucket also outlives, by a day, the last moment an
# event of its minute may still arrive (LIVEINSIGHT_MAX_EVENT_AGE_HOURS): a late event makes the rollup
# rebuild its hour from the hour's minute buckets, which must all still be there.
MINUTE_BUCKET_TTL_SECONDS = 2 * 86_400
LATE_EVENT_MARGIN_SECONDS = 86_400
HOUR_BUCKET_TTL_SECONDS = 35 * 86_400

# Plain counters of a bucket.
PAGEVIEWS, EVENTS, SESSIONS = "pageviews", "events", "sessions"
ENDED, BOUNCES, DURATION_MS, SESSION_PAGEVIEWS = "ended", "bounces", "duration_ms", "session_pageviews"
COUNTERS = (PAGEVIEWS, EVENTS, SESSIONS, ENDED, BOUNCES, DURATION_MS, SESSION_PAGEVIEWS)


@dataclass(frozen=True)
class Dimension:
    """A breakdown: its attribute prefix in a bucket and what it counts."""

    prefix: str
    counts: str  # the metric the breakdown's numbers are


# Pages count page views, entry and exit pages count ended sessions, events count events, and
# sources and devices count sessions (visits), as Plausible and GA4 report them.
DIMENSIONS: dict[str, Dimension] = {
    "page": Dimension("page:", PAGEVIEWS),
    "entry_page": Dimension("entry:", ENDED),
    "exit_page": Dimension("exit:", ENDED),
    "referrer": Dimension("referrer:", SESSIONS),
    "channel": Dimension("channel:", SESSIONS),
    "utm_source": Dimension("utm_source:", SESSIONS),
    "utm_medium": Dimension("utm_medium:", SESSIONS),
    "utm_campaign": Dimension("utm_campaign:", SESSIONS),
    "country": Dimension("country:", SESSIONS),
    "device": Dimension("device:", SESSIONS),
    "browser": Dimension("browser:", SESSIONS),
    "os": Dimension("os:", SESSIONS),
    "event": Dimension("event:", EVENTS),
}
# Session facts (stored on the session from its first event) behind each source dimension.
SESSION_SOURCES = {"referrer": "referrer_host", "channel": "channel", "utm_source": "utm_source",
                    "utm_medium": "utm_medium", "utm_campaign": "utm_campaign", "country": "country",
                    "device": "device_type", "browser": "browser", "os": "os"}


def label(granularity: str, time_ms: int) -> str:
    """A bucket's sort key: its start in UTC, e.g. 2026-11-26T12:05 for a minute."""
    return datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc).strftime(_LABEL_FORMATS[granularity])


def label_start_ms(granularity: str, bucket_label: str) -> int:
    moment = datetime.strptime(bucket_label, _LABEL_FORMATS[granularity]).replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def bucket_start_ms(granularity: str, time_ms: int) -> int:
    return time_ms - time_ms % BUCKET_MS[granularity]


def last_minutes(minutes: int, now_ms: int) -> tuple[int, int]:
    """The span of the last `minutes` minute buckets, the current (unfinished) one included."""
    return bucket_start_ms(MINUTE, now_ms) - (minutes - 1) * BUCKET_MS[MINUTE], now_ms


def bucket_pk(site: str, granularity: str, shard: int | None = None) -> str:
    """Minute buckets are sharded (hot keys); hour and day buckets are written by one job only."""
    letter = _KEY_LETTER[granularity]
    return f"{site}#{letter}#{shard}" if shard is not None else f"{site}#{letter}"


def visitor_member(visitor_id: str) -> bytes:
    """The 8-byte hash of a visitor id kept in a bucket's visitor set (and fed to HyperLogLog)."""
    return hashlib.blake2b(visitor_id.encode(), digest_size=8).digest()


def shard_of(visitor_id: str, shards: int) -> int:
    return visitor_member(visitor_id)[0] % shards


def value_key(value: str | None) -> str:
    """A breakdown value as stored: (none) for missing, cut at MAX_VALUE_BYTES on a character boundary."""
    return (value or NONE).encode()[:MAX_VALUE_BYTES].decode(errors="ignore") or NONE


@dataclass
class BucketDelta:
    counters: Counter = field(default_factory=Counter)
    values: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in DIMENSIONS})
    visitors: set[bytes] = field(default_factory=set)

    def count(self, dimension: str, value: str | None, n: int = 1) -> None:
        self.values[dimension][value_key(value)] += n


@dataclass(frozen=True)
class BucketKey:
    site: str
    minute_ms: int
    shard: int


class Rollup:
    """One stream batch's (or one expiry run's, or one request's ended sessions') additions, by bucket,
    before they are written."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.buckets: dict[BucketKey, BucketDelta] = {}

    def _bucket(self, site: str, time_ms: int, visitor_id: str) -> BucketDelta:
        key = BucketKey(site, bucket_start_ms(MINUTE, time_ms), shard_of(visitor_id, self.shards))
        return self.buckets.setdefault(key, BucketDelta())

    def add_events(self, records: Iterable[dict]) -> None:
        for record in records:
            bucket = self._bucket(record["site"], record["time_ms"], record["visitor_id"])
            bucket.visitors.add(visitor_member(record["visitor_id"]))
            bucket.counters[EVENTS] += 1
            bucket.count("event", record["event_type"])
            if record["event_type"] == PAGE_VIEW:
                bucket.counters[PAGEVIEWS] += 1
                bucket.count("page", record.get("page_path"))
            if record.get(STARTS_SESSION):  # the session's first event: its start time and its sources
                bucket.counters[SESSIONS] += 1
                for dimension, source in SESSION_SOURCES.items():
                    bucket.count(dimension, record.get(source))

    def add_ended(self, sessions: Iterable[Session]) -> None:
        for session in sessions:
            bucket = self._bucket(session.site, session.started_ms, session.visitor_id)
            counters = bucket.counters
            counters[ENDED] += 1
            counters[BOUNCES] += int(session.bounce)
            counters[DURATION_MS] += session.duration_ms
            counters[SESSION_PAGEVIEWS] += session.page_views
            if session.entry_page is not None:
                bucket.count("entry_page", session.entry_page)
            if session.exit_page is not None:
                bucket.count("exit_page", session.exit_page)


def dirty_pk(site: str) -> str:
    return f"{site}#dirty"


def minute_bucket_ttl_s(minute_ms: int, now_ms: int, max_event_age_ms: int) -> int:
    return max(now_ms // 1000 + MINUTE_BUCKET_TTL_SECONDS,
               (minute_ms + max_event_age_ms) // 1000 + LATE_EVENT_MARGIN_SECONDS)


def write_rollup(store: StatsStore, rollup: Rollup, now_ms: int, max_event_age_ms: int,
                 new_token: Callable[[], bytes] = lambda: secrets.token_bytes(8)) -> None:
    """One update per bucket, each with its own token (resends of it are applied once). A bucket of
    an earlier hour than the current one (late events, sessions ending) also leaves a marker, so the
    rollup job recomputes that hour and its day: the job recomputes only the current hour by itself."""
    from chalicelib.store.stats import BucketUpdate  # the store loads botocore: not on the cold-start path

    settled_before_ms = bucket_start_ms(HOUR, now_ms)
    late_hours = set()
    for key, delta in rollup.buckets.items():
        update = BucketUpdate(dict(delta.counters), {name: dict(values) for name, values in delta.values.items()},
                              delta.visitors, new_token(), minute_bucket_ttl_s(key.minute_ms, now_ms, max_event_age_ms))
        store.add(bucket_pk(key.site, MINUTE, key.shard), label(MINUTE, key.minute_ms), update)
        if key.minute_ms < settled_before_ms:
            late_hours.add((key.site, label(HOUR, key.minute_ms)))
    for site, hour in sorted(late_hours):  # one marker per hour, however many buckets
        store.mark(dirty_pk(site), hour, now_ms // 1000 + MINUTE_BUCKET_TTL_SECONDS)

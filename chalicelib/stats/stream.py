"""The realtime statistics, made from the events table's stream: one batch of new events (as Lambda
delivers it, every few seconds) becomes one update per minute bucket it touches (stats/buckets.py).

A request used to update its buckets itself: one update a request, billed on the whole bucket, which
grows with the minute's traffic, so a page view cost more the busier the site (issue 16's scale
curve). A batch holds more of each minute the busier the site, so updates a page view fall instead.

Exactly once: an event is in the stream once it is stored, and only then (the stream is the table's
own log), so nothing is counted that was not stored. A batch that fails is retried whole by Lambda
(its event source mapping neither bisects nor reports partial failures: deploy/package.py), so its
updates are the same updates again: each bucket's token is derived from the batch's events, and an
update whose token a bucket already holds is recognised as applied (store/stats.py). Records that are
not new events (salts, TTL removals, updates) are skipped; so is a stored event without the fields a
bucket needs, logged as an ERROR (it cannot be counted, and must not stall the stream).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from chalicelib.core.log import log
from chalicelib.lake.rows import INSERT, NOT_EVENT_PREFIXES, from_attribute
from chalicelib.sessions.model import STARTS_SESSION
from chalicelib.stats.buckets import SESSION_SOURCES, Rollup, write_rollup

# The stored attributes a bucket reads (stats/buckets.py Rollup.add_events): the rest of an event's image
# (properties, user agent, revenue, ...) is not decoded.
_READ = ("pk", "site", "time_ms", "visitor_id", "event_type", "page_path", STARTS_SESSION,
         *SESSION_SOURCES.values())
_REQUIRED = ("site", "time_ms", "visitor_id", "event_type")


def stream_events(lambda_event: dict) -> list[dict]:
    """The new events of a stream batch, in the batch's order, with the attributes buckets read."""
    events = []
    for record in lambda_event.get("Records") or []:
        if record.get("eventName") != INSERT:
            continue
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        if image.get("pk", {}).get("S", "").startswith(NOT_EVENT_PREFIXES) or "event_id" not in image:
            continue
        try:
            event = {name: from_attribute(image[name]) for name in _READ if name in image}
            if any(not isinstance(event.get(name), int if name == "time_ms" else str) for name in _REQUIRED):
                raise ValueError(f"an event needs {', '.join(_REQUIRED)}")
        except (TypeError, ValueError, AttributeError) as exc:
            log("ERROR", "a stored event cannot be counted in the statistics", pk=image.get("pk"), error=str(exc))
            continue
        events.append(event)
    return events


def batch_tokens(events: list[dict]) -> Callable[[], bytes]:
    """Tokens for the batch's bucket updates, in the order write_rollup asks for them: the same batch
    gives the same tokens, so its retry is recognised by every bucket it reached."""
    digest = hashlib.blake2b("\n".join(e["pk"] for e in events).encode(), digest_size=16).digest()

    def tokens() -> Iterator[bytes]:
        index = 0
        while True:
            yield hashlib.blake2b(digest + index.to_bytes(4, "big"), digest_size=8).digest()
            index += 1

    return tokens().__next__


def aggregate_stream_batch(lambda_event: dict, stats, *, shards: int, max_event_age_ms: int, now_ms: int) -> dict:
    """Adds a batch's events to the minute buckets. StoreUnavailable (DynamoDB failing) propagates:
    Lambda retries the whole batch, and what it had applied is recognised."""
    events = stream_events(lambda_event)
    rollup = Rollup(shards)
    rollup.add_events(events)
    write_rollup(stats, rollup, now_ms, max_event_age_ms, new_token=batch_tokens(events))
    return {"events": len(events), "buckets": len(rollup.buckets)}

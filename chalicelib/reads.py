"""The session read API: one session with its events, and a visitor's sessions page by page."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from .errors import ApiError
from .sessions import Session, public_view
from .settings import Settings
from .tables import visitor_key

if TYPE_CHECKING:
    from .store import EventStore, SessionStore

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
EVENT_HIDDEN_FIELDS = ("pk", "expires_at_s")


def session_with_events(session_id: str, sessions: SessionStore, events: EventStore) -> dict:
    record = sessions.get(session_id)
    if record is None:
        raise ApiError(404, "session_not_found", f"no session {session_id!r}", field="session_id")
    listed = Session.from_record(record).listed_event_ids()
    stored = events.get_events(record["site"], listed)
    return {
        "session": public_view(record),
        "events": [{k: v for k, v in e.items() if k not in EVENT_HIDDEN_FIELDS} for e in stored],
        # A session lists its first LISTED_EVENTS events; its counters cover all of them.
        "events_truncated": record["events"] > len(listed),
    }


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}",
                       field="limit")
    return int(raw)


def encode_cursor(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sk = json.loads(base64.urlsafe_b64decode(padded))["sk"]
        if not isinstance(sk, str):
            raise TypeError
        return sk
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned", field="cursor") from None


def visitor_sessions(visitor_id: str, query: dict[str, str], settings: Settings, sessions: SessionStore) -> dict:
    site = query.get("site") or settings.default_site_id
    if site not in settings.sites:
        raise ApiError(400, "unknown_site", f"site {site!r} is not configured", field="site")
    cursor = query.get("cursor")
    records, last_sk = sessions.of_visitor(visitor_key(site, visitor_id), _page_size(query.get("limit")),
                                           decode_cursor(cursor) if cursor else None)
    return {
        "site": site,
        "visitor_id": visitor_id,
        "sessions": [public_view(r) for r in records],
        "next_cursor": encode_cursor(last_sk) if last_sk else None,
    }

"""The session read API: one session with its events, and a visitor's sessions page by page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.core.errors import ApiError
from chalicelib.http.params import SessionQuery, VisitorSessionsQuery, encode_cursor
from chalicelib.schema.tables import visitor_key
from chalicelib.sessions.model import Session, public_view

if TYPE_CHECKING:
    from chalicelib.store import EventStore, SessionStore

EVENT_HIDDEN_FIELDS = ("pk", "expires_at_s", "claim")  # claim: the token of the write that stored it


def session_with_events(query: SessionQuery, sessions: SessionStore, events: EventStore) -> dict:
    record = sessions.get(query.session_id)
    if record is None:
        raise ApiError(404, "session_not_found", f"no session {query.session_id!r}", field="session_id")
    listed = Session.from_record(record).listed_event_ids()
    stored = events.get_events(record["site"], listed)
    return {
        "session": public_view(record),
        "events": [{k: v for k, v in e.items() if k not in EVENT_HIDDEN_FIELDS} for e in stored],
        # A session lists its first LISTED_EVENTS events; its counters cover all of them.
        "events_truncated": record["events"] > len(listed),
    }


def visitor_sessions(query: VisitorSessionsQuery, sessions: SessionStore) -> dict:
    records, last_sk = sessions.of_visitor(visitor_key(query.site, query.visitor_id), query.limit, query.after_sk)
    return {
        "site": query.site,
        "visitor_id": query.visitor_id,
        "sessions": [public_view(r) for r in records],
        "next_cursor": encode_cursor(last_sk) if last_sk else None,
    }

"""Server-side sessions: the rules, and folding a request's events into a visitor's sessions.

A session is one visitor's visit to one site. It ends after `timeout` without events (30 minutes by
default, as in Plausible, Umami, GA4 and Snowplow) and never spans more than 24 hours. The server
decides, from event times: a visitor who comes back after the timeout gets a new session even if the
expiry job has not yet ended the old one, which is then closed at its true end (its last event).

`plan()` is pure: given the newest stored session and the events, it returns the writes to make.
`sessionizer.Sessionizer` runs it against the store: each plan's session writes and its events are
one transaction, every write in it conditional, so an event is counted in a session exactly when
it is stored, once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from chalicelib.schema.tables import visitor_key

ACTIVE, ENDED = "active", "ended"
PAGE_VIEW = "page_view"
MAX_SESSION_MS = 24 * 3_600_000
# The SDK reports time-on-page as an `engagement` event; like GA4, 10 visible seconds make a visit
# engaged. Any other non-page-view event (a click, a signup) is an interaction and engages too.
ENGAGEMENT_EVENT = "engagement"
ENGAGED_AFTER_MS = 10_000
# The ids of a session's first events (16 bytes each), for GET /sessions/{id}: the session lists
# its events itself instead of an index on the events table costing a write unit per event.
LISTED_EVENTS = 64
UUID_BYTES = 16
# The acquisition and device facts a session takes from its first event.
FIRST_EVENT_FIELDS = ("referrer_host", "source", "channel", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                      "utm_content", "device_type", "browser", "os", "country")
SEQUENCE_DIGITS = 10
# On the stored event that starts a session (True), so the statistics, which are made from the events
# table's stream (stats/stream.py), count the visit and its sources without reading the session.
STARTS_SESSION = "starts_session"


@dataclass(frozen=True)
class SessionRules:
    timeout_ms: int
    max_ms: int = MAX_SESSION_MS
    shards: int = 8


def session_id_for(site: str, visitor_id: str, sk: str) -> str:
    # Deterministic, so concurrent creators of a visitor's next session agree on its id.
    return hashlib.blake2b(f"{site}\x1f{visitor_id}\x1f{sk}".encode(), digest_size=10).hexdigest()


def is_engagement(record: dict) -> bool:
    if record["event_type"] == PAGE_VIEW:
        return False
    if record["event_type"] == ENGAGEMENT_EVENT:
        engaged_ms = (record.get("properties") or {}).get("engaged_ms")
        return isinstance(engaged_ms, (int, float)) and engaged_ms >= ENGAGED_AFTER_MS
    return True


@dataclass
class Session:
    site: str
    visitor_id: str
    sk: str
    session_id: str
    status: str
    started_ms: int
    last_seen_ms: int
    first_event_ms: int
    events: int = 0
    page_views: int = 0
    entry_page: str | None = None
    entry_ms: int | None = None
    exit_page: str | None = None
    exit_ms: int | None = None
    engaged: bool = False
    first_event: dict = field(default_factory=dict)
    ended_ms: int | None = None
    expiry_check_ms: int | None = None
    event_ids: bytes = b""  # the first LISTED_EVENTS event ids, 16 bytes each
    version: int = 0  # 0: not stored yet

    @property
    def sequence(self) -> int:
        return int(self.sk[:SEQUENCE_DIGITS])

    @property
    def duration_ms(self) -> int:
        return self.last_seen_ms - self.started_ms

    @property
    def bounce(self) -> bool:
        return self.page_views == 1 and not self.engaged

    @property
    def shard(self) -> int:
        return int(self.session_id[:8], 16)

    def accepts(self, time_ms: int, rules: SessionRules) -> bool:
        span = max(self.last_seen_ms, time_ms) - min(self.started_ms, time_ms)
        return (self.started_ms - rules.timeout_ms <= time_ms <= self.last_seen_ms + rules.timeout_ms
                and span <= rules.max_ms)

    def add(self, record: dict) -> None:
        time_ms = record["time_ms"]
        if self.events == 0 or time_ms < self.first_event_ms:
            self.first_event_ms = time_ms
            self.first_event = {k: record[k] for k in FIRST_EVENT_FIELDS if record.get(k) is not None}
        self.events += 1
        self.started_ms = min(self.started_ms, time_ms)
        self.last_seen_ms = max(self.last_seen_ms, time_ms)
        if record["event_type"] == PAGE_VIEW:
            self.page_views += 1
            page = record.get("page_path")
            if self.entry_ms is None or time_ms < self.entry_ms:
                self.entry_page, self.entry_ms = page, time_ms
            if self.exit_ms is None or time_ms >= self.exit_ms:
                self.exit_page, self.exit_ms = page, time_ms
        self.engaged = self.engaged or is_engagement(record)
        if len(self.event_ids) < LISTED_EVENTS * UUID_BYTES:
            self.event_ids += uuid.UUID(record["event_id"]).bytes

    def end(self) -> None:
        self.status, self.ended_ms, self.expiry_check_ms = ENDED, self.last_seen_ms, None

    def schedule_expiry(self, rules: SessionRules) -> None:
        self.expiry_check_ms = min(self.last_seen_ms + rules.timeout_ms, self.started_ms + rules.max_ms)

    def listed_event_ids(self) -> list[str]:
        return [str(uuid.UUID(bytes=self.event_ids[i:i + UUID_BYTES]))
                for i in range(0, len(self.event_ids), UUID_BYTES)]

    @classmethod
    def start(cls, site: str, visitor_id: str, sk: str, record: dict) -> Session:
        session = cls(site=site, visitor_id=visitor_id, sk=sk, session_id=session_id_for(site, visitor_id, sk),
                      status=ACTIVE, started_ms=record["time_ms"], last_seen_ms=record["time_ms"],
                      first_event_ms=record["time_ms"])
        session.add(record)
        return session

    # --- storage form ---------------------------------------------------------------------

    def to_record(self, rules: SessionRules, retention_seconds: int) -> dict:
        record = {
            "pk": visitor_key(self.site, self.visitor_id), "sk": self.sk, "session_id": self.session_id,
            "site": self.site, "visitor_id": self.visitor_id, "status": self.status,
            "started_ms": self.started_ms, "last_seen_ms": self.last_seen_ms, "ended_ms": self.ended_ms,
            "duration_ms": self.duration_ms, "first_event_ms": self.first_event_ms, "events": self.events,
            "page_views": self.page_views, "entry_page": self.entry_page, "entry_ms": self.entry_ms,
            "exit_page": self.exit_page, "exit_ms": self.exit_ms, "engaged": self.engaged,
            "bounce": self.bounce, "event_ids": self.event_ids, "version": self.version + 1,
            "expires_at_s": self.last_seen_ms // 1000 + retention_seconds, **self.first_event,
        }
        if self.status == ACTIVE:  # only active sessions appear in the sparse expiry index
            record["active_shard"] = str(self.shard % rules.shards)
            record["expiry_check_ms"] = self.expiry_check_ms
        return {k: v for k, v in record.items() if v is not None}

    @classmethod
    def from_record(cls, record: dict) -> Session:
        return cls(
            site=record["site"], visitor_id=record["visitor_id"], sk=record["sk"],
            session_id=record["session_id"], status=record["status"], started_ms=record["started_ms"],
            last_seen_ms=record["last_seen_ms"], first_event_ms=record["first_event_ms"],
            events=record["events"], page_views=record["page_views"], entry_page=record.get("entry_page"),
            entry_ms=record.get("entry_ms"), exit_page=record.get("exit_page"), exit_ms=record.get("exit_ms"),
            engaged=record["engaged"], first_event={k: record[k] for k in FIRST_EVENT_FIELDS if k in record},
            ended_ms=record.get("ended_ms"), expiry_check_ms=record.get("expiry_check_ms"),
            event_ids=bytes(record.get("event_ids", b"")),
            version=record["version"],
        )


PUBLIC_HIDDEN_FIELDS = ("pk", "sk", "recent", "event_ids", "version", "active_shard", "expiry_check_ms",
                        "expires_at_s")


def public_view(record: dict) -> dict:
    """A stored session as the read API shows it (no storage internals)."""
    view = {k: v for k, v in record.items() if k not in PUBLIC_HIDDEN_FIELDS}
    view["duration_seconds"] = round(record["duration_ms"] / 1000, 3)
    return view


# --- planning ---------------------------------------------------------------------------------

@dataclass
class Write:
    session: Session
    expected_version: int | None  # None: create; the key must not exist yet
    event_ids: list[str]
    started: bool = False


@dataclass
class Plan:
    writes: list[Write]
    assignment: dict[str, Session]  # event id -> its session


def sequence_key(sequence: int) -> str:
    return f"{sequence:0{SEQUENCE_DIGITS}d}"


def _fold(sessions: list[Session], records: Iterable[dict], rules: SessionRules,
          new_key: Callable[[], str], site: str, visitor_id: str, assignment: dict[str, Session]) -> None:
    """Adds time-ordered records to the last session of `sessions` or to new ones appended to it."""
    for record in records:
        current = sessions[-1] if sessions and sessions[-1].status == ACTIVE else None
        if current is not None and current.accepts(record["time_ms"], rules):
            current.add(record)
        else:
            if current is not None:
                current.end()
            current = Session.start(site, visitor_id, new_key(), record)
            sessions.append(current)
        assignment[record["event_id"]] = current


def plan(site: str, visitor_id: str, latest: Session | None, records: list[dict], rules: SessionRules,
         token: Callable[[], str] = lambda: secrets.token_hex(4)) -> Plan:
    """The session writes that add `records` (events not stored yet) to the visitor's sessions."""
    assignment: dict[str, Session] = {}
    pending = sorted(records, key=lambda r: r["time_ms"])

    active = replace(latest) if latest is not None and latest.status == ACTIVE else None
    # Events older than the active session by more than the timeout are from an earlier visit
    # (an offline queue delivered late): they get sessions of their own, already ended, keyed to
    # sort before the active one so it stays the visitor's newest.
    cutoff_ms = active.started_ms - rules.timeout_ms if active is not None else None
    late = [r for r in pending if cutoff_ms is not None and r["time_ms"] < cutoff_ms]
    late_sessions: list[Session] = []
    if active is not None and late:
        before = sequence_key(active.sequence - 1)
        _fold(late_sessions, late, rules, lambda: f"{before}~{token()}", site, visitor_id, assignment)
        for session in late_sessions:
            session.end()

    sessions: list[Session] = [active] if active is not None else []
    sequences = iter(range(latest.sequence + 1 if latest is not None else 1, 1 << 62))
    _fold(sessions, pending[len(late):], rules, lambda: sequence_key(next(sequences)), site, visitor_id,
          assignment)
    for session in sessions:
        # Only a new session gets its first expiry check: moving an index key on every event would
        # cost an index write per request. The expiry job re-schedules sessions that are not idle.
        if session.status == ACTIVE and session.version == 0:
            session.schedule_expiry(rules)
    return Plan(_writes(sessions + late_sessions, active, latest, assignment), assignment)


def _writes(sessions: list[Session], active: Session | None, latest: Session | None,
            assignment: dict[str, Session]) -> list[Write]:
    by_session: dict[str, list[str]] = {}
    for event_id, session in assignment.items():
        if session is not latest:
            by_session.setdefault(session.sk, []).append(event_id)
    writes = []
    for session in sessions:
        if session is active and session.sk not in by_session and session.status == ACTIVE:
            continue  # nothing changed
        is_new = session.version == 0
        writes.append(Write(session, None if is_new else session.version, by_session.get(session.sk, []),
                            started=is_new))
    return writes

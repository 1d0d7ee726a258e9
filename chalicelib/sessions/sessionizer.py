"""Storing a visitor's events with their sessions: exactly once, whoever sends them and however often.

Each commit is one DynamoDB transaction holding a plan's session writes (conditional on the
version read, or on the key being new) and the events the plan counts (each conditional on its
key being new: the atomic claim of an `event_id` for its site). So an event is stored exactly
when a session counts it, and a resend, a concurrent duplicate from any visitor, or a retry of a
transaction whose answer was lost can never count it twice:

- a transaction resent after a timeout carries the same ClientRequestToken, and its events carry
  that token as their `claim`: if the first send had landed, DynamoDB answers success (token) or
  refuses every event with our own claim on it, and either way the commit is known to be done;
- an event claimed by another request is a `duplicate` (it is counted there), and the rest is
  planned again without it;
- a session changed by another request meanwhile is read again and the events re-planned.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core.errors import StoreUnavailable
from chalicelib.schema.tables import visitor_key
from chalicelib.sessions.model import ACTIVE, ENDED, STARTS_SESSION, Session, SessionRules, plan

if TYPE_CHECKING:
    from chalicelib.store import SessionStore
    from chalicelib.store.sessions import Commit

TRANSACTION_ITEMS_MAX = 100  # DynamoDB's limit of actions in one TransactWriteItems
EVENTS_PER_COMMIT_MAX = 90  # leaves room for the sessions a batch of events opens and closes


@dataclass
class SessionOutcome:
    assignment: dict[str, Session] = field(default_factory=dict)  # event id -> its session
    started: list[Session] = field(default_factory=list)
    ended: list[Session] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)  # event ids stored and counted by this request
    duplicates: dict[str, str | None] = field(default_factory=dict)  # event id -> session it was stored with
    unstorable: dict[str, str] = field(default_factory=dict)  # event id -> DynamoDB's reason
    error: str = ""  # why the rest could not be stored (DynamoDB unavailable): those events are not stored


class Sessionizer:
    """Applies a request's events for one visitor, retrying on write conflicts."""

    MAX_ATTEMPTS = 30

    def __init__(self, store: SessionStore, rules: SessionRules, retention_seconds: int,
                 pause: Callable[[int], None] = lambda attempt: None,
                 new_claim: Callable[[], str] = lambda: secrets.token_hex(8)) -> None:
        self._store = store
        self._rules = rules
        self._retention_seconds = retention_seconds
        self._pause = pause
        self._new_claim = new_claim

    def _latest(self, site: str, visitor_id: str) -> Session | None:
        record = self._store.latest(visitor_key(site, visitor_id))
        return Session.from_record(record) if record else None

    def visitor_for(self, site: str, visitor_id: str, previous_visitor_id: str | None,
                    first_time_ms: int) -> tuple[str, Session | None]:
        """Which visitor id to use: the previous day's cookieless id while its session goes on
        across midnight UTC, otherwise today's."""
        latest = self._latest(site, visitor_id)
        if latest is None and previous_visitor_id:
            previous = self._latest(site, previous_visitor_id)
            if previous is not None and previous.status == ACTIVE and previous.accepts(first_time_ms, self._rules):
                return previous_visitor_id, previous
        return visitor_id, latest

    def apply(self, site: str, visitor_id: str, records: list[dict],
              previous_visitor_id: str | None = None) -> SessionOutcome:
        """Stores `records` (events with `pk`, not stored yet as far as the caller knows) in their
        sessions; sets each stored record's `session_id` and `visitor_id`. When DynamoDB fails it
        part-way, `error` says why: the events of commits made are stored and counted (`applied`;
        their resend is a duplicate), the others are not stored."""
        outcome = SessionOutcome()
        try:
            self._apply(site, visitor_id, records, previous_visitor_id, outcome)
        except StoreUnavailable as exc:
            outcome.error = str(exc)
        return outcome

    def _apply(self, site: str, visitor_id: str, records: list[dict], previous_visitor_id: str | None,
               outcome: SessionOutcome) -> None:
        first_time_ms = min(r["time_ms"] for r in records)
        visitor_id, latest = self.visitor_for(site, visitor_id, previous_visitor_id, first_time_ms)
        remaining = sorted(records, key=lambda r: r["time_ms"])
        per_commit, refusals = EVENTS_PER_COMMIT_MAX, 0
        while remaining:
            batch = remaining[:per_commit]
            steps = plan(site, visitor_id, latest, batch, self._rules)
            if len(steps.writes) + len(batch) > TRANSACTION_ITEMS_MAX:  # many sessions: fewer events
                per_commit = max(1, per_commit // 2)
                continue
            for record in batch:
                session = steps.assignment[record["event_id"]]
                record["session_id"], record["visitor_id"] = session.session_id, session.visitor_id
            _mark_starts(steps, batch)
            commit = self._store.commit([(w.session.to_record(self._rules, self._retention_seconds),
                                          w.expected_version) for w in steps.writes], batch, self._new_claim())
            if commit.done:
                latest = self._committed(steps, batch, latest, outcome)
                remaining = remaining[len(batch):]
                continue
            refusals += 1
            if refusals >= self.MAX_ATTEMPTS:
                raise StoreUnavailable(f"session of {site}/{visitor_id} kept changing: {refusals} attempts")
            per_commit = self._set_aside(commit, batch, per_commit, outcome)
            remaining = [r for r in remaining if r["event_id"] not in outcome.duplicates
                         and r["event_id"] not in outcome.unstorable]
            self._pause(refusals)
            latest = self._latest(site, visitor_id)

    def _committed(self, steps, batch: list[dict], latest: Session | None, outcome: SessionOutcome) -> Session | None:
        newest = latest
        for write in steps.writes:
            written = write.session
            written.version += 1
            if write.started:
                outcome.started.append(written)
            if written.status == ENDED:
                outcome.ended.append(written)
            if newest is None or written.sk >= newest.sk:
                newest = written
        for record in batch:
            outcome.assignment[record["event_id"]] = steps.assignment[record["event_id"]]
            outcome.applied.add(record["event_id"])
        return newest

    @staticmethod
    def _set_aside(commit: Commit, batch: list[dict], per_commit: int, outcome: SessionOutcome) -> int:
        """Takes what a refused commit says out of the events to store; returns the next batch size."""
        for key, session_id in commit.duplicates.items():
            outcome.duplicates[_event_id(batch, key)] = session_id
        for key, reason in commit.unstorable.items():
            outcome.unstorable[_event_id(batch, key)] = reason
        if commit.invalid:  # DynamoDB refused the request without naming an item: find it alone
            if len(batch) == 1:
                outcome.unstorable[batch[0]["event_id"]] = commit.invalid
            return 1
        return per_commit


def _mark_starts(steps, batch: list[dict]) -> None:
    """Flags each new session's first event (the one its start time and sources come from), and only
    those: a record planned again after a refused commit may have been flagged by the earlier plan."""
    for record in batch:
        record.pop(STARTS_SESSION, None)
    for write in steps.writes:
        if write.started:
            first = next(r for r in batch if steps.assignment[r["event_id"]] is write.session)  # batch is in time order
            first[STARTS_SESSION] = True


def _event_id(batch: list[dict], key: str) -> str:
    return next(r["event_id"] for r in batch if r["pk"] == key)

"""POST /events as a use case: decode -> validate -> check origin -> drop bots -> enrich ->
de-duplicate -> store with sessions -> answer with a status per event.

Events are stored in the same transaction as the sessions that count them (sessionizer.py), each
claiming its `event_id` for its site: an event is counted in sessions exactly when it is stored,
and once. Statistics are made from what was stored: the events table's stream feeds them in batches
(stats/stream.py), so a request writes no statistics, except for a session its event ends (rare:
the expiry job ends idle sessions within a minute), with updates a resend cannot apply twice.

It takes its collaborators (settings, stores, sessionizer, metrics, clock) as arguments and
knows nothing of HTTP frameworks, so it runs the same under Chalice, in tests and in benchmarks.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from chalicelib import enrich
from chalicelib.core.deadline import within
from chalicelib.core.errors import ApiError, InvalidEvent, StoreUnavailable, forbidden_origin, unknown_site_reason
from chalicelib.core.log import log
from chalicelib.core.metrics import Metrics, RejectReason
from chalicelib.core.settings import Settings
from chalicelib.enrich.hints import ClientHints
from chalicelib.ingest.events import Event, decode_body, validate_event
from chalicelib.schema.tables import EVENTS, event_key
from chalicelib.sessions.model import PAGE_VIEW
from chalicelib.stats.buckets import Rollup, write_rollup

if TYPE_CHECKING:  # the store loads botocore; the collector only needs its interface
    from chalicelib.ingest.ratelimit import RateLimiter
    from chalicelib.sessions.sessionizer import Sessionizer, SessionOutcome
    from chalicelib.store import EventStore, SaltStore, StatsStore

ACCEPTED, DUPLICATE, INVALID, DROPPED, RETRY = "accepted", "duplicate", "invalid", "dropped", "retry"
STATUSES = (ACCEPTED, DUPLICATE, INVALID, DROPPED, RETRY)
RETRY_AFTER_SECONDS = 2
RATE_LIMITED = "rate_limited"
PREVIOUS_VISITOR = "_previous_visitor_id"  # carried on a record until sessionising, never stored

REASON_OF_ERROR = {  # a body refused whole (decode_body) -> the Reason it is counted under
    "unsupported_media_type": RejectReason.UNSUPPORTED_MEDIA_TYPE,
    "payload_too_large": RejectReason.TOO_LARGE,
    "malformed_json": RejectReason.MALFORMED,
    "too_deep": RejectReason.MALFORMED,
    "forbidden_origin": RejectReason.FORBIDDEN_ORIGIN,
}


@dataclass(frozen=True)
class IngestRequest:
    """What the collector needs from an HTTP request, framework-free."""

    body: bytes
    content_type: str | None = None
    origin: str | None = None
    user_agent: str = ""
    source_ip: str | None = None
    country_header: str | None = None
    request_id: str | None = None
    hint_headers: dict[str, str] = field(default_factory=dict)  # Sec-CH-UA*, names lower-cased


@dataclass
class Tally:
    """What one request did, for its metrics line."""

    rejected: Counter = field(default_factory=Counter)
    sessions_started: int = 0
    ended_sessions: list[tuple[int, bool]] = field(default_factory=list)  # (duration ms, bounced)
    pageviews_by_site: Counter = field(default_factory=Counter)
    rate_limited_by_site: Counter = field(default_factory=Counter)
    aggregate_errors: int = 0
    bot_category: str | None = None


@dataclass
class IngestResult:
    status_code: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


class Collector:
    def __init__(self, settings: Settings, events: EventStore, salts: SaltStore, sessions: Sessionizer,
                 stats: StatsStore, metrics: Metrics, clock: Callable[[], float] = time.time,
                 new_event_id: Callable[[], str] = lambda: str(uuid.uuid4()),
                 monotonic: Callable[[], float] = time.monotonic, limiter: RateLimiter | None = None,
                 country_of: Callable[[str], str | None] = lambda address: None) -> None:
        self._settings = settings
        self._events = events
        self._salts = salts
        self._sessions = sessions
        self._stats = stats
        self._metrics = metrics
        self._clock = clock
        self._new_event_id = new_event_id
        self._monotonic = monotonic  # the deadline's clock: the stores' Backoff must share it
        self._country_of = country_of  # an address's country, where no CloudFront header gives it
        self._limiter = limiter  # None: no per-site limit (tools and tests that build a collector)

    def collect(self, request: IngestRequest) -> IngestResult:
        started = time.perf_counter()
        tally = Tally()
        try:
            with within(self._settings.request_deadline_seconds, clock=self._monotonic):
                statuses = self._process(request, tally)
        except ApiError as err:
            if err.code != RATE_LIMITED:  # counted per event where it was raised
                tally.rejected[REASON_OF_ERROR.get(err.code, RejectReason.MALFORMED)] += 1
            result = IngestResult(err.status_code, err.body(), dict(err.headers))
            stored = errors = 0
        else:
            result = _answer(statuses)
            stored = sum(s["status"] == ACCEPTED for s in statuses)
            errors = sum(s["status"] == RETRY for s in statuses) + tally.aggregate_errors
        self._metrics.request(
            events_processed=stored,
            processing_ms=(time.perf_counter() - started) * 1000,
            processing_errors=errors,
            rejected=tally.rejected,
            sessions_started=tally.sessions_started,
            ended_sessions=tally.ended_sessions,
            properties={"request_id": request.request_id, "status_code": result.status_code},
            pageviews_by_site=dict(tally.pageviews_by_site),
            rate_limited_by_site=dict(tally.rate_limited_by_site),
            bot_category=tally.bot_category,
        )
        return result

    def _process(self, request: IngestRequest, tally: Tally) -> list[dict]:
        raw_events, _, raw_hints = decode_body(request.body, request.content_type)
        hints = enrich.hints.from_body(raw_hints) if raw_hints is not None else \
            enrich.hints.from_headers(request.hint_headers)
        statuses: list[dict | None] = [None] * len(raw_events)
        valid: list[tuple[int, Event]] = []
        for index, raw in enumerate(raw_events):
            try:
                valid.append((index, validate_event(raw, self._settings)))
            except InvalidEvent as exc:
                statuses[index] = {"status": INVALID, "field": exc.field, "code": exc.code,
                                   "reason": self._reason(exc, raw, request.origin)}
                tally.rejected[RejectReason.INVALID] += 1
        self._check_origin(request.origin, {event.site for _, event in valid})

        if valid and (category := enrich.bot_category(request.user_agent)):
            for index, event in valid:
                statuses[index] = _status(DROPPED, event.event_id, reason="bot")
            tally.rejected[RejectReason.BOT] += len(valid)
            tally.bot_category = category
            return statuses  # type: ignore[return-value]

        received_ms = int(self._clock() * 1000)
        self._admit(valid, received_ms, tally)
        try:
            self._store(valid, statuses, request, received_ms, tally, hints)
        except StoreUnavailable as exc:
            log("ERROR", "events not stored: DynamoDB unavailable", error=str(exc), events=len(valid))
            for index, event in valid:
                if statuses[index] is None:
                    statuses[index] = _status(RETRY, event.event_id)
        return statuses  # type: ignore[return-value]

    def _reason(self, exc: InvalidEvent, raw: dict, origin: str | None) -> str:
        if exc.code == "unknown_site":  # a configuration mistake: say where the site is added
            return unknown_site_reason(raw["site"], origin, self._settings.stage)
        return exc.reason

    def _admit(self, valid: list[tuple[int, Event]], now_ms: int, tally: Tally) -> None:
        """Bill protection: a site past its events per minute gets 429, nothing of the request stored."""
        if self._limiter is None:
            return
        by_site = Counter(event.site for _, event in valid)
        for site, count in sorted(by_site.items()):
            admission = self._limiter.admit(site, count, now_ms)
            if not admission.admitted:
                tally.rejected[RejectReason.RATE_LIMITED] += len(valid)
                tally.rate_limited_by_site[site] += count
                raise ApiError(429, RATE_LIMITED, f"site {site!r} sent more than its "
                               f"{self._settings.events_per_minute(site):,} events this minute; resend after "
                               "Retry-After", field="site", headers={"Retry-After": str(admission.retry_after_seconds)})

    def _check_origin(self, origin: str | None, sites: set[str]) -> None:
        if not origin:
            return  # not a browser request: nothing to check
        for site_id in sorted(sites):
            if not self._settings.sites[site_id].allows_origin(origin):
                raise forbidden_origin(origin, site_id, self._settings.stage)

    def _store(self, valid: list[tuple[int, Event]], statuses: list, request: IngestRequest,
               received_ms: int, tally: Tally, hints: ClientHints | None) -> None:
        keyed = self._keyed(valid, statuses, tally)
        records = self._records(keyed, request, received_ms, hints)
        self._refuse_unstorable(keyed, records, statuses, tally)
        ended = Rollup(self._settings.stats_shards)
        self._sessionize(records, keyed, statuses, tally, ended)
        if ended.buckets:
            self._aggregate(ended, received_ms, tally)

    def _keyed(self, valid: list[tuple[int, Event]], statuses: list, tally: Tally) -> dict[str, tuple[int, Event, str]]:
        """Every event with its id and key; a repeat within this request, or an id stored already,
        is answered `duplicate` here (the transaction's claim catches the ones that race)."""
        keyed: dict[str, tuple[int, Event, str]] = {}
        for index, event in valid:
            event_id = event.event_id or self._new_event_id()
            key = event_key(event.site, event_id)
            if key in keyed:
                statuses[index] = _status(DUPLICATE, event_id)
                tally.rejected[RejectReason.DUPLICATE] += 1
            else:
                keyed[key] = (index, event, event_id)
        # Only client-made ids can have been seen before: server-made ones are new by construction.
        client_keys = [k for k, (_, event, _) in keyed.items() if event.event_id]
        existing = self._events.existing_keys(client_keys) if client_keys else {}
        for key, session_id in existing.items():
            index, _, event_id = keyed.pop(key)
            statuses[index] = _status(DUPLICATE, event_id, session_id=session_id)
            tally.rejected[RejectReason.DUPLICATE] += 1
        return keyed

    def _records(self, keyed: dict[str, tuple[int, Event, str]], request: IngestRequest,
                 received_ms: int, hints: ClientHints | None) -> dict[str, dict]:
        client = enrich.describe_client(request.user_agent, hints)
        country = enrich.country_code(request.country_header) or (
            self._country_of(request.source_ip) if request.source_ip else None)
        records = {}
        for key, (_, event, event_id) in keyed.items():
            previous_visitor_id = None
            if event.user_id:
                visitor_id = event.user_id
            else:
                visitor_id, previous_visitor_id = self._visitor_hashes(event.site, request, received_ms)
            record = enrich.event_record(
                event, event_id=event_id, received_ms=received_ms, visitor_id=visitor_id,
                client=client, country=country, retention_seconds=self._settings.event_retention_seconds,
                past_limit_ms=self._settings.max_event_age_ms,
            )
            records[key] = {"pk": key, **record, PREVIOUS_VISITOR: previous_visitor_id}
        return records

    def _refuse_unstorable(self, keyed: dict[str, tuple[int, Event, str]], records: dict[str, dict],
                           statuses: list, tally: Tally) -> None:
        """Every record, serialised as the store will send it, is checked against DynamoDB's rules
        before the request writes anything: one DynamoDB refuses would fail after its session and
        statistics counted it. Sessions and statistics hold only strings these records hold, and
        the session_id added later is 20 hex digits. Validation should make a refusal impossible,
        so one is logged as an ERROR; the event is answered `invalid` and neither stored nor counted."""
        from chalicelib.store.storable import Unstorable, check_record  # the store loads botocore: not at cold start

        for key in list(records):
            try:
                check_record({k: v for k, v in records[key].items() if k != PREVIOUS_VISITOR}, EVENTS)
            except Unstorable as exc:
                index, _, event_id = keyed.pop(key)
                del records[key]
                field_name = enrich.source_field(exc.attribute)
                log("ERROR", "a validated event cannot be stored", field=field_name, reason=exc.reason)
                statuses[index] = _status(INVALID, event_id, field=field_name, code="unstorable", reason=exc.reason)
                tally.rejected[RejectReason.INVALID] += 1

    def _aggregate(self, rollup: Rollup, now_ms: int, tally: Tally) -> None:
        """Statistics are derived data: if the ended sessions' cannot be written the events are still
        stored (and answered 2xx); the loss is logged and counted as a ProcessingError, never doubled."""
        try:
            write_rollup(self._stats, rollup, now_ms, self._settings.max_event_age_ms)
        except StoreUnavailable as exc:
            log("ERROR", "statistics not updated: DynamoDB unavailable", error=str(exc))
            tally.aggregate_errors += 1

    def _sessionize(self, records: dict[str, dict], keyed: dict[str, tuple[int, Event, str]], statuses: list,
                    tally: Tally, ended: Rollup) -> None:
        """Stores every record with its session, one visitor at a time, and answers for each; the
        sessions the records end are added to `ended`."""
        by_visitor: dict[tuple[str, str, str | None], list[dict]] = {}
        for record in records.values():
            previous = record.pop(PREVIOUS_VISITOR)
            by_visitor.setdefault((record["site"], record["visitor_id"], previous), []).append(record)
        for (site, visitor_id, previous), group in by_visitor.items():
            outcome = self._sessions.apply(site, visitor_id, group, previous_visitor_id=previous)
            tally.pageviews_by_site[site] += sum(r["event_type"] == PAGE_VIEW for r in group
                                                 if r["event_id"] in outcome.applied)
            ended.add_ended(outcome.ended)
            tally.sessions_started += len(outcome.started)
            tally.ended_sessions.extend((s.duration_ms, s.bounce) for s in outcome.ended)
            for record in group:
                index, _, event_id = keyed[record["pk"]]
                statuses[index] = self._answer_for(record, event_id, outcome, tally)
            if outcome.error:
                log("ERROR", "events not stored: DynamoDB unavailable", error=outcome.error,
                    events=len(group) - len(outcome.applied) - len(outcome.duplicates) - len(outcome.unstorable))

    @staticmethod
    def _answer_for(record: dict, event_id: str, outcome: SessionOutcome, tally: Tally) -> dict:
        if record["event_id"] in outcome.applied:
            return _status(ACCEPTED, event_id, session_id=record["session_id"])
        if record["event_id"] in outcome.duplicates:  # stored by another request meanwhile
            tally.rejected[RejectReason.DUPLICATE] += 1
            return _status(DUPLICATE, event_id, session_id=outcome.duplicates[record["event_id"]])
        if record["event_id"] in outcome.unstorable:
            log("ERROR", "a validated event cannot be stored", reason=outcome.unstorable[record["event_id"]])
            tally.rejected[RejectReason.INVALID] += 1
            return _status(INVALID, event_id, field="event", code="unstorable",
                           reason=outcome.unstorable[record["event_id"]])
        tally.rejected[RejectReason.UNSTORED] += 1
        return _status(RETRY, event_id)

    def _visitor_hashes(self, site: str, request: IngestRequest, received_ms: int) -> tuple[str, str | None]:
        """Today's cookieless visitor id and, just after midnight UTC, yesterday's (so a visit that
        goes on across midnight keeps its session)."""
        moment = datetime.fromtimestamp(received_ms / 1000, tz=timezone.utc)
        today, yesterday = self._salts.salts_for(moment.date())
        ip, user_agent = request.source_ip or "", request.user_agent
        visitor_id = enrich.visitor_hash(today, site, ip, user_agent)
        since_midnight_ms = (moment.hour * 3600 + moment.minute * 60 + moment.second) * 1000
        if yesterday is None or since_midnight_ms > self._settings.session_timeout_seconds * 1000:
            return visitor_id, None
        return visitor_id, enrich.visitor_hash(yesterday, site, ip, user_agent)


def _status(status: str, event_id: str | None, **extra: str | None) -> dict:
    result = {"status": status}
    if event_id:
        result["event_id"] = event_id
    result.update({k: v for k, v in extra.items() if v is not None})
    return result


def _answer(statuses: list[dict]) -> IngestResult:
    counts = Counter(s["status"] for s in statuses)
    body: dict = {**{name: counts.get(name, 0) for name in STATUSES}, "events": statuses}
    if counts[RETRY]:
        body["error"] = {"code": "store_unavailable",
                         "message": f"{counts[RETRY]} event(s) could not be stored; resend those "
                                    "with status 'retry' (accepted ones are de-duplicated)"}
        return IngestResult(503, body, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if counts[INVALID] == len(statuses):
        first = statuses[0]
        body["error"] = {"code": "invalid_event", "field": first["field"],
                         "message": f"{first['field']}: {first['reason']}"}
        return IngestResult(400, body)
    return IngestResult(200, body)

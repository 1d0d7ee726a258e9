"""Erasure of one visitor (GDPR art. 17): its rows out of every lake partition (rewritten by rewrite.py's
protocol, so queries never see a half state), then its events and sessions out of DynamoDB.

Order, so that a run stopped at any point can be re-run and finishes the job: per partition, the
visitor's events found in it are deleted from DynamoDB before the partition is rewritten without them
(the lake is how events beyond a session's listed 64 are found); the sessions, which say which days
to check first, go last, once every partition has been checked. Aggregated counters stay.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from chalicelib.core.errors import ApiError
from chalicelib.core.log import log
from chalicelib.lake import layout, rewrite
from chalicelib.lake.layout import Partition
from chalicelib.lake.leases import Leases, PartitionBusy, rewriting
from chalicelib.lake.ports import ObjectMissing
from chalicelib.schema.lake import PARTITION_DATE_FORMAT
from chalicelib.schema.tables import visitor_key
from chalicelib.sessions.model import UUID_BYTES

BY = rewrite.ERASABLE_BY  # visitor_id (default) or user_id
# Events reach the lake within 2 minutes (the stream's batching window and retries): an erasure
# right after the visitor's last event answers 202 and a re-run after this catches late rows.
STREAM_SETTLE_MS = 5 * 60_000
MIN_PARTITION_SECONDS = 3.0  # not starting a partition with less time left
DEFAULT_BUDGET_SECONDS = 20.0


def erasure_request(visitor: str, query: Mapping[str, str], sites: Iterable[str], budget_seconds: float) -> dict:
    """The erasure's payload (JSON, as the erase_visitor function receives it) from DELETE /visitors/{id}."""
    by = query.get("by", "visitor_id")
    if by not in BY:
        raise ApiError(400, "invalid_by", f"by must be one of {', '.join(BY)}", field="by")
    configured = sorted(sites)
    site = query.get("site")
    if site is not None and site not in configured:
        raise ApiError(400, "unknown_site", f"site {site!r} is not configured", field="site")
    return {"visitor": visitor, "by": by, "sites": [site] if site else configured,
            "budget_seconds": round(budget_seconds, 3)}


@dataclass
class Erasure:
    visitor: str
    by: str
    sites: list[str]
    events: int = 0
    sessions: int = 0
    rows: int = 0
    objects_rewritten: int = 0
    partitions_checked: int = 0
    partitions_left: int = 0
    sessions_left: int = 0
    stream_settles_at_ms: int | None = None  # newest event may still be on its way to the lake
    left_sites: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.partitions_left or self.sessions_left or self.stream_settles_at_ms or self.left_sites)

    def answer(self) -> dict:
        answer = {
            "visitor": self.visitor, "by": self.by, "sites": self.sites, "complete": self.complete,
            "removed": {"dynamodb": {"events": self.events, "sessions": self.sessions},
                        "lake": {"rows": self.rows, "objects_rewritten": self.objects_rewritten}},
            "lake_partitions_checked": self.partitions_checked,
        }
        if not self.complete:
            answer["left"] = {"lake_partitions": self.partitions_left, "sessions": self.sessions_left,
                              "sites_not_started": self.left_sites,
                              "stream_settles_at_ms": self.stream_settles_at_ms,
                              "retry": "DELETE again (after stream_settles_at_ms if given) to finish"}
        return answer


def erase(request: dict, *, store, objects, leases: Leases, now_ms: int, time_left_seconds: float | None,
          clock: Callable[[], float] = time.monotonic) -> dict:
    """Runs one erasure (or its continuation) and answers what it removed and what is left."""
    budget = min(float(request.get("budget_seconds") or DEFAULT_BUDGET_SECONDS),
                 time_left_seconds if time_left_seconds is not None else float("inf"))
    deadline = clock() + budget
    erasure = Erasure(request["visitor"], request["by"], list(request["sites"]))
    exclusion = rewrite.Exclusion(request["by"], request["visitor"])
    for index, site in enumerate(erasure.sites):
        if deadline - clock() < MIN_PARTITION_SECONDS:
            erasure.left_sites = erasure.sites[index:]
            break
        _erase_site(site, exclusion, erasure, store, objects, leases, now_ms, lambda: deadline - clock())
    log("INFO", "visitor erased" if erasure.complete else "visitor erasure continues",
        by=erasure.by, complete=erasure.complete, events=erasure.events, sessions=erasure.sessions,
        rows=erasure.rows, objects_rewritten=erasure.objects_rewritten, partitions_left=erasure.partitions_left)
    return erasure.answer()


def _erase_site(site: str, exclusion: rewrite.Exclusion, erasure: Erasure, store, objects, leases: Leases,
                now_ms: int, seconds_left: Callable[[], float]) -> None:
    sessions = store.visitor_sessions(visitor_key(site, exclusion.value))
    groups = rewrite.group_by_partition(objects.list(layout.site_prefix(site)))
    order = _check_order(groups, _session_dates(sessions))
    for index, partition in enumerate(order):
        if seconds_left() < MIN_PARTITION_SECONDS:
            erasure.partitions_left += len(order) - index
            break
        if not _erase_partition(partition, groups[partition], site, exclusion, erasure, store, objects, leases,
                                now_ms):
            erasure.partitions_left += 1
    listed = [event_id for s in sessions for event_id in _listed_event_ids(s)]
    erasure.events += store.delete_events(site, listed)
    newest_ms = max((s["last_seen_ms"] for s in sessions), default=None)
    if newest_ms is not None and now_ms - newest_ms < STREAM_SETTLE_MS:
        erasure.stream_settles_at_ms = max(erasure.stream_settles_at_ms or 0, newest_ms + STREAM_SETTLE_MS)
    if erasure.partitions_left or erasure.stream_settles_at_ms:
        erasure.sessions_left += len(sessions)  # they say which days to check first next time
    else:
        erasure.sessions += store.delete_sessions(sessions)


def _erase_partition(partition: Partition, listing: list, site: str, exclusion: rewrite.Exclusion,
                     erasure: Erasure, store, objects, leases: Leases, now_ms: int) -> bool:
    """True when the partition holds none of the visitor's rows any more; False when it could not be
    checked now (another rewriter holds it, or changed it twice while we read)."""
    for attempt in range(2):
        try:
            state = (rewrite.resolve_listing(objects, partition, listing) if attempt == 0
                     else rewrite.read_partition(objects, partition))
            if state.files.live and rewrite.merge(objects, state.files, exclusion).excluded_event_ids:
                _rewrite_without(partition, site, exclusion, erasure, store, objects, leases, now_ms)
            break
        except ObjectMissing:  # compaction rewrote it meanwhile: read it again
            continue
        except PartitionBusy:  # compaction holds it: the next run (202 says so) takes it
            return False
    else:
        return False
    erasure.partitions_checked += 1
    return True


def _rewrite_without(partition: Partition, site: str, exclusion: rewrite.Exclusion, erasure: Erasure, store,
                     objects, leases: Leases, now_ms: int) -> None:
    """Under the partition's lease (no compaction can write the rows back meanwhile), read it again
    and rewrite it without the visitor's rows."""
    with rewriting(leases, partition, now_ms):
        state = rewrite.read_partition(objects, partition)
        merged = rewrite.merge(objects, state.files, exclusion)
        if merged.excluded_event_ids:
            erasure.events += store.delete_events(site, merged.excluded_event_ids)
            rewrite.apply(objects, state, merged)
            erasure.rows += len(merged.excluded_event_ids)
            erasure.objects_rewritten += 1


def _session_dates(sessions: list[dict]) -> set[str]:
    dates = set()
    for session in sessions:
        for time_ms in (session["started_ms"], session["last_seen_ms"]):  # a session spans at most 24 h
            dates.add(datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc).strftime(PARTITION_DATE_FORMAT))
    return dates


def _check_order(groups: Mapping[Partition, list], dates: set[str]) -> list[Partition]:
    """The sessions' days first, then every other partition of the site, newest first."""
    first = sorted(p for p in groups if p.date in dates)
    rest = sorted((p for p in groups if p.date not in dates), reverse=True)
    return first + rest


def _listed_event_ids(session: dict) -> list[str]:
    raw = bytes(session.get("event_ids") or b"")
    return [str(uuid.UUID(bytes=raw[i:i + UUID_BYTES])) for i in range(0, len(raw), UUID_BYTES)]

"""Bill protection: a per-site limit of events per minute, exact across every Lambda instance, for
about one DynamoDB write per hundred admitted events.

Each site has one counter per UTC minute in DynamoDB (store/limits.py) that never passes the limit.
A process does not write it for every request: it reserves a block of the minute's allowance (a
lease) with one conditional ADD and spends it locally, request by request. The block follows the
process's own rate, sized for what it expects to admit before the minute ends, at least 0.1% and at
most 1% of the limit (and never less than the request needs), so a busy process writes about once
per 1% of the limit and an idle one reserves little it will not use. A refused reservation returns
the counter as it stood: if what is left covers the request, the process reserves exactly that
instead; if not, it remembers what is left (the counter only grows within a minute) and refuses
later requests that need more without writing at all.

Consequences, by design:
- The events admitted for a site in a minute never exceed its limit, however many processes run.
- The unspent part of a lease is lost when its minute ends (each minute has its own counter), and
  while a minute lasts, other processes' unspent leases (each at most 1% of the limit, usually
  far less) may be refused to a process that asks for them: a site can be refused slightly before
  it reaches its limit, never after.
- No per-process free allowance (events admitted without any write): it would be exact only if the
  number of processes that serve a site within one minute were bounded, and it is not: Lambda
  starts and replaces execution environments at will, reserved concurrency bounds only those that
  run at the same time, and the collector has no reserved concurrency at all. A quiet process
  therefore pays one write per site and minute in which it admits events.
- A request is admitted or refused whole (all its events of the site, or none), and a request with
  more events than the limit is always refused (the setting's lower bound keeps a full batch of
  the API's maximum size admissible).
- If the counter cannot be reached (DynamoDB unavailable, the request's deadline spent), the events
  are admitted and a WARNING says so: the limit protects the bill, it must not stop the service.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.core.errors import StoreUnavailable
from chalicelib.core.log import log

MINUTE_MS = 60_000
LARGEST_BLOCK_SHARE = 100  # a block is at most 1/100 of the limit: a busy process writes once per 1%
SMALLEST_BLOCK_SHARE = 1_000  # and at least 1/1000 of it (unless the request needs more)
RATE_WINDOW_MIN_MS = 1_000  # a process's rate is measured over at least this long
RESERVE_ATTEMPTS = 8  # each refused attempt means other processes reserved: this ends quickly


@dataclass(frozen=True)
class Admission:
    admitted: bool
    retry_after_seconds: int  # 0 when admitted; else seconds until the next minute window (>= 1)


ADMITTED = Admission(True, 0)


class Reservation(Protocol):
    granted: bool
    reserved_events: int  # the minute's counter after the reservation, or when it was refused


class LimitCounter(Protocol):
    """The shared counters (store.LimitStore)."""

    def reserve(self, site: str, minute_start_ms: int, events: int, limit: int) -> Reservation: ...


@dataclass
class _Lease:
    """One process's state for one site and minute."""

    minute: int  # minutes since the epoch
    first_ms: int  # when this process first saw the site in this minute
    admitted_last_minute_events: int = 0
    admitted_events: int = 0
    unspent_events: int = 0  # reserved in DynamoDB by this process, not admitted yet
    # What the minute's counter had left when this process last saw it; it can only shrink.
    left_events: int | None = None
    refused_events: int = 0

    def learn_left(self, left_events: int) -> None:
        self.left_events = left_events if self.left_events is None else min(self.left_events, left_events)


class RateLimiter:
    """Admits or refuses a request's events of one site against the site's limit per minute."""

    def __init__(self, counter: LimitCounter, events_per_minute: Callable[[str], int]) -> None:
        self._counter = counter
        self._events_per_minute = events_per_minute
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()  # chalice local serves requests on threads; Lambda one at a time

    def admit(self, site: str, events: int, now_ms: int) -> Admission:
        """All `events` of `site` at `now_ms`, or none. Never raises for DynamoDB trouble."""
        if events <= 0:
            return ADMITTED
        minute, limit = now_ms // MINUTE_MS, self._events_per_minute(site)
        with self._lock:
            lease = self._lease(site, minute, now_ms)
            if lease.unspent_events >= events:  # the usual case: no write
                lease.unspent_events -= events
                lease.admitted_events += events
                return ADMITTED
            need = events - lease.unspent_events
            if events > limit or (lease.left_events is not None and need > lease.left_events):
                return self._refuse(site, lease, events, limit, now_ms)
            claimed, lease.unspent_events = lease.unspent_events, 0
            block = _block_events(lease, limit, need, now_ms)
        try:
            granted = self._reserve(site, lease, need, block, limit)
        except StoreUnavailable as exc:
            log("WARNING", "limit of events per minute not checked: events admitted (fail open)",
                site=site, events=events, error=str(exc))
            with self._lock:
                lease.unspent_events += claimed
            return ADMITTED
        with self._lock:
            if not granted:
                lease.unspent_events += claimed
                return self._refuse(site, lease, events, limit, now_ms)
            lease.unspent_events += claimed + granted - events
            lease.admitted_events += events
            return ADMITTED

    def _reserve(self, site: str, lease: _Lease, need: int, block: int, limit: int) -> int:
        """Reserves `block` events of the minute, or failing that what is left if it covers `need`:
        the events reserved, 0 for none."""
        events = block
        for _ in range(RESERVE_ATTEMPTS):
            reservation = self._counter.reserve(site, lease.minute * MINUTE_MS, events, limit)
            left = max(limit - reservation.reserved_events, 0)
            with self._lock:
                lease.learn_left(left)
            if reservation.granted:
                return events
            if left < need:
                return 0
            events = left  # less than the block, enough for the request: take it all
        return 0

    def _lease(self, site: str, minute: int, now_ms: int) -> _Lease:
        lease = self._leases.get(site)
        if lease is not None and lease.minute == minute:
            return lease
        if lease is not None and lease.minute > minute:
            # A request stamped in an earlier minute than another already seen (threads crossing a
            # minute's end): it is counted against its own minute, without disturbing the newer lease.
            return _Lease(minute=minute, first_ms=now_ms)
        last = lease.admitted_events if lease is not None and lease.minute == minute - 1 else 0
        self._forget_before(minute - 1)  # sites that went quiet: the dictionary stays small
        lease = self._leases[site] = _Lease(minute=minute, first_ms=now_ms, admitted_last_minute_events=last)
        return lease

    def _forget_before(self, minute: int) -> None:
        for site in [s for s, lease in self._leases.items() if lease.minute < minute]:
            del self._leases[site]

    def _refuse(self, site: str, lease: _Lease, events: int, limit: int, now_ms: int) -> Admission:
        if not lease.refused_events:  # once per process, site and minute: enough to find the site
            log("WARNING", "site over its limit of events per minute: events refused (429) until the minute ends",
                site=site, events_per_minute=limit, minute_start_ms=lease.minute * MINUTE_MS)
        lease.refused_events += events
        return Admission(False, retry_after_seconds(lease.minute, now_ms))


def retry_after_seconds(minute: int, now_ms: int) -> int:
    """Whole seconds from `now_ms` until the minute after `minute` starts: at least 1."""
    return max(1, math.ceil(((minute + 1) * MINUTE_MS - now_ms) / 1000))


def _block_events(lease: _Lease, limit: int, need: int, now_ms: int) -> int:
    """How many events to reserve: what this process expects to admit for the site before the
    minute ends, at the higher of its rate so far this minute and its rate of the last minute,
    kept within 0.1%..1% of the limit; never less than `need`, never more than is known to be left."""
    largest = max(1, limit // LARGEST_BLOCK_SHARE)
    smallest = max(1, limit // SMALLEST_BLOCK_SHARE)
    rate_per_ms = max(lease.admitted_events / max(now_ms - lease.first_ms, RATE_WINDOW_MIN_MS),
                      lease.admitted_last_minute_events / MINUTE_MS)
    expected = math.ceil(rate_per_ms * ((lease.minute + 1) * MINUTE_MS - now_ms))
    block = max(need, min(largest, max(smallest, expected)))
    return block if lease.left_events is None else min(block, lease.left_events)

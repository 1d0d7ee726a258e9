"""The scheduled session expiry: ends sessions that have been idle longer than the timeout.

It reads the sparse index of active sessions, shard by shard, only where the next expiry check is
due, so its reads grow with the sessions to end, not with all sessions stored. Each end is one
conditional update, so a late event and this job never both win, and two overlapping runs are
harmless. A run stops at its time budget and reports what it left as ExpiryBacklog.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.core.log import log
from chalicelib.core.metrics import Metrics
from chalicelib.sessions.model import SessionRules

if TYPE_CHECKING:
    from chalicelib.store import SessionStore

PAGE_ITEMS = 100


@dataclass
class ExpiryReport:
    ended: list[dict] = field(default_factory=list)  # the ended session records
    rescheduled: int = 0
    items_read: int = 0  # index items read (the cost that must track sessions to end)
    backlog: int = 0
    budget_exhausted: bool = False


def expire_idle_sessions(store: SessionStore, rules: SessionRules, metrics: Metrics, *, now_ms: int,
                         budget_seconds: float, monotonic: Callable[[], float] = time.monotonic,
                         on_ended: Callable[[list[dict]], None] = lambda records: None) -> ExpiryReport:
    """on_ended receives the ended session records (statistics count them)."""
    report = ExpiryReport()
    deadline = monotonic() + budget_seconds
    # Start at a different shard each minute so a run that runs out of time does not starve the
    # same shards every time.
    first = (now_ms // 60_000) % rules.shards
    shards = [(first + i) % rules.shards for i in range(rules.shards)]
    for position, shard in enumerate(shards):
        start_key = None
        while monotonic() < deadline:
            keys, start_key = store.due(shard, now_ms, PAGE_ITEMS, start_key)
            report.items_read += len(keys)
            for key in keys:
                _check(store, rules, key, now_ms, report)
            if not start_key:
                break
        else:
            report.budget_exhausted = True
            report.backlog = sum(store.count_due(s, now_ms) for s in shards[position:])
            log("WARNING", "session expiry ran out of time", backlog=report.backlog, budget_seconds=budget_seconds)
            break
    on_ended(report.ended)
    metrics.expiry(ended_sessions=[(r["duration_ms"], r["bounce"]) for r in report.ended],
                   backlog=report.backlog)
    return report


def _check(store: SessionStore, rules: SessionRules, key: dict, now_ms: int, report: ExpiryReport) -> None:
    outcome, record = store.end_if_idle(key, idle_before_ms=now_ms - rules.timeout_ms,
                                        started_before_ms=now_ms - rules.max_ms)
    if outcome == "ended":
        report.ended.append(record)
    elif outcome == "busy":
        # A newer event arrived since the check was scheduled: check again when it could be idle.
        assert record is not None
        store.reschedule(key, min(record["last_seen_ms"] + rules.timeout_ms, record["started_ms"] + rules.max_ms))
        report.rescheduled += 1

"""The scheduled expiry against moto: it ends exactly the idle sessions and reads only those."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.core.metrics import Metrics
from chalicelib.ingest.collector import IngestRequest
from chalicelib.sessions.expiry import expire_idle_sessions
from chalicelib.stats.buckets import shard_of
from tests.integration.conftest import BROWSER_UA, Serialized, stored_sessions

MIN = 60_000


@pytest.fixture
def services(wire, dynamodb):
    return wire(Serialized(dynamodb))


def visit(services, visitor: str, *minutes_ago: float, now_ms: int) -> str:
    events = [{"event_type": "page_view", "page_url": "https://shop.example/", "user_id": visitor,
               "event_id": str(uuid.uuid4()), "timestamp": now_ms - int(m * MIN)} for m in minutes_ago]
    result = services.collector.collect(IngestRequest(body=json.dumps({"events": events}).encode(),
                                                      content_type="application/json", user_agent=BROWSER_UA))
    assert result.status_code == 200, result.body
    return result.body["events"][0]["session_id"]


def by_id(dynamodb) -> dict[str, dict]:
    return {s["session_id"]: s for s in stored_sessions(dynamodb)}


def test_ends_idle_sessions_at_their_last_event_and_reads_only_those(services, dynamodb, counter):
    now = int(time.time() * 1000)
    idle = [visit(services, f"idle-{i}", 50, 45, now_ms=now) for i in range(12)]
    active = [visit(services, f"active-{i}", 3, now_ms=now) for i in range(30)]
    counter.reset()
    report = services.expire_sessions(now_ms=now)
    calls = dict(counter.calls)
    sessions = by_id(dynamodb)
    assert sorted(r["session_id"] for r in report.ended) == sorted(idle)
    assert all(sessions[s]["status"] == "ended" and sessions[s]["ended_ms"] == now - 45 * MIN for s in idle)
    assert all(sessions[s]["status"] == "active" for s in active)
    assert report.items_read == len(idle)  # not one read for the 30 active sessions
    # one query per index shard, one write per end, one statistics update per bucket touched (and
    # a marker for the rollup job when that bucket lies in an earlier hour than now's)
    stats_buckets = {shard_of(f"idle-{i}", services.settings.stats_shards) for i in range(12)}
    started_ms = now - 50 * MIN
    markers = 1 if started_ms - started_ms % 3_600_000 < now - now % 3_600_000 else 0
    assert calls == {"Query": 8, "UpdateItem": 12 + len(stats_buckets) + markers}
    assert services.expire_sessions(now_ms=now).items_read == 0  # ended ones left the sparse index


def test_a_session_with_a_newer_event_is_rescheduled_not_ended(services, dynamodb):
    now = int(time.time() * 1000)
    session_id = visit(services, "late-reader", 31, now_ms=now)      # expiry check due a minute ago
    assert visit(services, "late-reader", 2, now_ms=now) == session_id  # 29 minutes later: same visit
    report = services.expire_sessions(now_ms=now)
    assert report.ended == [] and report.rescheduled == 1
    session = by_id(dynamodb)[session_id]
    assert session["status"] == "active" and session["expiry_check_ms"] == now - 2 * MIN + 30 * MIN
    assert services.expire_sessions(now_ms=now + 29 * MIN).ended[0]["session_id"] == session_id


def test_overlapping_runs_end_each_session_once(services, dynamodb):
    now = int(time.time() * 1000)
    idle = {visit(services, f"v{i}", 40, now_ms=now) for i in range(25)}
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(lambda _: services.expire_sessions(now_ms=now), range(3)))
    ended = [r["session_id"] for report in reports for r in report.ended]
    assert sorted(ended) == sorted(idle)  # each exactly once across the runs
    assert all(s["status"] == "ended" for s in stored_sessions(dynamodb))


def test_a_late_event_racing_the_job_starts_a_new_session_and_loses_nothing(services, dynamodb, monkeypatch):
    now = int(time.time() * 1000)
    old_id = visit(services, "racer", 40, now_ms=now)
    store = services.sessions
    real_latest = store.latest

    def latest_then_job_runs(pk):
        record = real_latest(pk)
        monkeypatch.setattr(store, "latest", real_latest)
        services.expire_sessions(now_ms=now)  # the job ends the session between read and write
        return record

    monkeypatch.setattr(store, "latest", latest_then_job_runs)
    new_id = visit(services, "racer", 0, now_ms=now)
    sessions = by_id(dynamodb)
    assert new_id != old_id
    assert (sessions[old_id]["status"], sessions[old_id]["events"]) == ("ended", 1)
    assert (sessions[new_id]["status"], sessions[new_id]["events"]) == ("active", 1)


def test_a_run_out_of_time_reports_its_backlog(services, dynamodb, capsys):
    now = int(time.time() * 1000)
    for i in range(5):
        visit(services, f"b{i}", 40, now_ms=now)
    capsys.readouterr()
    report = expire_idle_sessions(services.sessions, services.session_rules, Metrics("local"),
                                  now_ms=now, budget_seconds=0)
    assert report.budget_exhausted and report.backlog == 5 and report.ended == []
    backlog = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ExpiryBacklog" in line]
    assert backlog[0]["ExpiryBacklog"] == 5
    assert len(services.expire_sessions(now_ms=now).ended) == 5


def test_expiry_metrics(services, capsys):
    now = int(time.time() * 1000)
    visit(services, "m1", 50, 40, now_ms=now)   # two page views, ten minutes
    visit(services, "m2", 35, now_ms=now)       # a bounce
    capsys.readouterr()
    services.expire_sessions(now_ms=now)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ended = next(line for line in lines if "SessionsEnded" in line)
    assert (ended["SessionsEnded"], ended["BouncedSessions"]) == (2, 1)
    assert sorted(ended["SessionDuration"]) == [0.0, 600.0]
    assert not [line for line in lines if "ExpiryBacklog" in line]  # no backlog: nothing printed (billed by the hour)

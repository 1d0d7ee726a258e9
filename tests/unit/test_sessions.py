"""The session rules, on the pure planner: no storage, just events in and sessions out."""

from __future__ import annotations

import itertools
import uuid

import pytest

from chalicelib.sessions.model import ACTIVE, ENDED, Session, SessionRules, plan, public_view

RULES = SessionRules(timeout_ms=30 * 60_000, shards=8)
MIN = 60_000
T0 = 1_795_700_000_000
_ids = itertools.count()


def event(minute: float, path: str | None = "/", event_type: str = "page_view", **extra) -> dict:
    record = {"event_id": str(uuid.UUID(int=next(_ids))), "event_type": event_type, "time_ms": int(T0 + minute * MIN),
              "channel": "Direct", "device_type": "desktop", **extra}
    if event_type == "page_view":
        record["page_path"] = path
    return record


def stored(session: Session) -> Session:
    """What a later request reads back after this session was written."""
    return Session.from_record(session.to_record(RULES, 3600))


def run(records, latest=None):
    return plan("demo", "v1", latest, records, RULES, token=lambda: "late")


def test_a_new_visitor_gets_one_session_with_exact_figures():
    steps = run([event(0, "/"), event(1, "/pricing"), event(3, "/signup")])
    [write] = steps.writes
    session = write.session
    assert write.expected_version is None and write.started
    assert (session.status, session.events, session.page_views) == (ACTIVE, 3, 3)
    assert (session.entry_page, session.exit_page, session.duration_ms) == ("/", "/signup", 3 * MIN)
    assert not session.bounce
    assert session.expiry_check_ms == T0 + 3 * MIN + RULES.timeout_ms
    assert set(steps.assignment) == set(write.event_ids) and len(write.event_ids) == 3


def test_out_of_order_events_give_the_right_entry_exit_and_duration():
    records = [event(5, "/c"), event(0, "/a", referrer_host="news.example", source="news.example", channel="Referral"),
               event(2, "/b")]
    session = run(records).writes[0].session
    assert (session.entry_page, session.exit_page) == ("/a", "/c")
    assert (session.started_ms, session.last_seen_ms, session.duration_ms) == (T0, T0 + 5 * MIN, 5 * MIN)
    # Acquisition comes from the first event.
    assert (session.first_event["channel"], session.first_event["source"]) == ("Referral", "news.example")


def test_a_gap_longer_than_the_timeout_inside_a_batch_splits_the_visit():
    steps = run([event(0, "/a"), event(10, "/b"), event(45, "/c")])
    first, second = (w.session for w in steps.writes)
    assert (first.status, first.ended_ms, first.events, first.sk) == (ENDED, T0 + 10 * MIN, 2, "0000000001")
    assert (second.status, second.events, second.sk) == (ACTIVE, 1, "0000000002")


def test_exactly_the_timeout_still_continues_the_session():
    steps = run([event(0), event(30)])
    assert len(steps.writes) == 1 and steps.writes[0].session.events == 2


def test_returning_after_the_timeout_ends_the_old_session_at_its_true_end():
    old = stored(run([event(0, "/a"), event(4, "/b")]).writes[0].session)
    steps = run([event(50, "/again")], latest=old)
    ended, new = steps.writes
    assert ended.expected_version == old.version and ended.session.status == ENDED
    assert (ended.session.ended_ms, ended.session.events, ended.session.exit_page) == (T0 + 4 * MIN, 2, "/b")
    assert ended.event_ids == []
    assert new.started and new.session.sk == "0000000002" and new.session.entry_page == "/again"


def test_an_ended_session_is_never_reopened():
    old = stored(run([event(0)]).writes[0].session)
    old.end()
    steps = run([event(5)], latest=stored(old))
    [write] = steps.writes
    assert write.started and write.session.sk == "0000000002"


def test_sessions_are_capped_at_24_hours():
    records = [event(m) for m in range(0, 25 * 60 + 1, 20)]  # every 20 minutes for 25 hours
    first, second = (w.session for w in run(records).writes)
    assert first.status == ENDED and first.duration_ms <= 24 * 60 * MIN
    assert first.events + second.events == len(records)


def test_events_from_an_earlier_visit_get_their_own_ended_session_that_sorts_before():
    active = stored(run([event(120, "/now")]).writes[0].session)
    steps = run([event(10, "/yesterday"), event(121, "/next")], latest=active)
    update, late = steps.writes
    assert update.expected_version == active.version and update.session.events == 2
    assert late.started and late.session.status == ENDED and late.session.events == 1
    assert late.session.sk == "0000000000~late" and late.session.sk < active.sk


@pytest.mark.parametrize("extra, bounce", [
    ([], True),
    ([event(1, event_type="engagement", properties={"engaged_ms": 15_000})], False),
    ([event(1, event_type="engagement", properties={"engaged_ms": 3_000})], True),
    ([event(1, event_type="signup")], False),
    ([event(1, "/second")], False),
])
def test_bounce_is_one_page_view_and_no_engagement(extra, bounce):
    assert run([event(0), *extra]).writes[0].session.bounce is bounce


def test_storage_round_trip_and_the_sparse_index_attributes():
    a, b = event(0, "/a"), event(2, "/b")
    session = run([a, b]).writes[0].session
    record = session.to_record(RULES, 3600)
    assert record["active_shard"] in {str(i) for i in range(8)} and record["expiry_check_ms"] > 0
    again = Session.from_record(record)
    assert (again.events, again.entry_page, again.exit_page, again.version) == (2, "/a", "/b", 1)
    again.end()
    ended = again.to_record(RULES, 3600)
    assert "active_shard" not in ended and "expiry_check_ms" not in ended
    view = public_view(ended)
    assert view["duration_seconds"] == 120.0 and "recent" not in view and "pk" not in view
    assert "event_ids" not in view and again.listed_event_ids() == [r["event_id"] for r in (a, b)]

"""Aggregation and query rules, without storage."""

import uuid
from collections import Counter

import pytest

from chalicelib.core.errors import ApiError
from chalicelib.sessions.model import STARTS_SESSION, Session
from chalicelib.stats.buckets import Rollup, bucket_start_ms, label, last_minutes, shard_of, visitor_member
from chalicelib.stats.merging import TOP_VALUES_KEPT, capped, merge
from chalicelib.stats.reader import parse_range, top_values

T0 = 1_795_700_000_000  # 2026-11-26T13:33:20Z


def record(visitor, minute, event_type="page_view", path="/"):
    return {"site": "demo", "visitor_id": visitor, "time_ms": T0 + minute * 60_000, "event_type": event_type,
            "page_path": path, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{visitor}{minute}{event_type}{path}"))}


def test_a_request_rolls_up_into_one_bucket_per_minute_and_shard():
    rollup = Rollup(shards=4)
    rollup.add_events([record("a", 0), record("a", 0, path="/x"), record("a", 0, "signup")])
    [(key, delta)] = rollup.buckets.items()
    assert key.shard == shard_of("a", 4) and key.minute_ms == bucket_start_ms("minute", T0)
    assert delta.counters == Counter({"events": 3, "pageviews": 2})
    assert delta.values["event"] == Counter({"page_view": 2, "signup": 1})
    assert delta.values["page"] == Counter({"/": 1, "/x": 1})
    assert merge([{**delta.counters, **delta.values}]).counters == Counter({
        "events": 3, "pageviews": 2, "event:page_view": 2, "event:signup": 1, "page:/": 1, "page:/x": 1})
    assert delta.visitors == {visitor_member("a")}


def test_sessions_count_at_start_and_end_in_their_start_bucket():
    first = {**record("a", 0), "channel": "Organic Search", "referrer_host": "google.com", "country": "DE",
             "device_type": "mobile", STARTS_SESSION: True}
    later = {**record("a", 3, path="/pricing"), "country": "FR"}  # a later event's sources are not the visit's
    session = Session.start("demo", "a", "0000000001", first)
    session.add(later)
    session.end()
    rollup = Rollup(shards=4)
    rollup.add_events([first])
    rollup.add_ended([session])
    rollup.add_events([later])  # its own minute: a page view, no visit
    start_bucket, later_bucket = rollup.buckets.values()
    c = merge([{**start_bucket.counters, **start_bucket.values}]).counters
    assert (c["sessions"], c["ended"], c["bounces"], c["duration_ms"], c["session_pageviews"]) == (1, 1, 0, 180_000, 2)
    assert (c["channel:Organic Search"], c["referrer:google.com"], c["country:DE"], c["device:mobile"]) == (1, 1, 1, 1)
    assert (c["entry:/"], c["exit:/pricing"], c["utm_source:(none)"], c["pageviews"]) == (1, 1, 1, 1)
    assert later_bucket.counters == Counter({"events": 1, "pageviews": 1})
    assert not any(later_bucket.values[d] for d in ("country", "channel", "referrer"))


def test_minute_buckets_merge_visitors_exactly():
    buckets = [{"pageviews": 2, "visitors": [b"a" * 8, b"b" * 8]}, {"pageviews": 1, "visitors": [b"a" * 8]}]
    merged = merge(buckets)
    assert (merged.counters["pageviews"], merged.visitors()) == (3, 2)


def test_rolled_buckets_keep_the_top_values_and_fold_the_rest():
    counters = Counter({f"page:/{i}": i + 1 for i in range(TOP_VALUES_KEPT + 5)})
    counters["pageviews"] = 99
    kept = capped(counters)
    assert kept["pageviews"] == 99 and "page:/0" not in kept
    assert kept["page:(other)"] == sum(range(1, 6))
    assert sum(v for k, v in kept.items() if k.startswith("page:")) == sum(v for k, v in counters.items()
                                                                           if k.startswith("page:"))


def test_top_values_are_sorted_by_count_then_value():
    counters = Counter({"page:/b": 3, "page:/a": 3, "page:/c": 5, "country:DE": 9})
    assert top_values(counters, "page", 2) == [{"value": "/c", "count": 5}, {"value": "/a", "count": 3}]


def test_labels_and_windows():
    assert label("minute", T0) == "2026-11-26T13:33" and label("hour", T0) == "2026-11-26T13"
    assert label("day", T0) == "2026-11-26"
    first, last = last_minutes(5, T0)
    assert (label("minute", first), last) == ("2026-11-26T13:29", T0)


@pytest.mark.parametrize("query, expected", [
    ({}, (T0 - 86_400_000, T0, "hour")),
    ({"from": "2026-11-26T10:00:00Z", "to": "2026-11-26T11:00:00Z"}, (1_795_687_200_000, 1_795_690_800_000, "minute")),
    ({"from": "2026-11-01", "to": "2026-11-26", "interval": "day"}, (1_793_491_200_000, 1_795_651_200_000, "day")),
    ({"from": "1795000000000", "to": "1795003600000", "interval": "hour"},
     (1_795_000_000_000, 1_795_003_600_000, "hour")),
])
def test_ranges(query, expected):
    assert parse_range(query, T0) == expected


@pytest.mark.parametrize("query, code, fragment", [
    ({"from": "2026-11-26", "to": "2026-11-25"}, "invalid_range", "before"),
    ({"from": "yesterday"}, "invalid_time", "from must be"),
    ({"interval": "week"}, "invalid_interval", "minute, hour, day"),
    ({"from": "2026-11-01", "to": "2026-11-26", "interval": "minute"}, "range_too_long", "at most 6 hours"),
    ({"from": "2026-01-01", "to": "2026-11-26", "interval": "hour"}, "range_too_long", "at most 31 days"),
])
def test_bad_ranges_say_what_is_allowed(query, code, fragment):
    with pytest.raises(ApiError) as err:
        parse_range(query, T0)
    assert err.value.code == code and fragment in err.value.message and err.value.status_code == 400


def test_buckets_of_any_earlier_hour_are_marked_for_the_rollup_job():
    from chalicelib.stats.buckets import write_rollup

    class Store:
        def __init__(self):
            self.added, self.marked = [], []

        def add(self, pk, sk, update):
            self.added.append(sk)

        def mark(self, pk, sk, ttl):
            self.marked.append(sk)

    now = T0  # 13:33
    rollup = Rollup(shards=1)
    rollup.add_events([record("a", 0), record("b", -40), record("c", -120)])  # 13:33, 12:53, 11:33
    store = Store()
    write_rollup(store, rollup, now, 24 * 3_600_000)
    assert sorted(store.added) == ["2026-11-26T11:33", "2026-11-26T12:53", "2026-11-26T13:33"]
    assert sorted(store.marked) == ["2026-11-26T11", "2026-11-26T12"]  # the job recomputes only 13 itself


def test_one_marker_per_late_hour_however_many_buckets():
    from chalicelib.stats.buckets import write_rollup

    class Store:
        marked: list = []

        def add(self, *args):
            pass

        def mark(self, pk, sk, ttl):
            self.marked.append(sk)

    rollup = Rollup(shards=4)
    rollup.add_events([record(f"v{i}", -120 + i % 3) for i in range(40)])  # 11:33-11:35, all shards
    store = Store()
    write_rollup(store, rollup, T0, 24 * 3_600_000)
    assert store.marked == ["2026-11-26T11"]


def test_minute_buckets_outlive_the_latest_event_that_may_still_arrive_for_their_hour():
    """A late event makes the rollup rebuild its hour from every minute bucket of that hour: each must
    still exist then, however long ago it was last written (LIVEINSIGHT_MAX_EVENT_AGE_HOURS)."""
    from chalicelib.stats.buckets import write_rollup

    class Store:
        def __init__(self):
            self.ttl_by_minute = {}

        def add(self, pk, sk, update):
            self.ttl_by_minute[sk] = update.expires_at_s

        def mark(self, pk, sk, ttl):
            pass

    day_s, day_ms = 86_400, 86_400_000
    for max_age_days in (1, 35):
        rollup = Rollup(shards=1)
        rollup.add_events([record("now", 0)])  # written as it happens; its hour may get late events for days
        store = Store()
        write_rollup(store, rollup, T0, max_age_days * day_ms)
        expires_s = store.ttl_by_minute["2026-11-26T13:33"]
        assert expires_s >= T0 // 1000 + 2 * day_s  # realtime and the current hour's rollup, as before
        # still there a day after the last moment an event of its hour may arrive
        minute_s = (T0 - T0 % 60_000) // 1000
        assert expires_s >= minute_s + max_age_days * day_s + day_s
        assert expires_s <= T0 // 1000 + max(2, max_age_days + 1) * day_s  # and not kept longer

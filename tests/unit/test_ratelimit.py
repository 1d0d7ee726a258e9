"""The per-site limit of events per minute (chalicelib/ingest/ratelimit.py): the lease logic against a fake
shared counter, the setting, the metric and the alarm that watches it."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter

import pytest

from chalicelib.core.errors import StoreUnavailable
from chalicelib.core.metrics import Metrics, RejectReason
from chalicelib.core.settings import (
    DEFAULT_EVENTS_PER_MINUTE_PER_SITE,
    MAX_EVENTS_PER_MINUTE_PER_SITE,
    MIN_EVENTS_PER_MINUTE_PER_SITE,
    SettingsError,
    load_settings,
)
from chalicelib.ingest.events import MAX_EVENTS_PER_REQUEST
from chalicelib.ingest.ratelimit import ADMITTED, MINUTE_MS, Admission, RateLimiter, retry_after_seconds
from chalicelib.store.limits import Reservation
from tests.conftest import PROJECT_DIR, stage_environment
from tests.infrastructure.aws_formats import emf_problems, emitted_metrics
from tests.infrastructure.conftest import TERRAFORM_DIR, resources, with_prefix

T0 = 1_795_000_020 * 1000  # a minute's start (UTC), as milliseconds
assert T0 % MINUTE_MS == 0


class FakeCounter:
    """DynamoDB's conditional ADD: atomic, never past the limit, the counter returned either way."""

    def __init__(self) -> None:
        self.reserved: Counter = Counter()
        self.calls: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def reserve(self, site: str, minute_start_ms: int, events: int, limit: int) -> Reservation:
        assert minute_start_ms % MINUTE_MS == 0 and 0 < events <= limit
        with self._lock:
            self.calls.append((site, minute_start_ms, events))
            key = (site, minute_start_ms)
            if self.reserved[key] + events > limit:
                return Reservation(False, self.reserved[key])
            self.reserved[key] += events
            return Reservation(True, self.reserved[key])

    def blocks(self, site: str = "a") -> list[int]:
        return [events for s, _, events in self.calls if s == site]


class Unavailable:
    def __init__(self) -> None:
        self.calls = 0

    def reserve(self, *args, **kwargs):
        self.calls += 1
        raise StoreUnavailable("update_item failed: ThrottlingException")


def limiter(counter, limit: int = 10_000, limits: dict[str, int] | None = None) -> RateLimiter:
    return RateLimiter(counter, lambda site: (limits or {}).get(site, limit))


# --- admission ------------------------------------------------------------------------------------

def test_one_process_admits_exactly_the_limit_then_refuses_until_the_next_minute():
    counter = FakeCounter()
    process = limiter(counter, limit=1_000)
    answers = [process.admit("a", 1, T0 + i) for i in range(1_000)]
    assert answers == [ADMITTED] * 1_000
    assert counter.reserved[("a", T0)] == 1_000  # the last block was what was left, exactly
    assert process.admit("a", 1, T0 + 30_000) == Admission(False, 30)
    assert process.admit("a", 1, T0 + MINUTE_MS) == ADMITTED  # a new minute, a new counter


def test_a_request_is_admitted_or_refused_whole():
    counter = FakeCounter()
    process = limiter(counter, limit=150)
    assert process.admit("a", 100, T0).admitted
    assert not process.admit("a", 51, T0 + 1).admitted  # 50 are left: none of the 51 is admitted
    assert process.admit("a", 50, T0 + 2).admitted
    assert counter.reserved[("a", T0)] == 150


def test_sites_have_their_own_limits_and_counters():
    counter = FakeCounter()
    process = limiter(counter, limits={"small": 100, "big": 20_000})
    assert process.admit("small", 100, T0).admitted
    assert not process.admit("small", 1, T0).admitted
    assert process.admit("big", 100, T0).admitted
    assert {key[0] for key in counter.reserved} == {"small", "big"}


def test_more_events_than_the_limit_are_refused_without_a_write():
    counter = FakeCounter()
    assert limiter(counter, limit=100).admit("a", 101, T0 + 59_000) == Admission(False, 1)
    assert counter.calls == []


def test_no_events_cost_nothing():
    counter = FakeCounter()
    assert limiter(counter).admit("a", 0, T0) == ADMITTED
    assert counter.calls == []


@pytest.mark.parametrize("offset_ms, seconds", [(0, 60), (1, 60), (999, 60), (1_000, 59), (29_500, 31),
                                                (59_000, 1), (59_001, 1), (59_999, 1)])
def test_retry_after_counts_whole_seconds_to_the_next_minute(offset_ms, seconds):
    assert retry_after_seconds(T0 // MINUTE_MS, T0 + offset_ms) == seconds
    counter = FakeCounter()
    process = limiter(counter, limit=100)
    assert process.admit("a", 100, T0).admitted
    assert process.admit("a", 1, T0 + offset_ms) == Admission(False, seconds)


def test_a_full_minute_is_refused_locally_after_one_refused_write():
    counter = FakeCounter()
    first, second = limiter(counter, limit=1_000), limiter(counter, limit=1_000)
    assert first.admit("a", 100, T0).admitted and first.admit("a", 100, T0).admitted
    for _ in range(8):
        assert first.admit("a", 100, T0 + 1_000).admitted
    calls = len(counter.calls)
    assert not second.admit("a", 5, T0 + 2_000).admitted  # one write learns that nothing is left
    assert len(counter.calls) == calls + 1
    for i in range(1_000):
        assert not second.admit("a", 1, T0 + 2_000 + i).admitted  # and the rest of the flood costs none
    assert len(counter.calls) == calls + 1
    assert second.admit("a", 1, T0 + MINUTE_MS).admitted


def test_what_is_left_is_taken_when_the_block_is_refused():
    counter = FakeCounter()
    counter.reserved[("a", T0)] = 9_995  # other processes took nearly everything
    process = limiter(counter)
    assert process.admit("a", 3, T0).admitted  # the block (10) is refused; the 5 left are enough
    assert counter.blocks() == [10, 5]
    assert process.admit("a", 2, T0).admitted  # spent from the lease: no write
    assert len(counter.calls) == 2
    assert not process.admit("a", 1, T0).admitted  # known to be empty: no write either
    assert len(counter.calls) == 2


# --- never more than the limit ------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_several_processes_never_admit_more_than_the_limit_and_waste_little(seed):
    rng = random.Random(seed)
    counter = FakeCounter()
    limit = rng.choice([100, 1_000, 10_000, 20_000])
    processes = [limiter(counter, limit=limit) for _ in range(rng.randint(2, 12))]
    admitted: Counter = Counter()
    refused_while_unspent = 0
    for minute in range(3):
        start = T0 + minute * MINUTE_MS
        # A flood at a random rate: the sites' events spread over the minute and the processes.
        requests = sorted(rng.randrange(MINUTE_MS) for _ in range(rng.randint(limit // 2, 3 * limit // 40 + limit)))
        for at in requests:
            events = rng.choice([1, 1, 1, 2, 5, 20, MAX_EVENTS_PER_REQUEST])
            answer = rng.choice(processes).admit("a", events, start + at)
            if answer.admitted:
                admitted[minute] += events
            else:
                assert answer.retry_after_seconds == retry_after_seconds(start // MINUTE_MS, start + at)
                refused_while_unspent += 1
        assert admitted[minute] <= counter.reserved[("a", start)] <= limit
        # Refusals start near the limit: at most every process's block (1% of the limit) unused,
        # plus one request of the largest size.
        if refused_while_unspent:
            assert admitted[minute] >= limit - len(processes) * max(1, limit // 100) - MAX_EVENTS_PER_REQUEST
        refused_while_unspent = 0


def test_threads_sharing_one_limiter_never_admit_more_than_the_limit():
    counter = FakeCounter()
    process = limiter(counter, limit=5_000)
    admitted = Counter()

    def send(n: int) -> None:
        rng = random.Random(n)
        for i in range(400):
            events = rng.choice([1, 3, 10])
            if process.admit("a", events, T0 + i * 100).admitted:
                admitted[n] += events

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted.values()) <= counter.reserved[("a", T0)] <= 5_000
    assert sum(admitted.values()) >= 5_000 - 100 - 10


# --- block sizes --------------------------------------------------------------------------------

def test_a_new_process_starts_small_and_grows_to_one_percent_of_the_limit():
    counter = FakeCounter()
    process = limiter(counter)  # 10,000 a minute: blocks of 10 to 100
    for i in range(1_000):  # 1,000 events in 20 seconds
        assert process.admit("a", 1, T0 + i * 20).admitted
    assert counter.blocks()[0] == 10
    assert max(counter.blocks()) == 100
    assert len(counter.calls) <= 11  # ~1 write per 100 events from the second write on


def test_a_busy_process_starts_the_next_minute_with_full_blocks():
    counter = FakeCounter()
    process = limiter(counter)
    for i in range(1_000):
        process.admit("a", 1, T0 + i * 60)  # 1,000 events a minute
    calls = len(counter.calls)
    for i in range(1_000):
        process.admit("a", 1, T0 + MINUTE_MS + i * 60)
    assert counter.blocks()[calls] == 100
    assert len(counter.calls) - calls == 10  # exactly one write per 100 events


def test_a_slow_process_reserves_little_it_will_not_use():
    counter = FakeCounter()
    process = limiter(counter)
    for i in range(6):  # one event every 10 seconds
        assert process.admit("a", 1, T0 + i * 10_000).admitted
    assert counter.blocks() == [10]  # 0.1% of the limit, and it lasts the minute
    process.admit("a", 1, T0 + MINUTE_MS)  # the next minute: the last minute's rate (6) is below 0.1%
    assert counter.blocks() == [10, 10]


def test_blocks_shrink_as_the_minute_ends():
    counter = FakeCounter()
    process = limiter(counter)
    for i in range(6_000):  # 6,000 events a minute: 0.1 a millisecond
        process.admit("a", 1, T0 + i * 10)
    assert max(counter.blocks()) == 100
    process.admit("a", 1, T0 + MINUTE_MS + 59_500)  # quiet until half a second before the minute ends
    assert counter.blocks()[-1] == 50  # what 0.1 a millisecond admits in 500 ms, not 1%


def test_a_request_larger_than_a_block_reserves_what_it_needs():
    counter = FakeCounter()
    process = limiter(counter, limit=1_000)  # blocks of 1 to 10
    assert process.admit("a", 100, T0).admitted
    assert counter.blocks() == [100]


def test_a_request_from_an_earlier_minute_counts_against_its_own_minute():
    counter = FakeCounter()
    process = limiter(counter, limit=100)
    assert process.admit("a", 100, T0 + MINUTE_MS).admitted
    assert process.admit("a", 60, T0 + 59_999).admitted  # a thread that read the clock earlier
    assert counter.reserved == {("a", T0 + MINUTE_MS): 100, ("a", T0): 60}
    assert not process.admit("a", 1, T0 + MINUTE_MS + 1).admitted


def test_quiet_sites_are_forgotten():
    process = limiter(FakeCounter())
    for n in range(50):
        process.admit(f"s{n}", 1, T0)
    process.admit("a", 1, T0 + 3 * MINUTE_MS)
    assert set(process._leases) == {"a"}


# --- fail open ----------------------------------------------------------------------------------

def test_an_unreachable_counter_admits_and_says_so(capsys):
    store = Unavailable()
    process = limiter(store, limit=100)
    assert process.admit("a", 100, T0) == ADMITTED
    assert process.admit("a", 100, T0 + 1) == ADMITTED  # no limit is known: it asks again
    assert store.calls == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["site"], line["events"]) for line in lines] == [("WARNING", "a", 100)] * 2
    assert "fail open" in lines[0]["message"] and "ThrottlingException" in lines[0]["error"]


def test_a_lease_survives_a_failed_top_up():
    counter = FakeCounter()
    process = limiter(counter, limit=10_000)
    assert process.admit("a", 4, T0).admitted  # a block of 10: 6 unspent
    real = counter.reserve
    counter.reserve = Unavailable().reserve
    assert process.admit("a", 10, T0).admitted  # fails open, keeps the 6
    counter.reserve = real
    for _ in range(6):
        assert process.admit("a", 1, T0).admitted
    assert len(counter.calls) == 1


def test_the_refusal_is_logged_once_per_site_and_minute(capsys):
    process = limiter(FakeCounter(), limit=100)
    process.admit("a", 100, T0)
    for _ in range(5):
        process.admit("a", 1, T0)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["site"], line["events_per_minute"]) for line in lines] == [("WARNING", "a", 100)]


# --- the setting --------------------------------------------------------------------------------

BASE = {"LIVEINSIGHT_STAGE": "x"}


def test_the_default_is_ten_thousand_events_a_minute_per_site():
    assert DEFAULT_EVENTS_PER_MINUTE_PER_SITE == 10_000
    assert load_settings(BASE).events_per_minute("default") == 10_000
    assert stage_environment("prod")["LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE"] == "10000"
    assert load_settings(stage_environment("local")).events_per_minute("demo") == 10_000


def test_the_bounds_fit_one_request_and_the_statistics_items():
    assert MIN_EVENTS_PER_MINUTE_PER_SITE == MAX_EVENTS_PER_REQUEST
    assert MAX_EVENTS_PER_MINUTE_PER_SITE == 20_000
    settings = load_settings({**BASE, "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE": "20000"})
    assert settings.events_per_minute("default") == 20_000
    assert load_settings({**BASE, "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE": "100"}).events_per_minute_per_site == 100


def test_a_site_may_set_its_own_limit():
    sites = {"shop": {"origins": [], "events_per_minute": 500}, "blog": {"origins": []}}
    settings = load_settings({**BASE, "LIVEINSIGHT_SITES": json.dumps(sites), "LIVEINSIGHT_DEFAULT_SITE": "blog",
                              "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE": "2000"})
    assert settings.sites["shop"].events_per_minute == 500
    assert (settings.events_per_minute("shop"), settings.events_per_minute("blog")) == (500, 2_000)
    assert settings.events_per_minute("unknown") == 2_000


@pytest.mark.parametrize("value, message", [
    ("20001", "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE must be 100 to 20,000"),
    ("99", "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE must be 100 to 20,000"),
    ("0", "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE must be positive"),
    ("ten thousand", "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE must be a whole number"),
    ("1e4", "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE must be a whole number"),
])
def test_a_bad_limit_fails_loudly_and_names_the_variable(value, message):
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE": value})


@pytest.mark.parametrize("value, message", [
    (50_000, "a.events_per_minute must be 100 to 20,000"),
    (0, "a.events_per_minute must be 100 to 20,000"),
    ("500", "a.events_per_minute must be a whole number"),
    (500.0, "a.events_per_minute must be a whole number"),
    (True, "a.events_per_minute must be a whole number"),
    (None, "a.events_per_minute must be a whole number"),
])
def test_a_bad_site_limit_fails_loudly_and_names_the_site(value, message):
    sites = json.dumps({"a": {"origins": [], "events_per_minute": value}})
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, "LIVEINSIGHT_SITES": sites})


# --- the metric and the alarm -------------------------------------------------------------------

def _rate_limited_alarm() -> dict:
    return resources(TERRAFORM_DIR / "modules" / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm")["rate_limited"]


def test_refused_events_are_counted_by_reason_and_site_on_one_line():
    lines = []
    Metrics("Production", lines.append).request(
        events_processed=0, processing_ms=1, processing_errors=0, rejected={RejectReason.RATE_LIMITED: 7},
        properties={"status_code": 429}, rate_limited_by_site={"shop": 7})
    [_, rejected] = lines
    assert emf_problems(rejected) == []
    assert emitted_metrics(rejected) == {("LiveInsight", "EventsRejected", frozenset({"Environment", "Reason"})),
                                         ("LiveInsight", "EventsRejected",
                                          frozenset({"Environment", "Reason", "Site"}))}
    line = json.loads(rejected)
    assert (line["Reason"], line["Site"], line["EventsRejected"]) == ("RateLimited", "shop", 7)


def test_refused_events_of_several_sites_get_a_line_per_site():
    lines = []
    Metrics("Production", lines.append).request(
        events_processed=0, processing_ms=1, processing_errors=0, rejected={RejectReason.RATE_LIMITED: 5},
        rate_limited_by_site={"shop": 2, "blog": 3, "quiet": 0})
    documents = [json.loads(line) for line in lines[1:]]
    assert all(emf_problems(line) == [] for line in lines)
    assert [(d.get("Site"), d["EventsRejected"]) for d in documents] == [(None, 5), ("shop", 2), ("blog", 3)]
    assert {d["Reason"] for d in documents} == {"RateLimited"}


def test_other_reasons_stay_without_a_site():
    lines = []
    Metrics("Production", lines.append).request(
        events_processed=0, processing_ms=1, processing_errors=0,
        rejected={RejectReason.INVALID: 1, RejectReason.RATE_LIMITED: 2}, rate_limited_by_site={"shop": 2})
    invalid, limited = (json.loads(line) for line in lines[1:])
    assert invalid["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Reason"]]
    assert "Site" not in invalid
    assert limited["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Reason"],
                                                                     ["Environment", "Reason", "Site"]]


def test_the_alarm_watches_exactly_what_the_collector_emits():
    alarm = _rate_limited_alarm()
    assert with_prefix(alarm["alarm_name"]) == "LiveInsight-RateLimited"
    assert with_prefix(alarm["alarm_name"], "LiveInsight-dev-") == "LiveInsight-dev-RateLimited"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == ("LiveInsight", "EventsRejected", "Sum")
    assert alarm["dimensions"] == {"Environment": "${var.metrics_environment}",
                                   "Reason": RejectReason.RATE_LIMITED.value}
    assert (alarm["period"], alarm["evaluation_periods"], alarm["threshold"]) == (300, 1, 1)
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["treat_missing_data"] == "notBreaching"  # no refused event: no data, no alarm
    assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.actions}"
    lines = []
    Metrics("Production", lines.append).request(events_processed=0, processing_ms=1, processing_errors=0,
                                                rejected={RejectReason.RATE_LIMITED: 1})
    emitted = json.loads(lines[1])
    assert {name: emitted[name] for name in alarm["dimensions"]} == {"Environment": "Production",
                                                                     "Reason": "RateLimited"}
    outputs = (TERRAFORM_DIR / "modules" / "alarms" / "outputs.tf").read_text()
    assert "aws_cloudwatch_metric_alarm.rate_limited.alarm_name" in outputs


def test_the_operations_guide_says_what_the_alarm_means_and_what_to_do():
    guide = (PROJECT_DIR / "docs" / "operations.md").read_text()
    assert "docs/operations.md#rate-limited" in _rate_limited_alarm()["alarm_description"]
    assert '<a id="rate-limited"></a>' in guide
    section = guide[guide.index('<a id="rate-limited"></a>'):]
    for needed in ("LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE", "events_per_minute", "20,000", "Site"):
        assert needed in section[:3000], needed
    assert "`LiveInsight-RateLimited`" in guide and "RateLimited" in guide.split("## Alarms")[0]

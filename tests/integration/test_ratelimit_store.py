"""The counters of the per-site limit of events per minute (chalicelib/store/limits.py) on moto's
DynamoDB: exact under racing processes, within the request's deadline, failing open, and what they
cost in requests."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from chalicelib.core.deadline import within
from chalicelib.core.errors import StoreUnavailable
from chalicelib.ingest.ratelimit import ADMITTED, MINUTE_MS, RateLimiter
from chalicelib.schema.tables import STATS
from chalicelib.services import Services
from chalicelib.store import Backoff, LimitStore
from chalicelib.store.limits import COUNTER_KEPT_SECONDS, RESERVED_ATTRIBUTE, limit_key, minute_label
from tests.integration.conftest import STAGE, RequestCounter, Serialized

T0 = 1_795_000_020 * 1000  # 2026-11-18T11:07:00Z
TABLE = STATS.name(STAGE)


def counter_item(client, site: str, minute_start_ms: int) -> dict | None:
    return client.get_item(TableName=TABLE, ConsistentRead=True,
                           Key={"pk": {"S": limit_key(site)}, "sk": {"S": minute_label(minute_start_ms)}}).get("Item")


def reserved(client, site: str, minute_start_ms: int) -> int:
    item = counter_item(client, site, minute_start_ms)
    return int(item[RESERVED_ATTRIBUTE]["N"]) if item else 0


def test_a_reservation_adds_to_the_minutes_counter_with_a_ttl(dynamodb, no_sleep_backoff):
    store = LimitStore(dynamodb, TABLE, no_sleep_backoff)
    first = store.reserve("shop", T0, 60, 100)
    assert (first.granted, first.reserved_events) == (True, 60)
    assert (store.reserve("shop", T0, 40, 100).granted, reserved(dynamodb, "shop", T0)) == (True, 100)
    item = counter_item(dynamodb, "shop", T0)
    assert (item["pk"]["S"], item["sk"]["S"]) == ("shop#limit", "2026-11-18T11:07")
    assert int(item["expires_at_s"]["N"]) == (T0 + MINUTE_MS) // 1000 + COUNTER_KEPT_SECONDS


def test_a_refused_reservation_says_what_the_counter_holds_and_changes_nothing(dynamodb, no_sleep_backoff):
    store = LimitStore(dynamodb, TABLE, no_sleep_backoff)
    store.reserve("shop", T0, 95, 100)
    refused = store.reserve("shop", T0, 10, 100)
    assert (refused.granted, refused.reserved_events) == (False, 95)
    assert store.reserve("shop", T0, 5, 100).granted
    assert (store.reserve("shop", T0, 1, 100).granted, reserved(dynamodb, "shop", T0)) == (False, 100)


def test_each_site_and_minute_has_its_own_counter(dynamodb, no_sleep_backoff):
    store = LimitStore(dynamodb, TABLE, no_sleep_backoff)
    assert store.reserve("shop", T0, 100, 100).granted
    assert store.reserve("blog", T0, 100, 100).granted
    assert store.reserve("shop", T0 + MINUTE_MS, 100, 100).granted
    assert not store.reserve("shop", T0, 1, 100).granted


def test_a_reservation_beyond_the_limit_is_a_bug_not_a_request(dynamodb):
    with pytest.raises(ValueError):
        LimitStore(dynamodb, TABLE).reserve("shop", T0, 101, 100)


# --- failures: StoreUnavailable, which the limiter turns into an admission -------------------------

class Failing:
    """The moto client whose UpdateItem answers with a DynamoDB error code (after `stall` ())."""

    def __init__(self, client, code: str, stall=lambda: None) -> None:
        self._client, self._code, self._stall, self.calls = client, code, stall, 0

    def update_item(self, **kwargs):
        self.calls += 1
        self._stall()
        raise ClientError({"Error": {"Code": self._code, "Message": "injected"}}, "UpdateItem")

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.mark.parametrize("code, attempts", [("ProvisionedThroughputExceededException", 6),
                                            ("InternalServerError", 6), ("AccessDeniedException", 1)])
def test_dynamodb_trouble_is_store_unavailable_and_the_limiter_fails_open(dynamodb, no_sleep_backoff, code,
                                                                          attempts, capsys):
    client = Failing(dynamodb, code)
    store = LimitStore(client, TABLE, no_sleep_backoff)
    with pytest.raises(StoreUnavailable, match=code):
        store.reserve("shop", T0, 1, 100)
    assert client.calls == attempts  # throttling is retried; a permissions fault is not
    assert RateLimiter(store, lambda site: 100).admit("shop", 100, T0) == ADMITTED
    assert '"level":"WARNING"' in capsys.readouterr().out


def test_the_counter_respects_the_requests_deadline(dynamodb):
    clock = [0.0]

    def wait(seconds: float) -> None:
        clock[0] += seconds

    backoff = Backoff(sleep=wait, clock=lambda: clock[0])
    client = Failing(dynamodb, "ThrottlingException", stall=lambda: wait(2.0))  # each attempt: a 2 s wait
    limiter = RateLimiter(LimitStore(client, TABLE, backoff), lambda site: 100)
    with within(2.5, clock=lambda: clock[0]):  # less than one attempt's bound is left
        assert limiter.admit("shop", 1, T0) == ADMITTED
    assert client.calls == 0
    with within(7, clock=lambda: clock[0]):
        assert limiter.admit("shop", 1, T0) == ADMITTED
    assert client.calls == 2 and clock[0] <= 7  # a third attempt would not fit in the deadline


# --- racing processes ---------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [100, 1_000, 5_000])
def test_racing_processes_never_take_more_than_the_limit(dynamodb, no_sleep_backoff, limit):
    """Eight processes (threads, each with its own limiter and store) flood one site over two
    minutes; DynamoDB applies each conditional write atomically (Serialized)."""
    client = Serialized(dynamodb)
    admitted: Counter = Counter()
    lock = threading.Lock()

    def process(n: int) -> None:
        rng = random.Random(n)
        limiter = RateLimiter(LimitStore(client, TABLE, no_sleep_backoff), lambda site: limit)
        for i in range(300):
            at = T0 + i * 2 * MINUTE_MS // 300  # the two minutes, in step with the others
            events = rng.choice([1, 2, 5, 25, 100])
            if limiter.admit("shop", events, at).admitted:
                with lock:
                    admitted[at // MINUTE_MS] += events

    threads = [threading.Thread(target=process, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for minute_start_ms in (T0, T0 + MINUTE_MS):
        total = admitted[minute_start_ms // MINUTE_MS]
        assert total <= reserved(dynamodb, "shop", minute_start_ms) <= limit
        # refusals begin near the limit: each process may hold at most one unspent block (1%)
        assert total >= limit - 8 * max(1, limit // 100) - 100


def test_racing_requests_near_the_limit_take_what_is_left(dynamodb, no_sleep_backoff):
    client = Serialized(dynamodb)
    LimitStore(client, TABLE, no_sleep_backoff).reserve("shop", T0, 9_950, 10_000)
    limiters = [RateLimiter(LimitStore(client, TABLE, no_sleep_backoff), lambda site: 10_000) for _ in range(10)]
    answers = []

    def send(limiter: RateLimiter) -> None:
        answers.append(limiter.admit("shop", 5, T0 + 1_000))

    threads = [threading.Thread(target=send, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reserved(dynamodb, "shop", T0) <= 10_000
    assert sum(answer.admitted for answer in answers) >= 5  # the 50 left go to racing processes
    assert all(answer.retry_after_seconds == 59 for answer in answers if not answer.admitted)


# --- cost ---------------------------------------------------------------------------------------

def test_a_thousand_single_event_requests_cost_about_ten_writes(dynamodb, no_sleep_backoff):
    requests = RequestCounter(dynamodb)
    limiter = RateLimiter(LimitStore(dynamodb, TABLE, no_sleep_backoff), lambda site: 10_000)
    for i in range(1_000):  # a new process: the first minute
        assert limiter.admit("shop", 1, T0 + i * 60).admitted
    first_minute = dict(requests.calls)
    requests.reset()
    for i in range(1_000):  # the next minute, at the same rate
        assert limiter.admit("shop", 1, T0 + MINUTE_MS + i * 60).admitted
    assert first_minute == {"UpdateItem": 11}  # a block of 10, then blocks of up to 100
    assert dict(requests.calls) == {"UpdateItem": 10}  # one write per 100 events
    assert reserved(dynamodb, "shop", T0 + MINUTE_MS) == 1_000  # nothing reserved that is not used


def test_a_flood_beyond_the_limit_costs_one_refused_write_per_process(dynamodb, no_sleep_backoff):
    requests = RequestCounter(dynamodb)
    limiter = RateLimiter(LimitStore(dynamodb, TABLE, no_sleep_backoff), lambda site: 1_000)
    answers = Counter(limiter.admit("shop", 1, T0 + i).admitted for i in range(50_000))
    assert answers == {True: 1_000, False: 49_000}
    writes = requests.calls["UpdateItem"]
    assert writes <= 1 + 1_000 // 10 + 1  # a first block, blocks of 10 (1% of 1,000), the last one
    assert requests.total == writes  # no reads
    requests.reset()
    for i in range(10_000):
        assert not limiter.admit("shop", 1, T0 + 30_000 + i).admitted
    assert requests.total == 0  # the rest of the minute's flood is refused without a request


def test_services_build_the_limiter_on_the_statistics_table(dynamodb, settings, no_sleep_backoff):
    services = Services(settings, dynamodb_client=dynamodb, backoff=no_sleep_backoff)
    limiter = services.rate_limiter
    assert limiter is services.rate_limiter
    assert limiter.admit("demo", 100, T0).admitted
    assert reserved(dynamodb, "demo", T0) == 100
    assert settings.events_per_minute("demo") == 10_000

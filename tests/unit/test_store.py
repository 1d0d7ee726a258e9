"""The store's retry rules, against a fake client that raises botocore's real errors."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.errors import StoreUnavailable
from chalicelib.store import Backoff, EventStore, from_item, to_item

TABLE = "LiveInsight-test-Events"


def throttled(operation="BatchWriteItem"):
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                       operation)


class ScriptedClient:
    """Answers each call with the next scripted outcome: an exception to raise or 'ok'/'half'."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def batch_write_item(self, RequestItems):
        items = RequestItems[TABLE]
        self.calls.append(len(items))
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == "half":
            return {"UnprocessedItems": {TABLE: items[len(items) // 2:]}}
        return {"UnprocessedItems": {}}

    def put_item(self, TableName, Item):
        self.calls.append(Item["pk"]["S"])
        if Item.get("poison"):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "bad item"}}, "PutItem")
        return {}

    def batch_get_item(self, RequestItems):
        self.calls.append(len(RequestItems[TABLE]["Keys"]))
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return {"Responses": {TABLE: []}, "UnprocessedKeys": {}}


def records(n):
    return [{"pk": f"demo#{i}", "event_type": "page_view", "time_ms": i} for i in range(n)]


def store(client, sleeps):
    return EventStore(client, TABLE, Backoff(attempts=4, sleep=sleeps.append, rand=lambda: 1.0))


def test_writes_go_25_per_call():
    client, sleeps = ScriptedClient([]), []
    assert store(client, sleeps).put_events(records(60)) == []
    assert client.calls == [25, 25, 10] and sleeps == []


def test_unprocessed_items_are_retried_with_growing_backoff():
    client, sleeps = ScriptedClient(["half", "half"]), []
    assert store(client, sleeps).put_events(records(20)) == []
    assert client.calls == [20, 10, 5]
    assert sleeps == [0.05, 0.1]


def test_throttling_then_success_stores_everything():
    client, sleeps = ScriptedClient([throttled(), EndpointConnectionError(endpoint_url="x")]), []
    assert store(client, sleeps).put_events(records(3)) == []
    assert len(client.calls) == 3


def test_persistent_throttling_reports_every_unstored_key():
    client, sleeps = ScriptedClient([throttled()] * 4), []
    assert store(client, sleeps).put_events(records(3)) == ["demo#0", "demo#1", "demo#2"]
    assert len(client.calls) == 4 and len(sleeps) == 3


def test_a_non_retryable_error_is_not_retried():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchWriteItem")
    client, sleeps = ScriptedClient([denied]), []
    assert store(client, sleeps).put_events(records(2)) == ["demo#0", "demo#1"]
    assert client.calls == [2] and sleeps == []


def test_a_poison_item_is_isolated_and_its_neighbours_stored():
    invalid = ClientError({"Error": {"Code": "ValidationException", "Message": "bad item"}}, "BatchWriteItem")
    client, sleeps = ScriptedClient([invalid]), []
    batch = records(3)
    batch[1]["poison"] = True
    assert store(client, sleeps).put_events(batch) == ["demo#1"]
    assert client.calls == [3, "demo#0", "demo#1", "demo#2"]


def test_existing_keys_raises_when_dynamodb_cannot_answer():
    client, sleeps = ScriptedClient([throttled("BatchGetItem")] * 4), []
    with pytest.raises(StoreUnavailable):
        store(client, sleeps).existing_keys(["demo#a"])


def test_existing_keys_reads_100_per_call():
    client, sleeps = ScriptedClient([]), []
    store(client, sleeps).existing_keys([f"demo#{i}" for i in range(150)])
    assert client.calls == [100, 50]


def test_backoff_is_capped_and_jittered():
    sleeps = []
    backoff = Backoff(base_seconds=0.05, cap_seconds=1.0, sleep=sleeps.append, rand=lambda: 0.5)
    for attempt in range(8):
        backoff.pause(attempt)
    assert sleeps == [0.025, 0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_items_round_trip():
    record = {"pk": "demo#1", "n": 3, "f": 1.5, "ok": True, "props": {"a": "x", "b": None, "c": -2}}
    assert from_item(to_item(record)) == record


class StalledClient:
    """DynamoDB that never answers: every attempt ends in botocore's read timeout, which takes time."""

    def __init__(self, clock, seconds_per_attempt):
        self.clock, self.seconds_per_attempt, self.attempts = clock, seconds_per_attempt, 0

    def get_item(self, **_):
        from botocore.exceptions import ReadTimeoutError

        self.attempts += 1
        self.clock.now += self.seconds_per_attempt
        raise ReadTimeoutError(endpoint_url="http://dynamodb")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_every_attempt_fits_in_the_deadline():
    from chalicelib.deadline import within
    from chalicelib.store.base import ATTEMPT_SECONDS_MAX, READ_TIMEOUT_SECONDS, call

    clock = FakeClock()
    client = StalledClient(clock, READ_TIMEOUT_SECONDS)
    backoff = Backoff(attempts=100, sleep=clock.sleep, clock=clock)
    started = clock.now
    with within(10, clock=clock), pytest.raises(StoreUnavailable, match="deadline"):
        call(backoff, client.get_item, TableName=TABLE, Key={})
    assert clock.now - started <= 10  # no attempt began that could not end in time
    assert client.attempts == 4 and clock.now - started + ATTEMPT_SECONDS_MAX > 10  # and none was left unused


def test_without_a_deadline_the_attempts_are_the_limit():
    from chalicelib.store.base import call

    clock = FakeClock()
    client = StalledClient(clock, 2)
    with pytest.raises(StoreUnavailable, match="ReadTimeoutError"):
        call(Backoff(attempts=3, sleep=clock.sleep, clock=clock), client.get_item)
    assert client.attempts == 3

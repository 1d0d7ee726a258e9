"""The store's retry rules, against a fake client that raises botocore's real errors."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.store import Backoff, EventStore, SessionStore, from_item, to_item

TABLE = "LiveInsight-test-Events"


def throttled(operation="BatchWriteItem"):
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                       operation)


class ScriptedClient:
    """Answers each call with the next scripted outcome: an exception to raise or 'ok'/'half'."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

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


def cancelled(*reasons):
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": list(reasons)}, "TransactWriteItems")


class ScriptedTransactions:
    """TransactWriteItems answering each call with the next scripted outcome (an exception or 'ok')."""

    def __init__(self, script):
        self.script, self.calls = list(script), []

    def transact_write_items(self, TransactItems, ClientRequestToken):
        self.calls.append((len(TransactItems), ClientRequestToken))
        outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return {}


def commit(client, sleeps, events=2):
    sessions = SessionStore(client, "Sessions", Backoff(attempts=4, sleep=sleeps.append, rand=lambda: 1.0),
                            events_table="Events")
    return sessions.commit([({"pk": "demo#v", "sk": "1", "version": 1}, None)],
                           [{"pk": f"demo#{i}", "event_id": str(i)} for i in range(events)], "claim-1")


def test_throttling_then_success_commits_with_the_same_token():
    flaky = [throttled("TransactWriteItems"), EndpointConnectionError(endpoint_url="x")]
    client, sleeps = ScriptedTransactions(flaky), []
    assert commit(client, sleeps).done
    assert client.calls == [(3, "claim-1")] * 3 and sleeps == [0.05, 0.1]


def test_persistent_throttling_is_store_unavailable():
    client, sleeps = ScriptedTransactions([throttled("TransactWriteItems")] * 4), []
    with pytest.raises(StoreUnavailable):
        commit(client, sleeps)
    assert len(client.calls) == 4 and len(sleeps) == 3


def test_a_non_retryable_error_is_not_retried():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "TransactWriteItems")
    client, sleeps = ScriptedTransactions([denied]), []
    with pytest.raises(StoreUnavailable):
        commit(client, sleeps)
    assert len(client.calls) == 1 and sleeps == []


def test_a_cancelled_commit_names_duplicates_and_unstorable_events():
    other = {"Code": "ConditionalCheckFailed", "Item": {"claim": {"S": "claim-0"}, "session_id": {"S": "s0"}}}
    client = ScriptedTransactions([cancelled({"Code": "None"}, other,
                                             {"Code": "ValidationError", "Message": "bad item"})])
    result = commit(client, [])
    assert (result.done, result.duplicates, result.unstorable) == (False, {"demo#0": "s0"}, {"demo#1": "bad item"})


def test_a_resent_commit_that_had_landed_is_done():
    ours = {"Code": "ConditionalCheckFailed", "Item": {"claim": {"S": "claim-1"}, "session_id": {"S": "s1"}}}
    landed = cancelled({"Code": "ConditionalCheckFailed"}, ours, ours)
    assert commit(ScriptedTransactions([landed]), []).done


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
    from chalicelib.core.deadline import within
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


def test_the_client_made_without_listing_every_service_has_botocores_own_dynamodb_model(monkeypatch):
    import botocore.session

    from chalicelib.store import create_dynamodb_client

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    ours = create_dynamodb_client().meta
    theirs = botocore.session.get_session().get_service_model("dynamodb")
    assert ours.service_model.api_version == theirs.api_version
    assert ours.service_model.operation_names == theirs.operation_names
    assert ours.region_name == "eu-west-1" and ours.endpoint_url.startswith("https://dynamodb.eu-west-1.")

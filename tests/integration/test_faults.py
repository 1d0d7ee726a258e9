"""The fault injector itself (tests/integration/faults.py): each fault does to moto what it claims,
per botocore attempt, on one client only, without sleeping."""

from __future__ import annotations

import json
import logging
import socket
import time

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from chalicelib.store import from_item
from tests.integration.conftest import STAGE, post, stored_events
from tests.integration.faults import Clock, FaultInjector, production_client

TABLE = "LiveInsight-local-Stats"  # any table with a string pk and sk will do


def key(name: str) -> dict:
    return {"pk": {"S": name}, "sk": {"S": "x"}}


def item(name: str) -> dict:
    return {**key(name), "n": {"N": "1"}}


def count(dynamodb, name: str) -> int | None:
    found = dynamodb.get_item(TableName=TABLE, Key=key(name)).get("Item")
    return None if found is None else int(found["n"]["N"])


def add_one(client, name: str, **extra):
    return client.update_item(TableName=TABLE, Key=key(name), UpdateExpression="ADD n :one",
                              ExpressionAttributeValues={":one": {"N": "1"}}, **extra)


@pytest.fixture
def faulty(dynamodb):
    """LiveInsight's own client configuration (one botocore attempt per call), with an injector."""
    faults = FaultInjector(production_client(), Clock())
    yield faults
    faults.uninstall()


def test_production_client_makes_one_botocore_attempt(faulty):
    # chalicelib.store.call() alone retries, within the request's deadline: what the counts below rely on
    assert faulty.client.meta.config.retries["total_max_attempts"] == 1


def test_a_timeout_before_send_applies_nothing_and_takes_no_real_time(faulty, dynamodb):
    faulty.timeout_before_send("PutItem")
    started = time.monotonic()
    with pytest.raises(ConnectTimeoutError):
        faulty.client.put_item(TableName=TABLE, Item=item("a"))
    assert time.monotonic() - started < 1
    assert count(dynamodb, "a") is None
    assert [(i.call, i.attempt) for i in faulty.injected] == [(1, 1)]  # botocore did not retry
    assert faulty.clock.injected == 1  # one connect timeout of 1 s went to the clock


def test_a_timeout_after_landing_leaves_the_write_applied(faulty, dynamodb):
    faulty.timeout_after_landed("PutItem")
    with pytest.raises(ReadTimeoutError):
        faulty.client.put_item(TableName=TABLE, Item=item("b"))
    assert count(dynamodb, "b") == 1
    assert faulty.clock.injected == faulty.client.meta.config.read_timeout  # one attempt, one read timeout


def test_botocore_never_resends_a_landed_update_by_itself(faulty, dynamodb):
    faulty.timeout_after_landed("UpdateItem", attempts=[1])
    with pytest.raises(ReadTimeoutError):  # the caller decides: LiveInsight resends with a token
        add_one(faulty.client, "c")
    assert count(dynamodb, "c") == 1


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_is_the_modelled_client_error_and_applies_nothing(faulty, dynamodb, code):
    faulty.throttle("UpdateItem", code=code)
    with pytest.raises(ClientError) as raised:
        add_one(faulty.client, "d")
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 0  # botocore did not retry it
    assert count(dynamodb, "d") is None


def test_rules_select_calls_by_number_and_predicate(faulty, dynamodb):
    faulty.throttle("PutItem", calls=2)
    faulty.timeout_before_send(None, when=lambda call: call.params.get("Item", {}).get("pk") == {"S": "g"})
    faulty.client.put_item(TableName=TABLE, Item=item("e"))
    with pytest.raises(ClientError):
        faulty.client.put_item(TableName=TABLE, Item=item("f"))
    with pytest.raises(ConnectTimeoutError):
        faulty.client.put_item(TableName=TABLE, Item=item("g"))
    faulty.client.put_item(TableName=TABLE, Item=item("h"))
    assert [count(dynamodb, n) for n in "efgh"] == [1, None, None, 1]
    assert faulty.calls["PutItem"] == 4 and faulty.attempts["PutItem"] == 4
    assert {(i.call, i.kind) for i in faulty.injected} == {(2, "error"), (3, "timeout_before_send")}


def test_a_delay_advances_the_clock_only(faulty, dynamodb):
    faulty.delay("GetItem", 30)
    started = time.monotonic()
    faulty.client.get_item(TableName=TABLE, Key=key("none"))
    assert time.monotonic() - started < 1 and faulty.clock.injected == 30


def test_a_partial_batch_write_returns_the_unapplied_items_as_unprocessed(faulty, dynamodb):
    faulty.unprocessed("BatchWriteItem", calls=1)
    requests = [{"PutRequest": {"Item": item(f"w{i}")}} for i in range(5)]
    response = faulty.client.batch_write_item(RequestItems={TABLE: requests})
    assert response["UnprocessedItems"] == {TABLE: [requests[1], requests[3]]}
    assert [count(dynamodb, f"w{i}") for i in range(5)] == [1, None, 1, None, 1]
    again = faulty.client.batch_write_item(RequestItems=response["UnprocessedItems"])
    assert not again.get("UnprocessedItems")
    assert [count(dynamodb, f"w{i}") for i in range(5)] == [1] * 5


def test_a_partial_batch_read_returns_unprocessed_keys_with_their_parameters(faulty, dynamodb):
    for i in range(3):
        dynamodb.put_item(TableName=TABLE, Item=item(f"r{i}"))
    faulty.unprocessed("BatchGetItem", pick=lambda index, _: index == 0)
    request = {TABLE: {"Keys": [key(f"r{i}") for i in range(3)], "ConsistentRead": True,
                       "ProjectionExpression": "pk, n"}}
    response = faulty.client.batch_get_item(RequestItems=request)
    assert sorted(i["pk"]["S"] for i in response["Responses"][TABLE]) == ["r1", "r2"]
    assert response["UnprocessedKeys"] == {TABLE: {"Keys": [key("r0")], "ConsistentRead": True,
                                                   "ProjectionExpression": "pk, n"}}


def test_a_batch_with_no_item_processed_is_throughput_exceeded(faulty, dynamodb):
    faulty.unprocessed("BatchWriteItem", pick=lambda *_: True)
    with pytest.raises(faulty.client.exceptions.ProvisionedThroughputExceededException):
        faulty.client.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item("z")}}]})
    assert count(dynamodb, "z") is None


def transaction(name: str, token: str | None, amount: str = "1") -> dict:
    update = {"Update": {"TableName": TABLE, "Key": key(name), "UpdateExpression": "ADD n :v",
                         "ExpressionAttributeValues": {":v": {"N": amount}}}}
    return {"TransactItems": [update], **({"ClientRequestToken": token} if token else {})}


def test_a_transaction_token_makes_a_landed_transaction_idempotent_as_on_aws(faulty, dynamodb):
    faulty.timeout_after_landed("TransactWriteItems", calls=1)
    with pytest.raises(ReadTimeoutError):
        faulty.client.transact_write_items(**transaction("t", "token-1"))
    assert count(dynamodb, "t") == 1
    faulty.client.transact_write_items(**transaction("t", "token-1"))  # the caller's retry succeeds
    assert count(dynamodb, "t") == 1
    with pytest.raises(ClientError) as raised:
        faulty.client.transact_write_items(**transaction("t", "token-1", amount="2"))
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    faulty.client.transact_write_items(**transaction("t", "token-2"))
    assert count(dynamodb, "t") == 2


def test_without_a_token_of_its_own_a_callers_retry_applies_a_transaction_again(faulty, dynamodb):
    faulty.timeout_after_landed("TransactWriteItems", calls=1)
    with pytest.raises(ReadTimeoutError):
        faulty.client.transact_write_items(**transaction("u", None))
    assert count(dynamodb, "u") == 1
    faulty.client.transact_write_items(**transaction("u", None))  # a new call: a new token
    assert count(dynamodb, "u") == 2


def test_throttling_a_transaction(faulty, dynamodb):
    reasons = {"CancellationReasons": [{"Code": "ThrottlingError", "Message": "injected"}]}
    faulty.error("TransactWriteItems", "TransactionCanceledException", "Transaction cancelled", reasons)
    with pytest.raises(faulty.client.exceptions.TransactionCanceledException) as raised:
        faulty.client.transact_write_items(**transaction("v", "token-3"))
    assert raised.value.response["CancellationReasons"][0]["Code"] == "ThrottlingError"
    assert count(dynamodb, "v") is None


def test_other_clients_and_an_uninstalled_injector_are_untouched(faulty, dynamodb):
    faulty.throttle(None)
    dynamodb.put_item(TableName=TABLE, Item=item("o"))  # another client: no fault
    assert count(dynamodb, "o") == 1
    faulty.uninstall()
    faulty.client.put_item(TableName=TABLE, Item=item("p"))
    assert count(dynamodb, "p") == 1 and faulty.attempts["PutItem"] == 0
    faulty.__init__(faulty.client, faulty.clock)  # installed again for the fixture's uninstall


def test_it_drives_the_real_app(wire, dynamodb):
    faults = FaultInjector(production_client(), Clock())
    faults.throttle("TransactWriteItems")  # the write of the session and its event
    wire(client=faults.client)
    from chalice.test import Client

    from app import app

    with Client(app, stage_name=STAGE) as api:
        event = {"event_type": "page_view", "page_url": "https://shop.example/", "user_id": "u",
                 "event_id": "6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}
        response = post(api, event)
        assert response.status_code == 503
        assert [e["status"] for e in json.loads(response.body)["events"]] == ["retry"]
        faults.clear()
        assert post(api, event).status_code == 200
    assert [e["event_id"] for e in stored_events(dynamodb)] == [event["event_id"]]
    faults.uninstall()


def test_each_throttled_call_is_the_throttle_alarms_metric(wire, dynamodb, capsys):
    """LiveInsight-DynamoDB-Throttles reads LiveInsight/DynamoDBThrottles: one EMF line per throttled
    attempt, printed by the function that was throttled; nothing while nothing is."""
    faults = FaultInjector(production_client(), Clock())
    wire(client=faults.client)
    from chalice.test import Client

    from app import app

    def throttle_lines() -> list[dict]:
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        return [line for line in lines if "DynamoDBThrottles" in line]

    event = {"event_type": "page_view", "page_url": "https://shop.example/", "user_id": "u"}
    with Client(app, stage_name=STAGE) as api:
        assert post(api, event).status_code == 200
        assert throttle_lines() == []
        faults.throttle("TransactWriteItems", calls=range(1, 3))  # the next two sends of the event's write
        assert post(api, {**event, "page_url": "https://shop.example/b"}).status_code == 200
    lines = throttle_lines()
    assert [(line["DynamoDBThrottles"], line["operation"], line["Environment"]) for line in lines] == [
        (1, "transact_write_items", "local")] * 2  # the stage's Environment
    directive = lines[0]["_aws"]["CloudWatchMetrics"][0]
    assert (directive["Namespace"], directive["Dimensions"]) == ("LiveInsight", [["Environment"]])
    assert len(stored_events(dynamodb)) == 2
    faults.uninstall()


@pytest.fixture
def moto_server(aws_env):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_it_works_against_a_loopback_endpoint_too(moto_server):
    from chalicelib.schema.tables import create_tables

    plain = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1")
    create_tables(plain, STAGE)
    faults = FaultInjector(boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1"))
    faults.timeout_after_landed("PutItem", calls=1)
    with pytest.raises(ReadTimeoutError):
        faults.client.put_item(TableName=TABLE, Item=item("l"))
    stored = [from_item(i) for i in plain.scan(TableName=TABLE)["Items"]]
    assert [s["pk"] for s in stored] == ["l"]

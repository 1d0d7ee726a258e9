"""A Query's answer read with json (store/base.py read_queries_fast) is botocore's own parse of it, item for
item: every attribute type, nested maps and lists, binaries and binary sets, a page's LastEvaluatedKey, the
consumed capacity; and an error answer is still botocore's error."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.schema.tables import STATS, create_tables
from chalicelib.store.base import create_dynamodb_client, read_queries_fast, to_item

STAGE = "test"


@pytest.fixture
def clients(aws_env):
    from moto import mock_aws

    with mock_aws():
        plain = boto3.client("dynamodb", region_name="us-east-1")
        fast = boto3.client("dynamodb", region_name="us-east-1")
        read_queries_fast(fast)
        create_tables(plain, STAGE)
        yield plain, fast


def _items() -> list[dict]:
    return [{"pk": "site#m#0", "sk": f"2026-11-28T12:{m:02d}", "events": m, "ratio": 0.25 * m, "big": 10**30 + m,
             "name": "é ünïcode \u2028 \"quoted\"", "flag": m % 2 == 0, "none": None,
             "hll": bytes(range(m, m + 40)), "visitors": {bytes([m, v]) * 4 for v in range(30)},
             "tags": {"a", "b"}, "counts": {"1", "2.5"},
             "page": {"/": m, "/pricing?x=1": 2, "nested": {"deep": [1, "two", b"\x00\xff", {"k": None}]}},
             "list": [m, "x", True, b"\x01", [b"\x02"], {"m": 1}]}
            for m in range(60)]


def _stored(item: dict) -> dict:
    wire = to_item({k: v for k, v in item.items() if k not in ("visitors", "tags", "counts")})
    wire["visitors"] = {"BS": sorted(item["visitors"])}
    wire["tags"] = {"SS": sorted(item["tags"])}
    wire["counts"] = {"NS": sorted(item["counts"])}
    return wire


def test_a_query_read_with_json_is_botocores_parse_item_for_item(clients):
    plain, fast = clients
    table = STATS.name(STAGE)
    for item in _items():
        plain.put_item(TableName=table, Item=_stored(item))
    query = {"TableName": table, "KeyConditionExpression": "pk = :pk", "Limit": 7,
             "ExpressionAttributeValues": {":pk": {"S": "site#m#0"}}, "ReturnConsumedCapacity": "TOTAL"}
    pages = 0
    while True:
        expected, got = plain.query(**query), fast.query(**query)
        for answer in (expected, got):
            answer.pop("ResponseMetadata")
        assert got == expected
        assert all(isinstance(v, bytes) for i in got["Items"] for v in i["visitors"]["BS"])
        pages += 1
        if "LastEvaluatedKey" not in got:
            break
        query["ExclusiveStartKey"] = got["LastEvaluatedKey"]
    assert pages == 9  # 60 items, 7 a page: each page's key was read the same way


def test_an_error_answer_is_still_botocores_error(clients):
    _, fast = clients
    with pytest.raises(ClientError) as raised:
        fast.query(TableName="no-such-table", KeyConditionExpression="pk = :pk",
                   ExpressionAttributeValues={":pk": {"S": "x"}})
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_functions_client_leaves_botocores_model_walk_out_of_a_query(aws_env, monkeypatch):
    import botocore.parsers
    from moto import mock_aws

    walked = []
    real = botocore.parsers.BaseJSONParser._handle_blob
    monkeypatch.setattr(botocore.parsers.BaseJSONParser, "_handle_blob",
                        lambda self, shape, value: walked.append(value) or real(self, shape, value))
    with mock_aws():
        plain = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(plain, STAGE)
        plain.put_item(TableName=STATS.name(STAGE), Item=_stored(_items()[3]))
        query = {"TableName": STATS.name(STAGE), "KeyConditionExpression": "pk = :pk",
                 "ExpressionAttributeValues": {":pk": {"S": "site#m#0"}}}
        assert len(plain.query(**query)["Items"][0]["visitors"]["BS"]) == 30
        assert len(walked) == 34  # botocore's own parse decodes each binary: 30 visitors, the sketch, 3 nested
        walked.clear()
        assert len(create_dynamodb_client().query(**query)["Items"][0]["visitors"]["BS"]) == 30
        assert walked == []

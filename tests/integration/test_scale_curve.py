"""bench/scale_curve.py: the statistics writes billed from the items themselves, as DynamoDB bills them,
and the curve's arithmetic (issue 16's scale curve and hot-key ceiling)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bench import prices, scale_curve
from bench.capacity import CapacityMeter, item_size, write_units
from chalicelib.schema.tables import STATS, create_tables
from chalicelib.store import StatsStore
from chalicelib.store.base import Backoff
from chalicelib.store.stats import BucketUpdate

TABLE = STATS.name("bench")


@pytest.fixture
def dynamodb(aws_env):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, "bench")
        yield client


def test_the_metered_client_bills_what_the_capacity_meter_bills(dynamodb):
    """The same statistics updates, billed by the bench's two meters: the light one (items from the writes'
    answers) and bench/capacity.py's (reads before and after each write)."""
    metered = scale_curve.MeteredClient(dynamodb)
    reference = CapacityMeter(dynamodb, boto3.client("dynamodb", region_name="us-east-1"), lambda _: STATS)
    store = StatsStore(metered, TABLE, Backoff(sleep=lambda _: None))
    for n in range(150):  # the item grows past 1 KB (its visitors), so later updates cost more than one unit
        members = {n.to_bytes(8, "big")}
        store.add("shop#m#0", "2026-10-31T11:00", BucketUpdate(
            {"pageviews": 1}, {"page": {f"/p{n % 7}": 1}}, members, (1000 + n).to_bytes(8, "big"), 2_000_000_000))
    assert metered.write_units == reference.write_units > 150
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert write_units(item_size(item)) == 2  # 150 visitors of 8 bytes, one token (store/stats.py), 7 pages


def test_a_refused_write_costs_its_item(dynamodb):
    metered = scale_curve.MeteredClient(dynamodb)
    item = {"pk": {"S": "a"}, "sk": {"S": "b"}, "blob": {"B": b"x" * 1500}}
    metered.put_item(TableName=TABLE, Item=item)
    with pytest.raises(ClientError):
        metered.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)",
                         ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert metered.write_units == 2 * write_units(item_size(item)) == 4


def test_one_minute_of_a_small_site_and_the_curves_arithmetic():
    played = scale_curve.play_minute(100)
    assert played["shard_requests"] == played["played_requests"] > 0  # a quarter of the visitors, all played
    assert 1 <= played["write_units_per_request"] <= played["write_units_per_update_peak"]
    results = {"usd_per_million_page_views": 10.0, "details": {"multi_page": {
        "requests": 160, "page_views": 100, "write_units_per_page_view": 10.0,
        "write_units_per_page_view_by_table": {"Stats": 2.0}}}}
    found = scale_curve.curve((100,), results=results)
    [row] = found["levels"]
    stats_units = played["write_units_per_request"] * 1.6
    assert row["stats_write_units_per_page_view"] == round(stats_units, 2)
    assert row["write_units_per_page_view"] == round(8.0 + stats_units, 2)
    unit = prices.DYNAMODB_USD_PER_MILLION_WRITE_UNITS
    assert row["usd_per_million_page_views"] == round(10.0 + (stats_units - 2.0) * unit, 2)
    # 4 shards, each a partition of at most 1,000 write units a second
    assert row["hot_key_ceiling_requests_per_second"] == round(4_000 / played["write_units_per_update_peak_mean"])
    assert "100" in scale_curve.table(found)

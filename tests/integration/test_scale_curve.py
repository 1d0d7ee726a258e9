"""bench/scale_curve.py: the statistics writes billed from the items themselves, as DynamoDB bills them,
and the curve's arithmetic (issue 16's scale curve and hot-key ceiling)."""

from __future__ import annotations

import random

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


def test_the_stream_is_cut_into_batches_as_lambda_cuts_it():
    """At most 1,000 records a batch, and a batch closes 5 seconds after its first record (app.py)."""
    events = sorted((t, f"v{t}", 0) for t in range(0, 60_000, 20))  # 3,000 records a minute, 50 a second
    batches = scale_curve._batches(events, 1, random.Random(1))
    assert [len(b) for b in batches] == [250] * 12  # 5 seconds of 50 a second each
    assert all(b[-1][0] - b[0][0] < 5_000 for b in batches)
    crowded = sorted((t // 10, f"v{t}", 0) for t in range(2_500))  # 2,500 records within 250 ms
    assert [len(b) for b in scale_curve._batches(crowded, 1, random.Random(1))] == [1_000, 1_000, 500]
    spread = scale_curve._batches(events, 3, random.Random(1))  # three stream shards: each its own batches
    assert sum(len(b) for b in spread) == 3_000 and len(spread) == 36


def test_one_minute_of_a_small_site_and_the_curves_arithmetic():
    played = scale_curve.play_minute(100)
    assert played["stream_shards"] == 1 and played["shard_updates"] <= played["batches"] <= 13
    assert played["shard_requests"] > 0 and played["items_per_shard_minute"] == 1
    assert 0 < played["write_units_per_request"] <= played["write_units_per_update_peak"]
    results = {"usd_per_million_page_views": 10.0, "details": {"multi_page": {
        "requests": 160, "page_views": 100, "write_units_per_page_view": 10.0,
        "write_units_per_page_view_by_table": {"Stats": 2.0},
        "stream_invocations_per_page_view": 1.6, "stream_usd_per_invocation": 4e-7}}}
    found = scale_curve.curve((100,), results=results)
    [row] = found["levels"]
    stats_units = played["write_units_per_request"] * 1.6
    assert row["stats_write_units_per_page_view"] == round(stats_units, 2)
    assert row["write_units_per_page_view"] == round(8.0 + stats_units, 2)
    # the statistics function: 1.6 invocations a page view recorded, the minute's batches a page view here
    invocations_per_pv = played["batches"] / 100
    assert row["stream_invocations_per_page_view"] == round(invocations_per_pv, 4)
    unit, read_unit = prices.DYNAMODB_USD_PER_MILLION_WRITE_UNITS, prices.DYNAMODB_USD_PER_MILLION_READ_UNITS
    expected = (10.0 + (stats_units - 2.0) * unit + played["read_units_per_request"] * 1.6 * read_unit
                + (invocations_per_pv - 1.6) * 0.4)
    assert row["usd_per_million_page_views"] == round(expected, 2)
    # the statistics shard's partition takes at most 1,000 write units a second
    assert row["hot_key_ceiling_requests_per_second"] == round(100 * 1.6 / 60 * 1_000
                                                               / played["partition_write_units_per_second"])
    # the realtime view reads the finished minutes' summaries (one item a minute, all shards) and two live minutes
    assert 0 < played["summary_bytes"] < 400_000
    assert row["realtime_read_megabytes"] == round((28 * played["summary_bytes"]
                                                    + 2 * 4 * played["shard_minute_bytes"]) / 1e6, 2)
    assert row["realtime_read_megabytes"] <= row["realtime_read_megabytes_raw"]
    assert "100" in scale_curve.table(found)

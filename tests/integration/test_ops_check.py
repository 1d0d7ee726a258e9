"""make ops-check against moto's CloudWatch: alarm states, error rate, throttles, percentiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from deploy.ops_check import ops_check, report

NOW = datetime.now(timezone.utc)


@pytest.fixture
def cloudwatch(aws_env):
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def put(cloudwatch, namespace, metric, dimension, value, count=1):
    name, dim_value = dimension
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": metric, "Dimensions": [{"Name": name, "Value": dim_value}], "Value": value,
        "Timestamp": NOW - timedelta(hours=1)}] * count)


def alarm(cloudwatch, name, state):
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=300, EvaluationPeriods=2, Threshold=5,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def test_prints_the_daily_check_and_fails_when_an_alarm_fires(cloudwatch):
    alarm(cloudwatch, "LiveInsight-Lambda-ErrorRate", "ALARM")
    alarm(cloudwatch, "LiveInsight-Lambda-Duration", "OK")
    alarm(cloudwatch, "LiveInsight-dev-Lambda-ErrorRate", "ALARM")  # another stage: not ours
    collector = ("FunctionName", "LiveInsight-EventCollector")
    put(cloudwatch, "AWS/Lambda", "Invocations", collector, 100, count=4)
    put(cloudwatch, "AWS/Lambda", "Errors", collector, 2, count=3)
    put(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", ("TableName", "LiveInsight-Events"), 7)
    figures = ops_check("prod", cloudwatch, now=NOW)
    assert figures["alarms"] == [("LiveInsight-Lambda-Duration", "OK"), ("LiveInsight-Lambda-ErrorRate", "ALARM")]
    assert (figures["invocations"], figures["errors"], figures["error_rate_percent"]) == (400, 6, 1.5)
    assert figures["dynamodb_throttles"] == {"LiveInsight-Events": 7, "LiveInsight-Sessions": 0,
                                             "LiveInsight-Stats": 0, "LiveInsight-Access": 0}
    lines = []
    assert report(figures, lines.append) == 1
    text = "\n".join(lines)
    assert "ALARM             LiveInsight-Lambda-ErrorRate" in text and "1.5%" in text
    assert "LiveInsight-Events: 7 throttled" in text


def test_a_quiet_healthy_stage_passes(cloudwatch):
    alarm(cloudwatch, "LiveInsight-dev-Lambda-ErrorRate", "OK")
    lines = []
    assert report(ops_check("dev", cloudwatch, now=NOW), lines.append) == 0
    assert "0 alarm(s) in ALARM" in lines[-1]


def test_duration_percentiles_come_from_extended_statistics():
    # moto does not compute percentiles; botocore's Stubber answers as CloudWatch does.
    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_metric_statistics", {"Datapoints": [
            {"Timestamp": NOW, "ExtendedStatistics": {"p50": 18.5}}]})
        from deploy.ops_check import _statistic

        assert _statistic(client, "AWS/Lambda", "Duration", {"FunctionName": "f"}, NOW, NOW, "p50") == 18.5

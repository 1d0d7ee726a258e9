"""The baseline: what the operations guide's system does for each event, kept for comparison.

boto3.resource and an eager CloudWatch client at import; per event one put_item, one session
update and one PutMetricData. Not LiveInsight code: only `make bench` runs it.
"""

import json
import os
import time
import uuid

import boto3

dynamodb = boto3.resource("dynamodb")
cloudwatch = boto3.client("cloudwatch")
events_table = dynamodb.Table(os.environ.get("BASELINE_EVENTS_TABLE", "Baseline-Events"))
sessions_table = dynamodb.Table(os.environ.get("BASELINE_SESSIONS_TABLE", "Baseline-Sessions"))

TABLES = {  # for the benchmark to create them
    "Baseline-Events": "event_id",
    "Baseline-Sessions": "session_id",
}


def handler(event, context):
    started = time.time()
    body = json.loads(event["body"])
    for item in body.get("events", [body]):
        now = int(time.time() * 1000)
        events_table.put_item(Item={"event_id": str(uuid.uuid4()), "timestamp": now, **item})
        sessions_table.update_item(
            Key={"session_id": item.get("user_id", "anonymous")},
            UpdateExpression="SET last_seen = :now ADD event_count :one",
            ExpressionAttributeValues={":now": now, ":one": 1},
        )
        cloudwatch.put_metric_data(Namespace="LiveInsightBaseline", MetricData=[
            {"MetricName": "EventsProcessed", "Value": 1, "Unit": "Count",
             "Dimensions": [{"Name": "Environment", "Value": "Production"}]},
            {"MetricName": "ProcessingTime", "Value": (time.time() - started) * 1000, "Unit": "Milliseconds",
             "Dimensions": [{"Name": "Environment", "Value": "Production"}]},
        ])
    return {"statusCode": 200, "body": json.dumps({"status": "ok"})}

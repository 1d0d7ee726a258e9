"""The metrics the app prints are Embedded Metric Format as CloudWatch specifies it, and every
LiveInsight metric an alarm or the dashboard reads is one the app really emits with exactly those
dimensions (CloudWatch matches on the whole dimension set: one more or one less and the alarm
watches a metric that never gets a value)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
from botocore.exceptions import ClientError

from chalicelib.core.metrics import NAMESPACE
from chalicelib.sessions.expiry import expire_idle_sessions
from chalicelib.store.base import call
from scripts.local_stream import StreamPoller
from tests.infrastructure.aws_formats import emf_problems, emitted_metrics
from tests.infrastructure.conftest import TERRAFORM_DIR, resources
from tests.infrastructure.render import render_prod
from tests.integration.conftest import post
from tests.lakefakes import MemoryLakeObjects

MIN = 60_000
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _traffic(api, services, now_ms: int) -> None:
    """A bit of everything that emits metrics: stored, invalid, bot, multi-site, expiry, rollup, lake."""
    old = [{"event_type": "page_view", "page_url": "https://shop.example/", "user_id": "idle",
            "event_id": str(uuid.uuid4()), "timestamp": now_ms - 40 * MIN}]
    assert post(api, {"events": old}).status_code == 200
    assert post(api, {"event_type": "page_view", "page_url": "https://shop.example/a"}).status_code == 200
    assert post(api, {"events": [{"event_type": "page_view", "page_url": "https://shop.example/b"},
                                 {"event_type": "page_view"}]}).status_code == 200
    assert post(api, {"event_type": "page_view", "page_url": "https://shop.example/"},
                headers={"User-Agent": BOT_UA}).status_code == 200
    assert post(api, raw=b"{not json").status_code == 400
    # a DynamoDB call throttled once, through the stores' retry policy: DynamoDBThrottles (the alarm's;
    # the whole app under injected throttling: tests/integration/test_faults.py)
    throttled = [ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetItem")]

    def get_item(**kwargs):
        if throttled:
            raise throttled.pop()
        return services._client.get_item(**kwargs)

    call(services._retries, get_item, TableName=services.settings.events_table, Key={"pk": {"S": "salt#none"}})
    # a run out of time at once leaves the due session for the next: ExpiryBacklog 1
    expire_idle_sessions(services.sessions, services.session_rules, services.metrics, now_ms=now_ms, budget_seconds=0)
    services.expire_sessions(now_ms=now_ms)
    services.roll_up_stats(now_ms=now_ms)
    # The lake's jobs: the stored events through the stream writer, then a compaction run.
    services.lake_objects = MemoryLakeObjects()
    arn = services._client.describe_table(TableName=services.settings.events_table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                           endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    poller = StreamPoller(streams, arn, services.write_event_lake)
    assert poller.poll_once() > 0
    assert post(api, {"event_type": "page_view", "page_url": "https://shop.example/c"}).status_code == 200
    assert poller.poll_once() == 1  # a second object of today's partition: something to compact
    assert services.compact_lake(now_ms=now_ms + 2 * 86_400_000).partitions_compacted >= 1


def _emf_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def _alarm_metrics() -> set[tuple[str, str, frozenset[str]]]:
    alarms = resources(TERRAFORM_DIR / "modules" / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm")
    return {(a["namespace"], a["metric_name"], frozenset(a["dimensions"])) for a in alarms.values()
            if a.get("namespace") == NAMESPACE}


def _dashboard_metrics() -> set[tuple[str, str, frozenset[str]]]:
    body = json.loads(render_prod("dashboard")["dashboard_body"])
    found = set()
    for widget in body["widgets"]:
        for entry in widget["properties"]["metrics"]:
            names = [part for part in entry if isinstance(part, str)]
            if names and names[0] == NAMESPACE:
                found.add((NAMESPACE, names[1], frozenset(names[2::2])))
    return found


def test_every_line_is_valid_emf_and_feeds_the_alarms_and_dashboard(api, wire, capsys):
    services = wire()
    capsys.readouterr()
    _traffic(api, services, int(time.time() * 1000))
    lines = _emf_lines(capsys.readouterr().out)
    assert lines
    for line in lines:
        assert emf_problems(line) == [], line
    emitted = set().union(*(emitted_metrics(line) for line in lines))
    names = {name for _, name, _ in emitted}
    assert {"EventsProcessed", "ProcessingTime", "ProcessingErrors", "EventsRejected", "PageViews",
            "SessionsStarted", "SessionsEnded", "ActiveVisitors"} <= names
    watched = _alarm_metrics() | _dashboard_metrics()
    assert len(watched) >= 6
    # ExpiryBacklog is printed by an expiry run that leaves a backlog, as the first one here does.
    assert watched - emitted == set()


def test_the_emf_check_fails_on_what_cloudwatch_would_drop():
    good = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
        {"Namespace": "LiveInsight", "Dimensions": [["Environment"]], "Metrics": [{"Name": "N", "Unit": "Count"}]}]},
        "Environment": "Production", "N": 1}
    assert emf_problems(json.dumps(good)) == []
    missing_dimension = {**good}
    del missing_dimension["Environment"]
    assert emf_problems(json.dumps(missing_dimension))
    bad_unit = json.loads(json.dumps(good))
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Events"
    assert emf_problems(json.dumps(bad_unit))
    too_many_values = {**good, "N": list(range(101))}
    assert emf_problems(json.dumps(too_many_values))
    text_value = {**good, "N": "1"}
    assert emf_problems(json.dumps(text_value))

"""`make local`'s event lake: an event posted to the running stack is a row of a Parquet object in the
emulator's S3 within the issue's 2 minutes (the measured freshness is printed)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import boto3
import pytest

from chalicelib.lake.parquet import parquet_rows
from chalicelib.schema.lake import EVENTS_PREFIX
from tests.e2e.conftest import start_stack

FRESHNESS_LIMIT_SECONDS = 120  # issue 13: queryable at most 2 minutes after it was accepted
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


@pytest.fixture(scope="module")
def stack():
    running = start_stack({})
    yield running
    running.stop()


def lake_rows(s3, bucket: str) -> list[tuple[str, dict]]:
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EVENTS_PREFIX):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                rows.extend((obj["Key"], row) for row in parquet_rows(body))
    return rows


def test_a_posted_event_is_in_the_lake_within_two_minutes(stack):
    endpoint = stack.dynamodb.meta.endpoint_url
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local")
    bucket = "liveinsight-local-lake"
    event_id = str(uuid.uuid4())
    body = json.dumps({"events": [{"event_type": "page_view", "event_id": event_id,
                                   "page_url": "https://example.com/lake", "properties": {"from": "e2e"}}]})
    request = urllib.request.Request(f"{stack.base}/events", data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": BROWSER_UA})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    accepted = time.monotonic()

    found: list[tuple[str, dict]] = []
    while time.monotonic() - accepted < FRESHNESS_LIMIT_SECONDS:
        found = [(key, row) for key, row in lake_rows(s3, bucket) if row["event_id"] == event_id]
        if found:
            break
        time.sleep(0.25)
    freshness_seconds = time.monotonic() - accepted

    print(f"\nlake freshness on the local stack: {freshness_seconds:.2f} s from POST 2xx to a Parquet row")
    assert len(found) == 1, f"not in the lake after {FRESHNESS_LIMIT_SECONDS} s"
    (key, row), = found
    assert key.startswith("events/site=demo/date=")
    assert (row["event_type"], row["page_path"], row["properties"]) == ("page_view", "/lake", {"from": "e2e"})

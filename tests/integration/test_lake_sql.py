"""`make sql` (scripts/lake_sql.py) run as a program against moto's server on loopback, as `make local`
serves it: DuckDB over the lake's live objects in the emulator's S3 (counts, sites, the --site and
--days limits, the prompt on stdin, errors), and the Athena mode's calls (workgroup, database, SQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from chalicelib.lake import layout
from chalicelib.lake.layout import Partition
from chalicelib.lake.parquet import rows_to_parquet
from chalicelib.store.lake import S3LakeObjects
from tests.conftest import PROJECT_DIR
from tests.lakeparts import event_rows, put_stream_object

BUCKET = "liveinsight-sql-test-lake"
ACCOUNT, REGION = "123456789012", "us-east-1"
SCRIPT = PROJECT_DIR / "scripts" / "lake_sql.py"
DAY_MS = 86_400_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    yield f"http://127.0.0.1:{port}"
    moto.stop()


def client(service: str, endpoint: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="local",
                        aws_secret_access_key="local")


def today_ms() -> int:
    now = datetime.now(timezone.utc)
    return int(datetime(now.year, now.month, now.day, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture(scope="module")
def lake(server) -> dict[str, int]:
    """demo: 40 events today (one also in a second stream object), a compacted day 5 days ago whose
    replaced objects are still there; shop: 7 events today. Expected counts by what a query reads."""
    s3 = client("s3", server)
    s3.create_bucket(Bucket=BUCKET)
    objects = S3LakeObjects(s3, BUCKET)
    start = today_ms() + 60_000
    today = event_rows(40, start_ms=start, seed=1)
    put_stream_object(objects, "demo", today[:25], 10)
    put_stream_object(objects, "demo", today[25:], 60)
    put_stream_object(objects, "demo", today[24:25], 90)  # a re-delivered copy, until compaction
    old = event_rows(30, start_ms=start - 5 * DAY_MS, seed=2)
    replaced = [put_stream_object(objects, "demo", old[:15], 1), put_stream_object(objects, "demo", old[15:], 20)]
    partition = Partition.of("demo", old[0]["time"])
    objects.put(layout.manifest_key(partition, 1), layout.manifest_body(replaced))
    objects.put(layout.compacted_object_key(partition, 1), rows_to_parquet(old))  # replaced ones not yet deleted
    put_stream_object(objects, "shop", event_rows(7, start_ms=start, seed=3), 5)
    objects.put("events/site=demo/date=not-a-date/x.parquet", b"ignored")
    objects.put("exports/demo/x.csv", b"not the lake")
    return {"demo": 41 + 30, "shop": 7}


def run_sql(server: str, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LIVEINSIGHT_"))}
    environment.update({"AWS_ENDPOINT_URL_S3": server, "LIVEINSIGHT_LAKE_BUCKET": BUCKET, "STAGE": "local",
                        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                        "AWS_DEFAULT_REGION": REGION, **env})
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin or "", capture_output=True, text=True,
                          env=environment, timeout=120, cwd=PROJECT_DIR)


def table_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line]


def test_a_count_of_the_local_lake_is_the_number_of_events_it_holds(server, lake):
    done = run_sql(server, "-c", "select count(*) as n from events;")
    assert done.returncode == 0, done.stderr
    assert table_lines(done.stdout) == [" n", "--", str(lake["demo"] + lake["shop"]), "(1 row)"]  # numbers right


def test_site_and_date_are_columns_and_rows_are_aligned(server, lake):
    done = run_sql(server, "-c", "select site, count(*) as events, count(distinct date) as days "
                                 "from events group by site order by site")
    assert done.returncode == 0, done.stderr
    assert table_lines(done.stdout) == [
        "site | events | days",
        "-----+--------+-----",
        f"demo | {lake['demo']:>6} |    2",
        f"shop | {lake['shop']:>6} |    1",
        "(2 rows)"]


def test_site_and_days_limit_what_is_fetched(server, lake):
    only_shop = run_sql(server, "--site", "shop", "-c", "select count(*) as n, min(site) as s from events;")
    assert table_lines(only_shop.stdout)[2].split() == [str(lake["shop"]), "|", "shop"]
    recent = run_sql(server, "--site", "demo", "--days", "2", "-c", "select count(*) as n from events;")
    assert table_lines(recent.stdout)[2] == "41"
    distinct = run_sql(server, "--days", "1", "-c", "select count(distinct event_id) as n from events;")
    assert table_lines(distinct.stdout)[2] == "47"  # the re-delivered copy counted once by DISTINCT


def test_the_prompt_reads_statements_ending_with_a_semicolon_until_quit(server, lake):
    statements = ("select site,\n  count(*) as n\nfrom events\ngroup by site\norder by site;\n"
                  "select nope from events;\n"
                  "select 'after an error' as still;\n"
                  ".quit\n"
                  "select 'never run' as x;\n")
    done = run_sql(server, stdin=statements)
    assert done.returncode == 0, done.stderr
    lines = table_lines(done.stdout)
    assert lines[:5] == ["site |  n", "-----+---", f"demo | {lake['demo']}", f"shop | {lake['shop']:>2}", "(2 rows)"]
    assert lines[5].startswith("Error: ") and "nope" in lines[5]  # DuckDB's message (several lines)
    assert lines[-4:] == ["still", "--------------", "after an error", "(1 row)"]
    assert "never run" not in done.stdout


def test_a_failing_statement_exits_1_and_a_missing_lake_says_what_to_start(server, lake):
    failed = run_sql(server, "-c", "select * from nowhere;")
    assert failed.returncode == 1 and failed.stdout.startswith("Error: ")
    absent = run_sql(server, "-c", "select 1;", LIVEINSIGHT_LAKE_BUCKET="no-such-lake-bucket")
    assert absent.returncode == 1 and "make local" in absent.stderr


# --- Athena ----------------------------------------------------------------------------------------

def preset_athena_result(server: str, rows: list[list[str]], columns: list[tuple[str, str]]) -> None:
    """moto's documented way to give the next query execution its results."""
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    body = [{"Data": [{"VarCharValue": v} for v in row]} for row in rows]
    info = [{"Name": name, "Label": name, "Type": kind, "CatalogName": "hive", "SchemaName": "", "TableName": "",
             "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False} for name, kind in columns]
    response = requests.post(f"{server}/moto-api/static/athena/query-results", timeout=5, json={
        "account_id": ACCOUNT, "region": REGION, "results": [{"rows": [header, *body], "column_info": info}]})
    assert response.status_code == 201


def test_athena_mode_runs_each_statement_in_the_workgroup_and_database(server, lake):
    athena = client("athena", server)
    athena.create_work_group(Name="LiveInsight-EventLake", Configuration={"BytesScannedCutoffPerQuery": 10**10})
    preset_athena_result(server, [["demo", "71"]], [("site", "varchar"), ("n", "bigint")])
    sql = "select site, count(*) as n from events where date >= '2026-11-01' group by site"
    done = run_sql(server, "--athena", "-c", sql + ";", AWS_ENDPOINT_URL_ATHENA=server,
                   LIVEINSIGHT_ATHENA_WORKGROUP="LiveInsight-EventLake", LIVEINSIGHT_ATHENA_DATABASE="liveinsight_lake")
    assert done.returncode == 0, done.stderr
    lines = table_lines(done.stdout)
    assert lines[:4] == ["site |  n", "-----+---", "demo | 71", "(1 row)"] and "bytes scanned" in lines[4]

    [execution_id] = athena.list_query_executions(WorkGroup="LiveInsight-EventLake")["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == sql  # the statement without its ';'
    assert execution["WorkGroup"] == "LiveInsight-EventLake"
    assert execution["QueryExecutionContext"]["Database"] == "liveinsight_lake"


def test_a_deployed_stage_means_athena_and_needs_its_names(server, lake):
    done = run_sql(server, "-c", "select 1;", STAGE="prod")
    assert done.returncode == 1
    assert "LIVEINSIGHT_ATHENA_WORKGROUP" in done.stderr and "terraform output" in done.stderr


def test_days_and_sites_are_read_from_the_keys(server, lake):
    from scripts.lake_sql import lake_partitions

    objects = S3LakeObjects(client("s3", server), BUCKET)
    today = datetime.now(timezone.utc).date()
    assert [p.site for p in lake_partitions(objects, None, None, today)] == ["demo", "demo", "shop"]
    assert lake_partitions(objects, "demo", 1, today) == [Partition("demo", today.isoformat())]
    old = (today - timedelta(days=5)).isoformat()
    assert lake_partitions(objects, "demo", 6, today)[0] == Partition("demo", old)

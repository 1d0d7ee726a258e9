"""Athena as the lake's second engine, against moto's Athena: the call shape (workgroup, database,
the Trino SQL restricted to the query's partitions and live objects), polling within the time left,
typed results; and the SQL sent, parsed as Trino and run as its DuckDB twin, answers as DuckDB does."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
import requests
import sqlglot
from moto import mock_aws
from moto.athena.models import athena_backends
from moto.moto_api import state_manager

from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings
from chalicelib.lake.layout import Partition
from chalicelib.query.description import parse_query
from chalicelib.query.runner import answer, plan, results
from chalicelib.store.athena import AthenaError, AthenaRunner
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects

REGION, ACCOUNT = "us-east-1", "123456789012"
SETTINGS = Settings(stage="test", sites={}, default_site_id="alpha", event_retention_days=30, lake_bucket="lake-prod",
                    athena_workgroup="liveinsight", athena_database="liveinsight_lake", lake_embedded_limit_bytes=0)
REQUEST = {"site": "alpha", "date_range": ["2026-11-01", "2026-11-05"],
           "metrics": ["visitors", "visits", "pageviews", "bounce_rate"], "dimensions": ["visit:source"],
           "filters": [["is_not", "visit:country", ["FR"]]]}


@pytest.fixture()
def athena(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="liveinsight", Configuration={"BytesScannedCutoffPerQuery": 10**10})
        yield client
    state_manager.unset_transition("athena::execution")


@pytest.fixture(scope="module")
def lake():
    events = workload.events(visitors_per_site=60)
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, events)
    # One partition between compaction's steps: its replaced objects are still there.
    workload.compact_partition(objects, Partition("alpha", "2026-11-02"), delete_replaced=False)
    return objects


def preset(rows: list[list[str | None]], columns: list[tuple[str, str]]) -> None:
    """moto's documented way to give a query execution its results."""
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    body = [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows]
    info = [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": kind,
             "Precision": 19, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False} for name, kind in columns]
    response = requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results",
                             json={"account_id": ACCOUNT, "region": REGION,
                                   "results": [{"rows": [header, *body], "column_info": info}]}, timeout=5)
    assert response.status_code == 201


COLUMNS = [("d0", "varchar"), ("visitors", "bigint"), ("visits", "bigint"), ("pageviews", "bigint"),
           ("events", "bigint"), ("bounces", "bigint"), ("duration_ms", "bigint"), ("visit_pageviews", "bigint")]


def test_a_query_over_the_limit_runs_in_athena_restricted_to_its_partitions_and_live_objects(athena, lake, tmp_path):
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 3})  # polled 3 times
    preset([["Google", "7", "9", "20", "25", "3", "90000", "20"], [None, "2", "2", "2", "2", "2", "0", "2"]],
           COLUMNS)
    runner = AthenaRunner(athena, SETTINGS.athena_workgroup, SETTINGS.athena_database, sleep=lambda s: None)
    lines: list[str] = []
    answered = answer(REQUEST, lake, SETTINGS, Metrics("test", lines.append), athena=runner, time_left_seconds=30)

    assert answered["meta"]["engine"] == "athena"
    assert answered["results"] == [{"dimensions": ["Google"], "metrics": [7, 9, 20, 33.3]},
                                   {"dimensions": [None], "metrics": [2, 2, 2, 100.0]}]
    assert '"Engine":"athena"' in lines[0]
    (execution,) = athena_backends[ACCOUNT][REGION].executions.values()
    assert execution.workgroup.name == "liveinsight" and execution.context == {"Database": "liveinsight_lake"}
    sent = execution.query
    sqlglot.parse_one(sent, read="trino")  # Trino's grammar accepts it
    assert "\"site\" = 'alpha'" in sent and "\"date\" BETWEEN '2026-10-31' AND '2026-11-06'" in sent
    live = [f for f in plan(parse_query(REQUEST), lake) if f.partition.date == "2026-11-02"][0]
    assert [o.key for o in live.live] == ["events/site=alpha/date=2026-11-02/c-000001.parquet"] and live.superseded
    # Every planned partition is read as planned: its live objects by name, never a superseded one
    # (nor one a rewrite running during the query adds beside them).
    planned = plan(parse_query(REQUEST), lake)
    assert all(f"'s3://lake-prod/{o.key}'" in sent for f in planned for o in f.live)
    assert not any(f"'s3://lake-prod/{o.key}'" in sent for f in planned for o in f.superseded)
    assert "\"$path\" IN (" in sent

    # The same text, as Athena would run it over every object there (superseded ones too), answers
    # as the DuckDB engine does over the live ones.
    twin = sqlglot.parse_one(sent, read="trino").sql(dialect="duckdb")
    query = parse_query(REQUEST)
    ran = run_sql(lake, plan(query, lake), twin, cache=LakeCache(str(tmp_path)), bucket="lake-prod",
                  include_superseded=True)
    embedded = answer(REQUEST, lake, replace(SETTINGS, lake_embedded_limit_bytes=10**12),
                      Metrics("test", lambda line: None), cache=LakeCache(str(tmp_path)))
    assert embedded["meta"]["engine"] == "duckdb"
    assert results(query, ran.columns, ran.rows) == embedded["results"]


def test_a_query_that_outlives_the_time_left_is_stopped_and_answered_503(athena, lake):
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 1000})
    clock = iter(range(0, 10_000)).__next__  # one second per look at the clock
    runner = AthenaRunner(athena, "liveinsight", "liveinsight_lake", sleep=lambda s: None, clock=clock)
    answered = answer(REQUEST, lake, SETTINGS, Metrics("test", lambda line: None), athena=runner,
                      time_left_seconds=6)
    assert answered["status"] == 503 and "did not finish in the time left; stopped" in answered["error"]["message"]
    (execution,) = athena_backends[ACCOUNT][REGION].executions.values()
    assert execution.status == "CANCELLED"


def test_results_are_typed_by_athena_column_types(athena):
    preset([["3", "2.5", "true", "12.3400", "x"], [None, None, None, None, None]],
           [("n", "bigint"), ("f", "double"), ("b", "boolean"), ("d", "decimal"), ("s", "varchar")])
    runner = AthenaRunner(athena, "liveinsight", "liveinsight_lake", sleep=lambda s: None)
    result = runner.run("SELECT 1", time_left_seconds=10)
    from decimal import Decimal
    assert result.columns == ["n", "f", "b", "d", "s"]
    assert result.rows == [(3, 2.5, True, Decimal("12.3400"), "x"), (None, None, None, None, None)]


def test_a_failed_query_says_why(athena):
    runner = AthenaRunner(athena, "liveinsight", "liveinsight_lake", sleep=lambda s: None)
    execution_id = athena.start_query_execution(QueryString="SELECT 1", WorkGroup="liveinsight")["QueryExecutionId"]
    execution = athena_backends[ACCOUNT][REGION].executions[execution_id]
    execution.status = "FAILED"  # moto runs nothing; AWS's FAILED state with its reason
    execution.status_reason = "SYNTAX_ERROR: line 1:8"
    with pytest.raises(AthenaError, match="FAILED"):
        runner._wait(execution_id, deadline=10**9)

"""Athena: runs the query builder's Trino SQL in the deployment's workgroup and database, polls it
within the caller's time, and reads its typed result (every page)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

DONE_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 2.0
STOP_MARGIN_SECONDS = 1.0  # left to stop the query and answer before the caller's time runs out
_INTEGERS = frozenset({"tinyint", "smallint", "integer", "bigint"})
_FLOATS = frozenset({"double", "real", "float"})


class AthenaError(Exception):
    """The query failed in Athena, or did not finish in the time left (then it was stopped)."""


def create_athena_client():
    import boto3
    from botocore.config import Config

    return boto3.client("athena", region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or "us-east-1", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def _typed(value: str | None, type_name: str):
    if value is None:
        return None
    kind = type_name.lower()
    if kind in _INTEGERS:
        return int(value)
    if kind in _FLOATS:
        return float(value)
    if kind.startswith("decimal"):
        return Decimal(value)
    if kind == "boolean":
        return value == "true"
    return value


@dataclass
class AthenaResult:
    columns: list[str]
    rows: list[tuple]
    bytes_scanned: int
    execution_id: str
    elapsed_ms: float


@dataclass
class AthenaRunner:
    client: object
    workgroup: str
    database: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def run(self, sql: str, time_left_seconds: float) -> AthenaResult:
        started = self.clock()
        execution_id = self.client.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": self.database}, WorkGroup=self.workgroup,
        )["QueryExecutionId"]
        execution = self._wait(execution_id, started + time_left_seconds - STOP_MARGIN_SECONDS)
        columns, rows = self._results(execution_id)
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        return AthenaResult(columns, rows, scanned, execution_id, round((self.clock() - started) * 1000, 1))

    def _wait(self, execution_id: str, deadline: float) -> dict:
        pause = FIRST_POLL_SECONDS
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            status = execution["Status"]
            if status["State"] == "SUCCEEDED":
                return execution
            if status["State"] in DONE_STATES:
                raise AthenaError(f"Athena query {execution_id} {status['State']}: "
                                  f"{status.get('StateChangeReason', 'no reason given')}")
            if self.clock() + pause > deadline:
                self.client.stop_query_execution(QueryExecutionId=execution_id)
                raise AthenaError(f"Athena query {execution_id} did not finish in the time left; stopped")
            self.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)

    def _results(self, execution_id: str) -> tuple[list[str], list[tuple]]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple] = []
        paginator = self.client.get_paginator("get_query_results")
        for number, page in enumerate(paginator.paginate(QueryExecutionId=execution_id)):
            result = page["ResultSet"]
            data = result.get("Rows", [])
            if number == 0:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns, types = [c["Name"] for c in info], [c["Type"] for c in info]
                data = data[1:]  # the first row of the first page is the header
            for row in data:
                values = [d.get("VarCharValue") for d in row["Data"]]
                rows.append(tuple(_typed(v, t) for v, t in zip(values, types, strict=True)))
        return columns, rows

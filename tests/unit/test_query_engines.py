"""DuckDB over the lake's objects: a partition compacted between listing and download is read
again (never counted twice, never missed); the local cache reuses and evicts copies; the engine
is chosen by the bytes a query would read; the query's EMF line names the engine."""

from __future__ import annotations

import json
from dataclasses import replace

from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings
from chalicelib.lake.layout import Partition
from chalicelib.query.runner import answer
from chalicelib.store.lake_duckdb import LakeCache
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects
from tests.unit.test_query_golden import reference

SETTINGS = Settings(stage="test", sites={}, default_site_id="alpha", event_retention_days=30, lake_bucket="lake")
REQUEST = {"site": "alpha", "date_range": ["2026-11-01", "2026-11-05"],
           "metrics": ["visitors", "visits", "pageviews", "events", "bounce_rate"], "dimensions": ["visit:source"]}


class CompactsOnFirstGet(MemoryLakeObjects):
    """Compaction runs (all three steps) right after the query listed a partition, before it reads."""

    def __init__(self, partition: Partition) -> None:
        super().__init__()
        self.partition, self.armed = partition, False

    def get(self, key: str) -> bytes:
        if self.armed and key.startswith(self.partition.prefix) and "/s-" in key:
            self.armed = False
            workload.compact_partition(self, self.partition, delete_replaced=True)
        return super().get(key)


def test_an_object_compacted_away_after_listing_is_read_again_from_the_new_object(tmp_path):
    events = workload.events(visitors_per_site=60)
    partition = Partition("alpha", "2026-11-02")
    objects = CompactsOnFirstGet(partition)
    workload.write_stream_layout(objects, events)
    objects.armed = True
    answered = answer(REQUEST, objects, SETTINGS, Metrics("test", lambda line: None), cache=LakeCache(str(tmp_path)))
    assert not objects.armed  # compaction did run in the middle
    assert {tuple(r["dimensions"]): r["metrics"] for r in answered["results"]} == reference(events, REQUEST)
    assert any(key.endswith("c-000001.parquet") and partition.prefix in key for op, key in objects.calls if op == "get")


def test_the_cache_reuses_copies_and_evicts_least_recently_used_beyond_its_budget(tmp_path):
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, workload.events(visitors_per_site=60))
    cache = LakeCache(str(tmp_path), budget_bytes=10**9)
    first = answer(REQUEST, objects, SETTINGS, Metrics("test", lambda line: None), cache=cache)
    gets = objects.count("get")
    second = answer(REQUEST, objects, SETTINGS, Metrics("test", lambda line: None), cache=cache)
    assert first["results"] == second["results"]
    assert first["meta"]["downloaded_bytes"] == first["meta"]["bytes_read"] > 0
    assert second["meta"]["downloaded_bytes"] == 0 and objects.count("get") == gets  # listing only
    # A smaller budget: another site's query evicts alpha's copies, never its own.
    cache.budget_bytes = 1
    other = answer({**REQUEST, "site": "beta"}, objects, SETTINGS, Metrics("test", lambda line: None), cache=cache)
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert kept and all(k.startswith("events/site=beta/") for k in kept)
    assert len(kept) == other["meta"]["files_read"]


def test_the_engine_is_chosen_by_bytes_and_reported_in_the_answer_and_its_metric(tmp_path):
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, workload.events(visitors_per_site=20))
    lines: list[str] = []
    answered = answer(REQUEST, objects, SETTINGS, Metrics("test", lines.append), cache=LakeCache(str(tmp_path)))
    meta = answered["meta"]
    assert meta["engine"] == "duckdb" and meta["partitions"] == 7  # 5 days and the day either side
    assert meta["bytes_read"] == meta["planned_bytes"] == sum(
        len(v) for k, v in objects.objects.items() if k.startswith("events/site=alpha/"))
    assert meta["files_read"] == sum(1 for k in objects.objects if k.startswith("events/site=alpha/"))
    (line,) = [json.loads(line) for line in lines]
    assert line["Engine"] == "duckdb" and line["LakeQueryBytes"] == meta["bytes_read"]
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "LakeQueryBytes", "Unit": "Bytes"}]
    # Over the limit: Athena, which is not reachable here, answers 503 with a message, not a crash.
    small = replace(SETTINGS, lake_embedded_limit_bytes=meta["bytes_read"] - 1)

    class Unreachable:
        def run(self, sql, time_left_seconds):
            from chalicelib.store.athena import AthenaError
            raise AthenaError("Athena query q-1 FAILED: workgroup is disabled")

    refused = answer(REQUEST, objects, small, Metrics("test", lines.append), athena=Unreachable())
    assert refused == {"status": 503, "error": {"code": "engine_failed",
                                                "message": "Athena query q-1 FAILED: workgroup is disabled"}}


def test_a_regular_expression_duckdb_refuses_is_a_400(tmp_path):
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, workload.events(visitors_per_site=5))
    # Python accepts a look-ahead; RE2 (DuckDB, and Athena's default) does not.
    answered = answer({**REQUEST, "filters": [["matches", "event:page", ["^/(?=blog)"]]]}, objects, SETTINGS,
                      Metrics("test", lambda line: None), cache=LakeCache(str(tmp_path)))
    assert answered["status"] == 400 and answered["error"]["field"] == "filters"

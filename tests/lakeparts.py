"""Helpers for tests of lake rewrites: stream objects as the writer names them, and a partition read
the way a query reads it (layout.resolve, then every live object's rows)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timezone

from chalicelib.lake import layout
from chalicelib.lake.layout import Partition
from chalicelib.lake.parquet import parquet_rows, rows_to_parquet

SHARD = "shardId-00000001700000000000-0123abcd"
DAY = "2025-03-04"
DAY_START_MS = int(datetime(2025, 3, 4, tzinfo=timezone.utc).timestamp() * 1000)
AFTER_DAY_MS = DAY_START_MS + 3 * 86_400_000  # long after the day closed


def event_rows(count: int, *, start_ms: int = DAY_START_MS + 3_600_000, visitor: str = "anon-00000000000000aa",
               session: str = "0" * 20, seed: int = 0, **fields) -> list[dict]:
    rows = []
    for n in range(count):
        time_ms = start_ms + n * 1000
        rows.append({"event_id": str(uuid.UUID(int=(seed << 64) + n + 1, version=4)), "event_type": "page_view",
                     "time": time_ms, "received_time": time_ms + 150, "session_id": session, "visitor_id": visitor,
                     "page_path": f"/p/{n % 7}", "properties": {"n": str(n)}, **fields})
    return rows


def put_stream_object(objects, site: str, rows: list[dict], sequence: int, shard: str = SHARD) -> str:
    partition = Partition.of(site, rows[0]["time"])
    key = layout.stream_object_key(partition, shard, str(sequence))
    objects.put(key, rows_to_parquet(rows))
    return key


def read_as_query(objects, partition: Partition) -> list[dict]:
    """Every row a query reads: the live objects of one listing (ObjectMissing propagates)."""
    files = layout.resolve(partition, objects.list(partition.prefix), objects.get)
    return [row for obj in files.live for row in parquet_rows(objects.get(obj.key))]


def event_counts(objects, partition: Partition) -> Counter:
    return Counter(row["event_id"] for row in read_as_query(objects, partition))


def assert_exactly_once(objects, partition: Partition, expected_ids: set[str], when: str = "") -> None:
    counts = event_counts(objects, partition)
    missing = expected_ids - set(counts)
    twice = {event_id for event_id, n in counts.items() if n > 1}
    extra = set(counts) - expected_ids
    assert not missing and not twice and not extra, f"{when}: missing {len(missing)}, twice {len(twice)}, " \
                                                    f"unexpected {len(extra)}"

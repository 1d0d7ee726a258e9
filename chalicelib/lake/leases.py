"""One rewriter of a partition at a time. Compaction and erasure both rewrite partitions (rewrite.py);
run together on one partition, the later one could write back rows the other removed (an erasure
undone). Each takes the partition's lease before it lists the partition and gives it back after its
deletes; a holder that crashed loses it when it lapses (after Lambda's longest run)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from chalicelib.lake.layout import Partition

# Lambda stops any function within 15 minutes: a lease held longer belongs to a run that is gone.
REWRITE_LEASE_MS = 15 * 60_000


class Leases(Protocol):
    def acquire(self, name: str, holder: str, now_ms: int, hold_ms: int) -> bool: ...  # False: held by another

    def release(self, name: str, holder: str) -> None: ...  # only the holder's own lease


class PartitionBusy(Exception):
    """Another rewriter holds the partition: try it again later."""


def lease_name(partition: Partition) -> str:
    return f"{partition.site}/{partition.date}"


@contextmanager
def rewriting(leases: Leases, partition: Partition, now_ms: int) -> Iterator[None]:
    holder = uuid.uuid4().hex
    if not leases.acquire(lease_name(partition), holder, now_ms, REWRITE_LEASE_MS):
        raise PartitionBusy(partition.prefix)
    try:
        yield
    finally:
        leases.release(lease_name(partition), holder)

"""The stream writer: one batch of the events table's stream -> one Parquet object per partition.

Why an event is never stored twice, whatever Lambda re-delivers:

- Names are deterministic. A partition's object from a batch is named by the stream and the
  sequence number of that partition's first record in the batch (layout.stream_object_key), and its
  content is every row of that partition in the batch. Writing the same records again writes the same
  names with the same rows: an overwrite, never a second copy.
- A failed batch is retried whole: when any PUT fails the answer is
  {"batchItemFailures": [{"itemIdentifier": <first record's SequenceNumber>}]}, so Lambda starts
  again at the batch's first record (and BisectBatchOnFunctionError, if on, splits "at the returned
  sequence number": the whole batch). Never a failure from the middle: a retry from record k would
  name partition P's object by P's first record at or after k, while the failed attempt may already
  have written P's records before k *and after it* under the old name: two copies.
- Bisection is safe too. Halves are contiguous and processed in order, each until it succeeds. An
  object a failed attempt wrote is named by P's first record r in that attempt; the half holding r
  has r as its own first P record (nothing of P came before r), so it overwrites that object with
  only its own rows before any later half writes P's later rows under their own names.
  The one gap: Lambda abandoning the half that holds r (retries or record age exhausted) while a
  later half succeeds leaves P's later rows in both objects until that half is replayed (same range,
  same names: healed). Unlimited retries (MaximumRetryAttempts/MaximumRecordAgeInSeconds -1) close
  it; compaction keeping one row per event_id heals it anyway. Poison records never fail a batch
  (they go to dead-letter/), so only an S3 outage makes Lambda retry.

Which shard: the Lambda event names the stream (eventSourceARN ends /stream/<label>) but not the
shard (only a failure destination's DDBStreamBatchInfo and tumbling-window events carry shardId;
eventID identifies one record). Sequence numbers order records within a shard; DynamoDB does not
document them as unique across the shards of a stream. So an object's "shard" is the stream ARN plus
the eventID of the record that names it: re-delivery repeats both (they are the record's own), and
two shards could meet on a name only with the same sequence number *and* the same 32-bit tag.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.core.log import log
from chalicelib.core.metrics import COUNT, LAKE_DEAD_LETTERS, LAKE_EVENTS_WRITTEN, LAKE_WRITE_DELAY, SECONDS
from chalicelib.lake.layout import Partition, shard_tag, stream_object_key
from chalicelib.lake.rows import PoisonRecord, sequence_number, stream_row
from chalicelib.schema.lake import DEAD_LETTER_PREFIX

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
JSON_CONTENT_TYPE = "application/json"


@dataclass
class _PartitionRows:
    first: dict  # the stream record that names the object
    rows: list[tuple[dict, dict]] = field(default_factory=list)  # (stream record, row)


@dataclass
class BatchPlan:
    """What one batch writes: rows by partition, dead letters, and what was skipped."""

    partitions: dict[Partition, _PartitionRows] = field(default_factory=dict)
    dead_letters: list[tuple[dict, str]] = field(default_factory=list)  # (stream record, why)
    skipped: int = 0  # salts, REMOVE and MODIFY records


def record_shard(record: dict) -> str:
    """The stream and record a name is made from (see the module's note on shards)."""
    return f"{record.get('eventSourceARN', '')}#{record.get('eventID', '')}"


def object_key(partition: Partition, first_record: dict) -> str:
    return stream_object_key(partition, record_shard(first_record), sequence_number(first_record))


def dead_letter_key(record: dict) -> str:
    return f"{DEAD_LETTER_PREFIX}s-{shard_tag(record_shard(record))}-{sequence_number(record)}.json"


def plan_batch(records: list[dict]) -> BatchPlan:
    plan = BatchPlan()
    for record in sorted(records, key=lambda r: int(sequence_number(r))):
        try:
            made = stream_row(record)
        except PoisonRecord as exc:
            plan.dead_letters.append((record, str(exc)))
            continue
        if made is None:
            plan.skipped += 1
            continue
        partition, row = made
        plan.partitions.setdefault(partition, _PartitionRows(record)).rows.append((record, row))
    return plan


def write_stream_batch(lambda_event: dict, objects, metrics, *, now_ms: int,
                       encode: Callable[[list[dict]], bytes] | None = None) -> dict:
    """Writes one stream batch to the lake; answers Lambda's ReportBatchItemFailures response."""
    records = lambda_event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    if encode is None:
        from chalicelib.lake.parquet import rows_to_parquet as encode  # DuckDB: from the lake layer
    plan = plan_batch(records)
    encoded = (_encoded(partition, group, plan, encode) for partition, group in sorted(plan.partitions.items()))
    bodies = [body for body in encoded if body is not None]
    written_rows = [row for _, _, rows in bodies for row in rows]
    try:
        for record, _ in plan.dead_letters:
            objects.put(dead_letter_key(record), dead_letter_body(record), JSON_CONTENT_TYPE)
        for key, body, _ in bodies:
            objects.put(key, body, PARQUET_CONTENT_TYPE)
    except Exception as exc:  # noqa: BLE001 - any failure to store: the whole batch again, never part of it
        first = min((sequence_number(r) for r in records), key=int)
        log("ERROR", "lake batch not stored; Lambda retries it whole", error=repr(exc)[:300],
            records=len(records), first_sequence_number=first)
        metrics.job({LAKE_EVENTS_WRITTEN: (0, COUNT), LAKE_DEAD_LETTERS: (0, COUNT)})
        return {"batchItemFailures": [{"itemIdentifier": first}]}
    values = {LAKE_EVENTS_WRITTEN: (len(written_rows), COUNT), LAKE_DEAD_LETTERS: (len(plan.dead_letters), COUNT)}
    if written_rows:
        oldest_ms = min(row["received_time"] for row in written_rows)
        values[LAKE_WRITE_DELAY] = (round(max(now_ms - oldest_ms, 0) / 1000, 3), SECONDS)
    metrics.job(values)
    for record, reason in plan.dead_letters:  # ids and reasons only, never the payload
        log("ERROR", "lake dead letter", key=dead_letter_key(record), reason=reason)
    log("INFO", "lake batch stored", records=len(records), rows=len(written_rows), objects=len(bodies),
        dead_letters=len(plan.dead_letters), skipped=plan.skipped)
    return {"batchItemFailures": []}


def _encoded(partition: Partition, group: _PartitionRows, plan: BatchPlan,
             encode: Callable[[list[dict]], bytes]) -> tuple[str, bytes, list[dict]] | None:
    """The partition's object. Rows DuckDB refuses (a case rows.py did not foresee) become dead
    letters one by one, so a bad row never blocks the stream; the rest is written."""
    rows = [row for _, row in group.rows]
    try:
        return object_key(partition, group.first), encode(rows), rows
    except Exception:  # noqa: BLE001 - find the row(s) at fault
        good: list[tuple[dict, dict]] = []
        for record, row in group.rows:
            try:
                encode([row])
                good.append((record, row))
            except Exception as exc:  # noqa: BLE001
                plan.dead_letters.append((record, f"Parquet refused the row: {exc!r}"[:500]))
        if not good:
            return None
        rows = [row for _, row in good]
        return object_key(partition, good[0][0]), encode(rows), rows


def dead_letter_body(record: dict) -> bytes:
    """The record as received: after a fix, {"Records": [it]} replays it through this writer.
    Why it is there is in the ERROR log line naming its key."""
    return json.dumps(record, sort_keys=True, default=str).encode()

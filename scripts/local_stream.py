"""`make local`'s stand-in for Lambda's event source mapping: polls the events table's stream and
hands each batch, shaped as Lambda delivers it, to the stream function's body.

Like Lambda: every shard read from TRIM_HORIZON, GetRecords up to `batch_size` records, the batch
invoked with {"Records": [...]} (eventSourceARN added, binaries as base64 text, ApproximateCreationDateTime
as epoch seconds), and on {"batchItemFailures": [...]} the shard is read again from the lowest sequence
number reported; after an exception (a function error) the same batch is invoked again, as Lambda retries
a batch whole when the mapping neither bisects nor takes partial failures (the statistics function's
exactly-once rests on it: stats/stream.py). Unlike Lambda it polls every few seconds, not 4 times a second.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import datetime

from chalicelib.core.log import log

DEFAULT_INTERVAL_SECONDS = 5.0
BATCH_SIZE = 1000  # app.py's on_dynamodb_record batch_size


def lambda_value(attribute: dict) -> dict:
    """A boto3 attribute value (bytes for binaries) as the Lambda event's JSON spells it."""
    (kind, value), = attribute.items()
    if kind == "B":
        return {"B": base64.b64encode(value).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode() for v in value]}
    if kind == "M":
        return {"M": {k: lambda_value(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [lambda_value(v) for v in value]}
    return {kind: value}


def lambda_record(record: dict, stream_arn: str) -> dict:
    """One GetRecords record as a record of Lambda's DynamoDB event."""
    dynamodb = dict(record["dynamodb"])
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = {k: lambda_value(v) for k, v in dynamodb[image].items()}
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    shaped = {k: v for k, v in record.items() if k != "dynamodb"}
    return {**shaped, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


class StreamPoller:
    """Polls one stream; `invoke(event) -> response` is the stream function's body."""

    def __init__(self, streams_client, stream_arn: str, invoke: Callable[[dict], dict | None],
                 batch_size: int = BATCH_SIZE) -> None:
        self._client, self._arn, self._invoke, self._batch_size = streams_client, stream_arn, invoke, batch_size
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: shard closed)
        self._failed: dict[str, tuple[list[dict], str | None]] = {}  # shard id -> (batch to retry, iterator after it)

    def poll_once(self) -> int:
        """One round over every shard: returns how many records were handed over."""
        handed = 0
        shards = self._client.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._iterator(shard_id, "TRIM_HORIZON")
            handed += self._poll_shard(shard_id)
        return handed

    def _iterator(self, shard_id: str, kind: str, sequence_number: str | None = None) -> str:
        arguments = {"SequenceNumber": sequence_number} if sequence_number else {}
        return self._client.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, ShardIteratorType=kind,
                                               **arguments)["ShardIterator"]

    def _poll_shard(self, shard_id: str) -> int:
        if shard_id in self._failed:
            records, next_iterator = self._failed.pop(shard_id)
        else:
            iterator = self._iterators[shard_id]
            if iterator is None:
                return 0
            response = self._client.get_records(ShardIterator=iterator, Limit=self._batch_size)
            records = [lambda_record(r, self._arn) for r in response.get("Records", [])]
            next_iterator = response.get("NextShardIterator")
        if not records:
            self._iterators[shard_id] = next_iterator
            return 0
        try:
            failures = (self._invoke({"Records": records}) or {}).get("batchItemFailures") or []
        except Exception as exc:  # noqa: BLE001 - as Lambda: a function error retries the batch, whole
            log("ERROR", "local stream function failed; batch retried", error=repr(exc)[:300])
            self._failed[shard_id] = (records, next_iterator)
            return 0
        if failures:
            checkpoint = min((f["itemIdentifier"] for f in failures), key=int)
            self._iterators[shard_id] = self._iterator(shard_id, "AT_SEQUENCE_NUMBER", checkpoint)
            return 0
        self._iterators[shard_id] = next_iterator
        return len(records)

    def run(self, interval_seconds: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep polling, say what went wrong
                log("ERROR", "local stream poll failed", error=repr(exc)[:300])
            stop.wait(interval_seconds)


def start_polling(streams_client, stream_arn: str, invoke: Callable[[dict], dict | None],
                  interval_seconds: float, stop: threading.Event) -> threading.Thread:
    poller = StreamPoller(streams_client, stream_arn, invoke)
    thread = threading.Thread(target=poller.run, args=(interval_seconds, stop), name="stream-poller", daemon=True)
    thread.start()
    return thread


"""Raw events: batched writes (25 per BatchWriteItem), duplicate checks, a session's events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botocore.exceptions import ClientError

from ..errors import StoreUnavailable
from ..log import log
from ..tables import event_key
from .base import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    Backoff,
    call,
    chunks,
    error_code,
    from_item,
    to_item,
)

INVALID_ITEM = "ValidationException"  # what DynamoDB answers for an item it cannot store


class EventStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def existing_keys(self, keys: Iterable[str]) -> dict[str, str | None]:
        """Which event keys are stored already, with their session ids (strongly consistent,
        100 keys per call). Raises StoreUnavailable when DynamoDB cannot say: never guess.
        """
        found: dict[str, str | None] = {}
        for chunk in chunks(sorted(set(keys)), BATCH_GET_LIMIT):
            request = {self._table: {"Keys": [{"pk": {"S": k}} for k in chunk],
                                     "ProjectionExpression": "pk, session_id", "ConsistentRead": True}}
            for attempt in range(self._backoff.attempts):
                response = self._call(self._client.batch_get_item, RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["pk"]["S"]] = item.get("session_id", {}).get("S")
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._backoff.pause(attempt)
            else:
                raise StoreUnavailable("BatchGetItem left keys unprocessed after every retry")
        return found

    def put_events(self, records: Sequence[dict]) -> list[str]:
        """Writes records (each with `pk`); returns the keys that could NOT be stored. Never raises:
        what is not stored is reported, and the caller answers `retry` for exactly those."""
        unstored: list[str] = []
        for chunk in chunks(list(records), BATCH_WRITE_LIMIT):
            try:
                unstored.extend(self._write_chunk(chunk))
            except StoreUnavailable as exc:  # out of retries or of time: this chunk and the rest wait
                log("ERROR", "events not stored", table=self._table, error=str(exc), events=len(chunk))
                unstored.extend(r["pk"] for r in chunk)
        return unstored

    def _write_chunk(self, chunk: Sequence[dict]) -> list[str]:
        pending = [{"PutRequest": {"Item": to_item(r)}} for r in chunk]
        for attempt in range(self._backoff.attempts):
            try:
                response = call(self._backoff, self._client.batch_write_item, RequestItems={self._table: pending})
            except ClientError as exc:  # not retryable
                log("ERROR", "event batch rejected by DynamoDB", table=self._table, code=error_code(exc),
                    events=len(pending))
                # One invalid item fails its whole batch: find it, so it never takes its neighbours down.
                # Anything else (access denied, no table) would fail each item alike.
                return self._write_each(pending) if error_code(exc) == INVALID_ITEM else [
                    r["PutRequest"]["Item"]["pk"]["S"] for r in pending]
            pending = response.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return []
            log("WARNING", "unprocessed events; retrying", table=self._table, attempt=attempt + 1, events=len(pending))
            self._backoff.pause(attempt)
        return [r["PutRequest"]["Item"]["pk"]["S"] for r in pending]

    def _write_each(self, pending: list[dict]) -> list[str]:
        """One PutItem per item: the ones DynamoDB rejects are reported, the others stored."""
        rejected = []
        for request in pending:
            item = request["PutRequest"]["Item"]
            try:
                call(self._backoff, self._client.put_item, TableName=self._table, Item=item)
            except ClientError as exc:
                log("ERROR", "event rejected by DynamoDB", table=self._table, code=error_code(exc))
                rejected.append(item["pk"]["S"])
        return rejected

    def _call(self, operation, **kwargs):
        try:
            return call(self._backoff, operation, **kwargs)
        except ClientError as exc:  # not retryable (access, missing table...): the answer is unknown
            raise StoreUnavailable(f"{operation.__name__} failed: {error_code(exc)}") from exc

    def get_event(self, site: str, event_id: str) -> dict | None:
        response = call(self._backoff, self._client.get_item, TableName=self._table,
                         Key={"pk": {"S": event_key(site, event_id)}}, ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def get_events(self, site: str, event_ids: list[str]) -> list[dict]:
        """Stored events by id (100 per BatchGetItem), in time order."""
        events: list[dict] = []
        for chunk in chunks(sorted(set(event_ids)), BATCH_GET_LIMIT):
            request = {self._table: {"Keys": [{"pk": {"S": event_key(site, e)}} for e in chunk]}}
            while request:
                got = call(self._backoff, self._client.batch_get_item, RequestItems=request)
                events.extend(from_item(i) for i in got.get("Responses", {}).get(self._table, []))
                request = got.get("UnprocessedKeys") or {}
        events.sort(key=lambda e: (e["time_ms"], e["event_id"]))
        return events

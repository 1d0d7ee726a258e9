"""Raw events: batched writes (25 per BatchWriteItem), duplicate checks, a session's events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

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
    retryable,
    to_item,
)


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
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    if not retryable(exc) or attempt == self._backoff.attempts - 1:
                        raise StoreUnavailable(f"BatchGetItem failed: {exc}") from exc
                    self._backoff.pause(attempt)
                    continue
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
        """Writes records (each with `pk`); returns the keys that could NOT be stored."""
        unstored: list[str] = []
        for chunk in chunks(list(records), BATCH_WRITE_LIMIT):
            unstored.extend(self._write_chunk(chunk))
        return unstored

    def _write_chunk(self, chunk: Sequence[dict]) -> list[str]:
        pending = [{"PutRequest": {"Item": to_item(r)}} for r in chunk]
        for attempt in range(self._backoff.attempts):
            try:
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            except (ClientError, BotoCoreError) as exc:
                if not retryable(exc):
                    log("ERROR", "event write rejected by DynamoDB", table=self._table,
                        error=type(exc).__name__, code=error_code(exc), events=len(pending))
                    break
                log("WARNING", "event write throttled; retrying", table=self._table,
                    code=error_code(exc), attempt=attempt + 1, events=len(pending))
            else:
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    return []
                log("WARNING", "unprocessed events; retrying", table=self._table,
                    attempt=attempt + 1, events=len(pending))
            if attempt < self._backoff.attempts - 1:
                self._backoff.pause(attempt)
        return [r["PutRequest"]["Item"]["pk"]["S"] for r in pending]

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

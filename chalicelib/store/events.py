"""Raw events: duplicate checks and a session's events (events are written with their sessions:
SessionStore.commit)."""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.schema.tables import event_key
from chalicelib.store.base import (
    BATCH_GET_LIMIT,
    Backoff,
    call,
    chunks,
    error_code,
    from_item,
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

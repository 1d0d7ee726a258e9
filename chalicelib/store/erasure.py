"""A visitor's items found and deleted (GDPR erasure, chalicelib/lake/erasure.py): its sessions and events."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.core.errors import StoreUnavailable
from chalicelib.schema.tables import event_key
from chalicelib.store.base import Backoff, call, chunks, from_item
from chalicelib.store.events import EventStore

BATCH_WRITE_LIMIT = 25  # requests per BatchWriteItem
SESSION_FIELDS = "pk, sk, session_id, started_ms, last_seen_ms, event_ids"


class ErasureStore:
    def __init__(self, client, events_table: str, sessions_table: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._events_table = events_table
        self._sessions_table = sessions_table
        self._backoff = backoff or Backoff()
        self._events = EventStore(client, events_table, self._backoff)

    def visitor_sessions(self, visitor_pk: str) -> list[dict]:
        """Every session of one visitor of one site (keys, times and listed event ids only)."""
        sessions: list[dict] = []
        kwargs: dict = {}
        while True:
            response = call(self._backoff, self._client.query, TableName=self._sessions_table,
                             KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": visitor_pk}},
                             ProjectionExpression=SESSION_FIELDS, ConsistentRead=True, **kwargs)
            sessions.extend(from_item(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sessions
            kwargs = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def delete_events(self, site: str, event_ids: Iterable[str]) -> int:
        """Deletes stored events by id; returns how many were there (a delete does not say, so a
        consistent BatchGetItem asks first: re-running an erasure counts nothing twice)."""
        present = sorted(self._events.existing_keys(event_key(site, e) for e in event_ids))
        self._delete(self._events_table, [{"pk": {"S": k}} for k in present])
        return len(present)

    def delete_sessions(self, sessions: list[dict]) -> int:
        self._delete(self._sessions_table, [{"pk": {"S": s["pk"]}, "sk": {"S": s["sk"]}} for s in sessions])
        return len(sessions)

    def _delete(self, table: str, keys: list[dict]) -> None:
        for chunk in chunks(keys, BATCH_WRITE_LIMIT):
            request = {table: [{"DeleteRequest": {"Key": key}} for key in chunk]}
            for attempt in range(self._backoff.attempts):
                response = call(self._backoff, self._client.batch_write_item, RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._backoff.pause(attempt)
            else:
                raise StoreUnavailable("BatchWriteItem left deletes unprocessed after every retry")

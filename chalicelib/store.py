"""The only module that speaks DynamoDB.

Low-level client only (no boto3.resource: it costs ~60 ms of cold start and hides request counts).
Writes are batched 25 per BatchWriteItem; unprocessed items and throttling are retried with capped
exponential backoff and full jitter; what still fails is reported back so the caller never answers
2xx for an event that was not stored.
"""

from __future__ import annotations

import calendar
import os
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from .errors import StoreUnavailable
from .log import log
from .tables import ACTIVE_SESSIONS, EVENTS_BY_SESSION, SESSIONS_BY_ID, event_key

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
SALT_PREFIX = "salt#"
SALT_BYTES = 16
# Errors worth another try; anything else (validation, access denied, missing table) is a
# deployment fault that retrying cannot fix.
RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
})


def create_dynamodb_client():
    """One client per process. AWS_ENDPOINT_URL_DYNAMODB points it at the local emulator."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=5,
            tcp_keepalive=True,
        ),
    )


# --- attribute values -------------------------------------------------------------------------

def to_attribute(value) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float)):
        return {"N": repr(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def from_attribute(attribute: dict):
    (kind, value), = attribute.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "NULL":
        return None
    return value  # S, B, BOOL


def to_item(record: dict) -> dict:
    return {k: to_attribute(v) for k, v in record.items()}


def from_item(item: dict) -> dict:
    return {k: from_attribute(v) for k, v in item.items()}


# --- retries ----------------------------------------------------------------------------------

@dataclass
class Backoff:
    """Capped exponential backoff with full jitter (the AWS Architecture Blog's recommendation)."""

    attempts: int = 6
    base_seconds: float = 0.05
    cap_seconds: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random

    def pause(self, attempt: int) -> None:
        self.sleep(self.rand() * min(self.cap_seconds, self.base_seconds * 2 ** attempt))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_CODES
    return isinstance(exc, BotoCoreError)  # timeouts and connection errors


def _call(backoff: Backoff, operation: Callable, **kwargs):
    """One DynamoDB call, retried on throttling and transient faults; StoreUnavailable after that.
    Other errors (a failed condition among them) go to the caller."""
    for attempt in range(backoff.attempts):
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            if not _retryable(exc):
                raise
            if attempt == backoff.attempts - 1:
                raise StoreUnavailable(f"{getattr(operation, '__name__', 'call')} failed: {_error_code(exc)}") from exc
            backoff.pause(attempt)
    raise AssertionError("unreachable")


def _condition_failed(exc: ClientError) -> bool:
    return _error_code(exc) == "ConditionalCheckFailedException"


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- events -----------------------------------------------------------------------------------

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
        for chunk in _chunks(sorted(set(keys)), BATCH_GET_LIMIT):
            request = {self._table: {"Keys": [{"pk": {"S": k}} for k in chunk],
                                     "ProjectionExpression": "pk, session_id", "ConsistentRead": True}}
            for attempt in range(self._backoff.attempts):
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    if not _retryable(exc) or attempt == self._backoff.attempts - 1:
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
        for chunk in _chunks(list(records), BATCH_WRITE_LIMIT):
            unstored.extend(self._write_chunk(chunk))
        return unstored

    def _write_chunk(self, chunk: Sequence[dict]) -> list[str]:
        pending = [{"PutRequest": {"Item": to_item(r)}} for r in chunk]
        for attempt in range(self._backoff.attempts):
            try:
                response = self._client.batch_write_item(RequestItems={self._table: pending})
            except (ClientError, BotoCoreError) as exc:
                if not _retryable(exc):
                    log("ERROR", "event write rejected by DynamoDB", table=self._table,
                        error=type(exc).__name__, code=_error_code(exc), events=len(pending))
                    break
                log("WARNING", "event write throttled; retrying", table=self._table,
                    code=_error_code(exc), attempt=attempt + 1, events=len(pending))
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
        response = _call(self._backoff, self._client.get_item, TableName=self._table,
                         Key={"pk": {"S": event_key(site, event_id)}}, ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def events_of_session(self, session_id: str, limit: int) -> tuple[list[dict], bool]:
        """A session's events in time order (at most `limit`), and whether there are more."""
        response = _call(self._backoff, self._client.query, TableName=self._table,
                         IndexName=EVENTS_BY_SESSION.name, KeyConditionExpression="session_id = :s",
                         ExpressionAttributeValues={":s": {"S": session_id}}, Limit=limit)
        keys = [i["pk"]["S"] for i in response.get("Items", [])]
        events = []
        for chunk in _chunks(keys, BATCH_GET_LIMIT):
            request = {self._table: {"Keys": [{"pk": {"S": k}} for k in chunk]}}
            while request:
                got = _call(self._backoff, self._client.batch_get_item, RequestItems=request)
                events.extend(from_item(i) for i in got.get("Responses", {}).get(self._table, []))
                request = got.get("UnprocessedKeys") or {}
        events.sort(key=lambda e: (e["time_ms"], e["event_id"]))
        return events, "LastEvaluatedKey" in response


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "Unknown")
    return type(exc).__name__


# --- daily salts for the cookieless visitor id ----------------------------------------------

class SaltStore:
    """Random per-day salts, created once by whichever request comes first, kept two days.

    Salts are random (not derived from a secret) so that once TTL removes one, nobody can recompute
    the visitor hashes of its day: the same promise Plausible makes.
    """

    def __init__(self, client, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._cache: dict[date, tuple[bytes, bytes | None]] = {}

    def salts_for(self, day: date) -> tuple[bytes, bytes | None]:
        """(today's salt, yesterday's salt or None). Costs DynamoDB requests once per day per process."""
        if day not in self._cache:
            try:
                self._cache = {day: self._load(day)}
            except (ClientError, BotoCoreError) as exc:
                raise StoreUnavailable(f"could not read the daily salt: {_error_code(exc)}") from exc
        return self._cache[day]

    def _load(self, day: date) -> tuple[bytes, bytes | None]:
        yesterday = day - timedelta(days=1)
        keys = [{"pk": {"S": SALT_PREFIX + d.isoformat()}} for d in (day, yesterday)]
        response = self._client.batch_get_item(
            RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
        )
        found = {i["pk"]["S"]: i["salt"]["B"] for i in response.get("Responses", {}).get(self._table, [])}
        today = found.get(SALT_PREFIX + day.isoformat()) or self._create(day)
        return today, found.get(SALT_PREFIX + yesterday.isoformat())

    def _create(self, day: date) -> bytes:
        key = SALT_PREFIX + day.isoformat()
        # Deleted two days after its day ends; TTL may take a little longer to act.
        expires_at_s = calendar.timegm((day + timedelta(days=3)).timetuple())
        salt = secrets.token_bytes(SALT_BYTES)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"pk": {"S": key}, "salt": {"B": salt}, "expires_at_s": {"N": str(expires_at_s)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return salt
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise
        # Another process created it first: use theirs so every process agrees.
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return item["Item"]["salt"]["B"]


# --- sessions -------------------------------------------------------------------------------

class SessionStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def latest(self, visitor_pk: str) -> dict | None:
        """The visitor's newest session (one strongly consistent item read)."""
        response = _call(self._backoff, self._client.query, TableName=self._table,
                         KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": visitor_pk}},
                         ScanIndexForward=False, Limit=1, ConsistentRead=True)
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    def put_session(self, record: dict, expected_version: int | None) -> bool:
        """Writes a whole session if nobody changed it since it was read (or, for a new one, if
        nobody created it first). False on a conflict: the caller reads again and re-plans."""
        if expected_version is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "version = :expected", {":expected": {"N": str(expected_version)}}
        try:
            _call(self._backoff, self._client.put_item, TableName=self._table, Item=to_item(record),
                  ConditionExpression=condition, **({"ExpressionAttributeValues": values} if values else {}))
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise StoreUnavailable(f"PutItem failed: {_error_code(exc)}") from exc
        return True

    def get(self, session_id: str) -> dict | None:
        response = _call(self._backoff, self._client.query, TableName=self._table, IndexName=SESSIONS_BY_ID.name,
                         KeyConditionExpression="session_id = :s", ExpressionAttributeValues={":s": {"S": session_id}},
                         Limit=1)
        if not response.get("Items"):
            return None
        key = {k: response["Items"][0][k] for k in ("pk", "sk")}
        item = _call(self._backoff, self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None

    def of_visitor(self, visitor_pk: str, limit: int, after_sk: str | None) -> tuple[list[dict], str | None]:
        """A visitor's sessions, newest first, a page at a time; the cursor is the last sort key."""
        kwargs = {"ExclusiveStartKey": {"pk": {"S": visitor_pk}, "sk": {"S": after_sk}}} if after_sk else {}
        response = _call(self._backoff, self._client.query, TableName=self._table,
                         KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": visitor_pk}},
                         ScanIndexForward=False, Limit=limit, **kwargs)
        last = response.get("LastEvaluatedKey")
        return [from_item(i) for i in response.get("Items", [])], last["sk"]["S"] if last else None

    # --- expiry ---

    def due(self, shard: int, now_ms: int, limit: int, start_key: dict | None) -> tuple[list[dict], dict | None]:
        """Keys of active sessions in one shard whose expiry check is due (index items only)."""
        kwargs = {"ExclusiveStartKey": start_key} if start_key else {}
        response = _call(self._backoff, self._client.query, TableName=self._table, IndexName=ACTIVE_SESSIONS.name,
                         KeyConditionExpression="active_shard = :shard AND expiry_check_ms <= :now",
                         ExpressionAttributeValues={":shard": {"S": str(shard)}, ":now": {"N": str(now_ms)}},
                         Limit=limit, **kwargs)
        keys = [{"pk": i["pk"]["S"], "sk": i["sk"]["S"]} for i in response.get("Items", [])]
        return keys, response.get("LastEvaluatedKey")

    def count_due(self, shard: int, now_ms: int) -> int:
        total, kwargs = 0, {}
        while True:
            response = _call(self._backoff, self._client.query, TableName=self._table,
                             IndexName=ACTIVE_SESSIONS.name, Select="COUNT",
                             KeyConditionExpression="active_shard = :shard AND expiry_check_ms <= :now",
                             ExpressionAttributeValues={":shard": {"S": str(shard)}, ":now": {"N": str(now_ms)}},
                             **kwargs)
            total += response.get("Count", 0)
            if "LastEvaluatedKey" not in response:
                return total
            kwargs = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def end_if_idle(self, key: dict, idle_before_ms: int, started_before_ms: int) -> tuple[str, dict | None]:
        """Ends a session at its last event, only if it is still active and idle (or too long).

        Returns ("ended", new record), ("busy", current record) or ("gone", None). One write, no read:
        the condition decides, so a late event and this job can never both win.
        """
        try:
            response = _call(
                self._backoff, self._client.update_item, TableName=self._table,
                Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
                UpdateExpression="SET #status = :ended, ended_ms = last_seen_ms, version = version + :one "
                                 "REMOVE active_shard, expiry_check_ms",
                ConditionExpression="#status = :active AND (last_seen_ms <= :idle OR started_ms <= :cap)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":ended": {"S": "ended"}, ":active": {"S": "active"},
                                           ":one": {"N": "1"}, ":idle": {"N": str(idle_before_ms)},
                                           ":cap": {"N": str(started_before_ms)}},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise StoreUnavailable(f"UpdateItem failed: {_error_code(exc)}") from exc
            old = exc.response.get("Item")
            if not old or old.get("status", {}).get("S") != "active":
                return "gone", None
            return "busy", from_item(old)
        return "ended", from_item(response["Attributes"])

    def reschedule(self, key: dict, expiry_check_ms: int) -> None:
        """Moves a still-active session's next expiry check (no-op if it ended meanwhile)."""
        try:
            _call(self._backoff, self._client.update_item, TableName=self._table,
                  Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
                  UpdateExpression="SET expiry_check_ms = :check", ConditionExpression="#status = :active",
                  ExpressionAttributeNames={"#status": "status"},
                  ExpressionAttributeValues={":check": {"N": str(expiry_check_ms)}, ":active": {"S": "active"}})
        except ClientError as exc:
            if not _condition_failed(exc):
                raise StoreUnavailable(f"UpdateItem failed: {_error_code(exc)}") from exc

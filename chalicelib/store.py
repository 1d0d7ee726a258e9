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
from .tables import event_key

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


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- events -----------------------------------------------------------------------------------

class EventStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """Which event keys are stored already (strongly consistent, 100 keys per call).

        Raises StoreUnavailable when DynamoDB cannot say: the caller must not guess.
        """
        found: set[str] = set()
        for chunk in _chunks(sorted(set(keys)), BATCH_GET_LIMIT):
            request = {self._table: {"Keys": [{"pk": {"S": k}} for k in chunk],
                                     "ProjectionExpression": "pk", "ConsistentRead": True}}
            for attempt in range(self._backoff.attempts):
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    if not _retryable(exc) or attempt == self._backoff.attempts - 1:
                        raise StoreUnavailable(f"BatchGetItem failed: {exc}") from exc
                    self._backoff.pause(attempt)
                    continue
                found.update(i["pk"]["S"] for i in response.get("Responses", {}).get(self._table, []))
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
        response = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": event_key(site, event_id)}}, ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None


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

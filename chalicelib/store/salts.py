"""Daily salts for the cookieless visitor id, kept beside the events."""

from __future__ import annotations

import calendar
import secrets
from datetime import date, timedelta

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.store.base import Backoff, call, error_code

SALT_PREFIX = "salt#"
SALT_BYTES = 16


class SaltStore:
    """Random per-day salts, created once by whichever request comes first, kept two days.

    Salts are random (not derived from a secret) so that once TTL removes one, nobody can recompute
    the visitor hashes of its day: the same promise Plausible makes.
    """

    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()
        self._cache: dict[date, tuple[bytes, bytes | None]] = {}

    def salts_for(self, day: date) -> tuple[bytes, bytes | None]:
        """(today's salt, yesterday's salt or None). Costs DynamoDB requests once per day per process."""
        if day not in self._cache:
            try:
                self._cache = {day: self._load(day)}
            except ClientError as exc:  # not retryable: access, missing table
                raise StoreUnavailable(f"could not read the daily salt: {error_code(exc)}") from exc
        return self._cache[day]

    def _load(self, day: date) -> tuple[bytes, bytes | None]:
        yesterday = day - timedelta(days=1)
        keys = [{"pk": {"S": SALT_PREFIX + d.isoformat()}} for d in (day, yesterday)]
        response = call(self._backoff, self._client.batch_get_item,
                        RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
        found = {i["pk"]["S"]: i["salt"]["B"] for i in response.get("Responses", {}).get(self._table, [])}
        today = found.get(SALT_PREFIX + day.isoformat()) or self._create(day)
        return today, found.get(SALT_PREFIX + yesterday.isoformat())

    def _create(self, day: date) -> bytes:
        key = SALT_PREFIX + day.isoformat()
        # Deleted two days after its day ends; TTL may take a little longer to act.
        expires_at_s = calendar.timegm((day + timedelta(days=3)).timetuple())
        salt = secrets.token_bytes(SALT_BYTES)
        try:
            call(
                self._backoff, self._client.put_item, TableName=self._table,
                Item={"pk": {"S": key}, "salt": {"B": salt}, "expires_at_s": {"N": str(expires_at_s)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return salt
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
        # Another process created it first: use theirs so every process agrees.
        item = call(self._backoff, self._client.get_item, TableName=self._table, Key={"pk": {"S": key}},
                    ConsistentRead=True)
        return item["Item"]["salt"]["B"]

"""Leases on lake partitions (lake/leases.py) as items of the statistics table: `pk`
"<site>#lake-lease", `sk` the partition's date, `holder` and `held_until_ms`. Taking one is one
conditional PutItem (free, or lapsed); giving it back one conditional DeleteItem (still ours).
TTL removes lapsed leases nobody gave back."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.store.base import Backoff, call, condition_failed, error_code

LEASE_KEY_SUFFIX = "#lake-lease"


def _key(name: str) -> dict:
    site, date = name.split("/", 1)
    return {"pk": {"S": site + LEASE_KEY_SUFFIX}, "sk": {"S": date}}


class LeaseStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def acquire(self, name: str, holder: str, now_ms: int, hold_ms: int) -> bool:
        held_until_ms = now_ms + hold_ms
        try:
            call(self._backoff, self._client.put_item, TableName=self._table, Item={
                **_key(name), "holder": {"S": holder}, "held_until_ms": {"N": str(held_until_ms)},
                "expires_at_s": {"N": str(held_until_ms // 1000 + 3600)}},
                ConditionExpression="attribute_not_exists(pk) OR held_until_ms < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":me": {"S": holder}})
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise StoreUnavailable(f"lake lease {name}: {error_code(exc)}") from exc
        return True

    def release(self, name: str, holder: str) -> None:
        try:
            call(self._backoff, self._client.delete_item, TableName=self._table, Key=_key(name),
                 ConditionExpression="holder = :me", ExpressionAttributeValues={":me": {"S": holder}})
        except ClientError as exc:
            if not condition_failed(exc):  # lapsed and taken by another: theirs now
                raise StoreUnavailable(f"lake lease {name}: {error_code(exc)}") from exc

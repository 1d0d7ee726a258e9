"""The Access table: API keys and shared links (chalicelib/access/) as items keyed "<kind>#<id>".
Requests read one credential (strongly consistent GetItem) and may set its last use (conditional
UpdateItem); creating, listing (Scan) and revoking are the operator's CLI's, with its own AWS rights."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.store.base import Backoff, call, condition_failed, error_code, from_item, to_item


def _key(kind: str, credential_id: str) -> dict:
    return {"pk": {"S": f"{kind}#{credential_id}"}}


def _record(item: dict) -> dict:
    record = from_item(item)
    record["kind"], record["id"] = record.pop("pk").split("#", 1)
    return record


class AccessStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def get(self, kind: str, credential_id: str) -> dict | None:
        """The credential as stored now: strongly consistent, so a revocation counts from the next request."""
        try:
            response = call(self._backoff, self._client.get_item, TableName=self._table,
                            Key=_key(kind, credential_id), ConsistentRead=True)
        except ClientError as exc:  # not retryable: access denied, a missing table
            raise StoreUnavailable(f"could not read the credential: {error_code(exc)}") from exc
        item = response.get("Item")
        return _record(item) if item else None

    def touch(self, kind: str, credential_id: str, now_ms: int, stale_before_ms: int) -> bool:
        """Sets last_used_at_ms to now unless another request set it after stale_before_ms (the condition
        makes concurrent requests write once); False when it was fresh, revoked or gone."""
        try:
            call(self._backoff, self._client.update_item, TableName=self._table, Key=_key(kind, credential_id),
                 UpdateExpression="SET last_used_at_ms = :now",
                 ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at_ms) AND "
                                     "(attribute_not_exists(last_used_at_ms) OR last_used_at_ms <= :stale)",
                 ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":stale": {"N": str(stale_before_ms)}})
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise StoreUnavailable(f"could not note the credential's use: {error_code(exc)}") from exc
        return True

    # --- the operator's CLI (scripts/access.py) ---

    def create(self, record: dict) -> None:
        """A new credential; its random id must not exist yet (a clash raises, never overwrites)."""
        fields = {k: v for k, v in record.items() if k not in ("kind", "id")}
        item = {**_key(record["kind"], record["id"]), **to_item(fields)}
        call(self._backoff, self._client.put_item, TableName=self._table, Item=item,
             ConditionExpression="attribute_not_exists(pk)")

    def revoke(self, kind: str, credential_id: str, now_ms: int) -> dict | None:
        """Marks the credential revoked (kept for the record); None if there is no such credential."""
        try:
            response = call(self._backoff, self._client.update_item, TableName=self._table,
                            Key=_key(kind, credential_id),
                            UpdateExpression="SET revoked_at_ms = if_not_exists(revoked_at_ms, :now)",
                            ConditionExpression="attribute_exists(pk)",
                            ExpressionAttributeValues={":now": {"N": str(now_ms)}}, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return _record(response["Attributes"])

    def all(self) -> list[dict]:
        records, start = [], None
        while True:
            page = call(self._backoff, self._client.scan, TableName=self._table, ConsistentRead=True,
                        **({"ExclusiveStartKey": start} if start else {}))
            records.extend(_record(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return records

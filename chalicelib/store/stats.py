"""Statistics buckets: ADD updates of minute buckets, and reading buckets by key range."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..errors import StoreUnavailable
from .base import Backoff, call, condition_failed, error_code, from_item, to_item

MAX_ATTRIBUTES_PER_UPDATE = 250  # "ADD #a0 :v0, ..." stays under the 4 KB expression limit


class StatsStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()
        self.items_read = 0  # for cost measurements

    def add(self, pk: str, sk: str, counters: dict[str, int], members: set[bytes], expires_at_s: int) -> None:
        """Adds counters and visitor-set members to one bucket: server-side ADD, so concurrent
        requests never lose an increment and need no read."""
        items = [(name, count) for name, count in counters.items() if count]
        for batch_start in range(0, max(len(items), 1), MAX_ATTRIBUTES_PER_UPDATE):
            names, values, parts = {}, {":ttl": {"N": str(expires_at_s)}}, []
            for i, (name, count) in enumerate(items[batch_start:batch_start + MAX_ATTRIBUTES_PER_UPDATE]):
                names[f"#a{i}"], values[f":v{i}"] = name, {"N": str(count)}
                parts.append(f"#a{i} :v{i}")
            if members and batch_start == 0:
                names["#visitors"], values[":visitors"] = "visitors", {"BS": sorted(members)}
                parts.append("#visitors :visitors")
            if not parts:
                return
            try:
                call(self._backoff, self._client.update_item, TableName=self._table,
                     Key={"pk": {"S": pk}, "sk": {"S": sk}},
                     UpdateExpression="ADD " + ", ".join(parts) + " SET expires_at_s = :ttl",
                     ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            except ClientError as exc:
                # A bucket that reached DynamoDB's 400 KB item limit (a flood of distinct values)
                # refuses further updates: the statistics are lost, never the events behind them.
                raise StoreUnavailable(f"statistics bucket {pk} {sk} refused the update: {error_code(exc)}") from exc

    def buckets(self, pk: str, first_sk: str, last_sk: str) -> list[dict]:
        """Every bucket of one key whose sort key lies in [first_sk, last_sk]."""
        found, kwargs = [], {}
        while True:
            response = call(self._backoff, self._client.query, TableName=self._table,
                            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                            ExpressionAttributeValues={":pk": {"S": pk}, ":first": {"S": first_sk},
                                                       ":last": {"S": last_sk}}, **kwargs)
            self.items_read += response.get("Count", 0)
            found.extend(from_item(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            kwargs = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def put(self, record: dict) -> None:
        call(self._backoff, self._client.put_item, TableName=self._table, Item=to_item(record))

    def mark(self, pk: str, sk: str, expires_at_s: int) -> None:
        """A small marker item (the rollup job's to-do list for late data)."""
        call(self._backoff, self._client.update_item, TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
             UpdateExpression="ADD version :one SET expires_at_s = :ttl",
             ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(expires_at_s)}})

    def unmark(self, pk: str, sk: str, version: int) -> None:
        """Removes a marker unless it was set again meanwhile (then the job sees it next run)."""
        try:
            call(self._backoff, self._client.delete_item, TableName=self._table,
                 Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConditionExpression="version = :v",
                 ExpressionAttributeValues={":v": {"N": str(version)}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise StoreUnavailable(f"DeleteItem failed: {error_code(exc)}") from exc

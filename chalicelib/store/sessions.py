"""Sessions: the visitor's newest session, sessions committed with their events, the expiry index."""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.schema.tables import ACTIVE_SESSIONS, SESSIONS_BY_ID
from chalicelib.store.base import Backoff, call, condition_failed, error_code, from_item, to_item

CLAIM = "claim"  # on an event: the token of the transaction that stored it


@dataclass
class Commit:
    """How a transaction of sessions and events ended."""

    done: bool = False
    duplicates: dict[str, str | None] = field(default_factory=dict)  # event key -> its stored session id
    unstorable: dict[str, str] = field(default_factory=dict)  # event key -> DynamoDB's reason
    invalid: str = ""  # DynamoDB refused the whole request as invalid, naming no item


class SessionStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None, events_table: str = "") -> None:
        self._client = client
        self._table = table_name
        self._events_table = events_table
        self._backoff = backoff or Backoff()

    def commit(self, sessions: list[tuple[dict, int | None]], events: list[dict], claim: str) -> Commit:
        """One transaction: each session written if unchanged since read (version) or new, each
        event written if its key is new. `claim` is the ClientRequestToken and is kept on the events,
        so a resend of a transaction whose answer was lost is recognised as done, never repeated."""
        actions = [{"Put": {"TableName": self._table, "Item": to_item(record), **_version_condition(expected)}}
                   for record, expected in sessions]
        actions += [{"Put": {"TableName": self._events_table, "Item": to_item({**record, CLAIM: claim}),
                             "ConditionExpression": "attribute_not_exists(pk)",
                             "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}} for record in events]
        try:
            call(self._backoff, self._client.transact_write_items, TransactItems=actions, ClientRequestToken=claim)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ValidationException":
                return Commit(invalid=exc.response.get("Error", {}).get("Message", code))
            if code != "TransactionCanceledException":
                raise StoreUnavailable(f"TransactWriteItems failed: {code}") from exc
            return _refused(exc.response.get("CancellationReasons", []), len(sessions), events, claim)
        return Commit(done=True)

    def latest(self, visitor_pk: str) -> dict | None:
        """The visitor's newest session (one strongly consistent item read)."""
        response = call(self._backoff, self._client.query, TableName=self._table,
                         KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": visitor_pk}},
                         ScanIndexForward=False, Limit=1, ConsistentRead=True)
        items = response.get("Items", [])
        return from_item(items[0]) if items else None

    def get(self, session_id: str) -> dict | None:
        response = call(self._backoff, self._client.query, TableName=self._table, IndexName=SESSIONS_BY_ID.name,
                         KeyConditionExpression="session_id = :s", ExpressionAttributeValues={":s": {"S": session_id}},
                         Limit=1)
        if not response.get("Items"):
            return None
        key = {k: response["Items"][0][k] for k in ("pk", "sk")}
        item = call(self._backoff, self._client.get_item, TableName=self._table, Key=key, ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None

    def of_visitor(self, visitor_pk: str, limit: int, after_sk: str | None) -> tuple[list[dict], str | None]:
        """A visitor's sessions, newest first, a page at a time; the cursor is the last sort key."""
        kwargs = {"ExclusiveStartKey": {"pk": {"S": visitor_pk}, "sk": {"S": after_sk}}} if after_sk else {}
        response = call(self._backoff, self._client.query, TableName=self._table,
                         KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": visitor_pk}},
                         ScanIndexForward=False, Limit=limit, **kwargs)
        last = response.get("LastEvaluatedKey")
        return [from_item(i) for i in response.get("Items", [])], last["sk"]["S"] if last else None

    # --- expiry ---

    def due(self, shard: int, now_ms: int, limit: int, start_key: dict | None) -> tuple[list[dict], dict | None]:
        """Keys of active sessions in one shard whose expiry check is due (index items only)."""
        kwargs = {"ExclusiveStartKey": start_key} if start_key else {}
        response = call(self._backoff, self._client.query, TableName=self._table, IndexName=ACTIVE_SESSIONS.name,
                         KeyConditionExpression="active_shard = :shard AND expiry_check_ms <= :now",
                         ExpressionAttributeValues={":shard": {"S": str(shard)}, ":now": {"N": str(now_ms)}},
                         Limit=limit, **kwargs)
        keys = [{"pk": i["pk"]["S"], "sk": i["sk"]["S"]} for i in response.get("Items", [])]
        return keys, response.get("LastEvaluatedKey")

    def count_due(self, shard: int, now_ms: int) -> int:
        total, kwargs = 0, {}
        while True:
            response = call(self._backoff, self._client.query, TableName=self._table,
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
            response = call(
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
            if not condition_failed(exc):
                raise StoreUnavailable(f"UpdateItem failed: {error_code(exc)}") from exc
            old = exc.response.get("Item")
            if not old or old.get("status", {}).get("S") != "active":
                return "gone", None
            return "busy", from_item(old)
        return "ended", from_item(response["Attributes"])

    def reschedule(self, key: dict, expiry_check_ms: int) -> None:
        """Moves a still-active session's next expiry check (no-op if it ended meanwhile)."""
        try:
            call(self._backoff, self._client.update_item, TableName=self._table,
                  Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}},
                  UpdateExpression="SET expiry_check_ms = :check", ConditionExpression="#status = :active",
                  ExpressionAttributeNames={"#status": "status"},
                  ExpressionAttributeValues={":check": {"N": str(expiry_check_ms)}, ":active": {"S": "active"}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise StoreUnavailable(f"UpdateItem failed: {error_code(exc)}") from exc


def _version_condition(expected_version: int | None) -> dict:
    if expected_version is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {"ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}}}


def _refused(reasons: list[dict], sessions: int, events: list[dict], claim: str) -> Commit:
    """Reads a cancelled transaction's reasons (one per action, in order)."""
    commit = Commit()
    for reason, event in zip(reasons[sessions:], events, strict=False):
        code = reason.get("Code") or "None"
        if code == "ConditionalCheckFailed":
            old = reason.get("Item") or {}
            if old.get(CLAIM, {}).get("S") == claim:
                return Commit(done=True)  # an earlier send of this very transaction landed
            commit.duplicates[event["pk"]] = old.get("session_id", {}).get("S")
        elif code == "ValidationError":
            commit.unstorable[event["pk"]] = reason.get("Message") or code
    return commit  # session conflicts, transaction conflicts, throttling: plan again

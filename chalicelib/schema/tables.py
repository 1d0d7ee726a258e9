"""DynamoDB table definitions: the one place that says what each table's keys, indexes and TTL are.

The store reads names from here, the local stack creates its tables from here, and the Terraform
modules are generated from `python -m chalicelib.schema.tables` so they cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

APP_NAME = "LiveInsight"
PRODUCTION_STAGE = "prod"
STRING, NUMBER = "S", "N"


def name_prefix(stage: str) -> str:
    """Every AWS resource name starts with this. Production keeps the operations guide's names
    (LiveInsight-Events, LiveInsight-Lambda-Role); other stages sit beside it in the same account
    without clashing (LiveInsight-dev-Events). Terraform receives it as `name_prefix`."""
    return f"{APP_NAME}-" if stage == PRODUCTION_STAGE else f"{APP_NAME}-{stage}-"


def resource_name(stage: str, base: str) -> str:
    return name_prefix(stage) + base


@dataclass(frozen=True)
class Key:
    attribute: str
    type: str = STRING


@dataclass(frozen=True)
class Index:
    """A global secondary index. KEYS_ONLY everywhere: an index write then happens only when its
    key attributes change, never on ordinary updates of the item."""

    name: str
    hash_key: Key
    range_key: Key | None = None

    def keys(self) -> list[Key]:
        return [k for k in (self.hash_key, self.range_key) if k]


@dataclass(frozen=True)
class TableSpec:
    base_name: str
    hash_key: Key
    range_key: Key | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = ()
    stream_view_type: str | None = None  # a DynamoDB stream of the table's changes (NEW_IMAGE, ...)

    def name(self, stage: str) -> str:
        return resource_name(stage, self.base_name)

    def keys(self) -> list[Key]:
        return [k for k in (self.hash_key, self.range_key) if k]

    def attribute_types(self) -> dict[str, str]:
        types: dict[str, str] = {}
        for key in self.keys() + [k for index in self.indexes for k in index.keys()]:
            types[key.attribute] = key.type
        return types

    def create_table_request(self, stage: str) -> dict:
        """Arguments for DynamoDB CreateTable (used by the local stack and the tests)."""

        def schema(hash_key: Key, range_key: Key | None) -> list[dict]:
            keys = [{"AttributeName": hash_key.attribute, "KeyType": "HASH"}]
            if range_key:
                keys.append({"AttributeName": range_key.attribute, "KeyType": "RANGE"})
            return keys

        request = {
            "TableName": self.name(stage),
            "KeySchema": schema(self.hash_key, self.range_key),
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind} for name, kind in self.attribute_types().items()
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream_view_type:
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view_type}
        if self.indexes:
            request["GlobalSecondaryIndexes"] = [
                {"IndexName": i.name, "KeySchema": schema(i.hash_key, i.range_key),
                 "Projection": {"ProjectionType": "KEYS_ONLY"}}
                for i in self.indexes
            ]
        return request

    def describe(self) -> dict:
        """A plain description for Terraform and documentation."""
        return {
            "base_name": self.base_name,
            "hash_key": self.hash_key.attribute,
            "range_key": self.range_key.attribute if self.range_key else None,
            "attributes": self.attribute_types(),
            "ttl_attribute": self.ttl_attribute,
            "stream_view_type": self.stream_view_type,
            "indexes": [
                {"name": i.name, "hash_key": i.hash_key.attribute,
                 "range_key": i.range_key.attribute if i.range_key else None, "projection": "KEYS_ONLY"}
                for i in self.indexes
            ],
        }


# Raw events. `pk` is "<site>#<event_id>": the event id is the de-duplication identity, scoped to
# its site so one site's client cannot suppress another's events. The same table holds the daily
# visitor-hash salts under "salt#<YYYY-MM-DD>" (event ids are UUIDs, so the prefixes cannot meet);
# TTL removes events after the retention period and salts two days after their day.
# No index: a session lists its events itself (sessions.py, `event_ids`), which saves an index
# write, a write unit, on every event.
# Its stream (new images only: an event is written once) feeds the event lake (lake/writer.py).
EVENTS = TableSpec(base_name="Events", hash_key=Key("pk"), ttl_attribute="expires_at_s", stream_view_type="NEW_IMAGE")

# Sessions. `pk` is "<site>#<visitor_id>", `sk` orders a visitor's sessions by creation, so the
# newest is one Query away and concurrent requests that start a visitor's next session collide on
# the same key (exactly one wins). `active_by_expiry` is sparse: only active sessions carry
# `active_shard`, so the expiry job reads just the sessions that are due, spread over shards.
SESSIONS_BY_ID = Index("by_session_id", Key("session_id"))
ACTIVE_SESSIONS = Index("active_by_expiry", Key("active_shard"), Key("expiry_check_ms", NUMBER))
SESSIONS = TableSpec(
    base_name="Sessions", hash_key=Key("pk"), range_key=Key("sk"), ttl_attribute="expires_at_s",
    indexes=(SESSIONS_BY_ID, ACTIVE_SESSIONS),
)

# Statistics buckets (see stats.py): `pk` is "<site>#m#<shard>" for sharded minute buckets,
# "<site>#h" / "<site>#d" for hour and day buckets, "<site>#dirty" for the rollup job's markers,
# "<site>#limit" for the per-site limit's counter of events per minute (ratelimit.py);
# `sk` is the bucket's start in UTC (2026-11-26T12:05, 2026-11-26T12, 2026-11-26), so a time range
# is one Query per key.
STATS = TableSpec(base_name="Stats", hash_key=Key("pk"), range_key=Key("sk"), ttl_attribute="expires_at_s")

# Credentials of the read API (chalicelib/access/, docs/access.md): `pk` is "key#<id>" for an API key,
# "link#<id>" for a shared link; only a SHA-256 of each secret is stored. A request reads its one
# credential by key (strongly consistent GetItem) and may set its last use; only the operator's CLI
# lists them (Scan of a table of a few items). No TTL: a revoked credential stays, marked, for the record.
ACCESS = TableSpec(base_name="Access", hash_key=Key("pk"))

TABLES: tuple[TableSpec, ...] = (EVENTS, SESSIONS, STATS, ACCESS)


def event_key(site: str, event_id: str) -> str:
    """The Events table's partition key of one event."""
    return f"{site}#{event_id}"


def visitor_key(site: str, visitor_id: str) -> str:
    """The Sessions table's partition key: one visitor of one site."""
    return f"{site}#{visitor_id}"


# A minute statistics bucket whose item is full continues in further items of the same minute:
# sort keys `<minute>`, `<minute>#1`, `<minute>#2`, ... (store/stats.py); readers take them all.
SPILL_SEPARATOR = "#"
# On a minute's first item, once the minute has continued: the index of its newest item, so a process new
# to the minute goes there at once instead of trying each full item in turn (each refusal is billed).
SPILL_NEWEST = "newest_item"


def spill_key(label: str, index: int) -> str:
    return label if index == 0 else f"{label}{SPILL_SEPARATOR}{index}"


def spill_index(sk: str) -> int:
    """Which of its minute's items a stored statistics item is (0: the first)."""
    return int(sk.split(SPILL_SEPARATOR, 1)[1]) if SPILL_SEPARATOR in sk else 0


def spill_label(sk: str) -> str:
    """The bucket a stored statistics item belongs to, whichever of its items it is."""
    return sk.split(SPILL_SEPARATOR, 1)[0]


def spill_last(label: str) -> str:
    """A sort key above every item of the bucket `label`, for range queries."""
    return label + SPILL_SEPARATOR + "~"


def create_tables(client, stage: str) -> list[str]:
    """Create every table (and its TTL) for a stage on an endpoint such as the local emulator."""
    created = []
    for spec in TABLES:
        client.create_table(**spec.create_table_request(stage))
        if spec.ttl_attribute:
            client.update_time_to_live(
                TableName=spec.name(stage),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        created.append(spec.name(stage))
    return created


if __name__ == "__main__":
    json.dump({spec.base_name: spec.describe() for spec in TABLES}, sys.stdout, indent=2)
    sys.stdout.write("\n")

"""DynamoDB table definitions: the one place that says what each table's keys, indexes and TTL are.

The store reads names from here, the local stack creates its tables from here, and the Terraform
modules are generated from `python -m chalicelib.tables` so they cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

APP_NAME = "LiveInsight"
PRODUCTION_STAGE = "prod"


@dataclass(frozen=True)
class TableSpec:
    """One table: key attributes are strings; on-demand billing unless Terraform says otherwise."""

    base_name: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None

    def name(self, stage: str) -> str:
        # Production keeps the operations guide's names (LiveInsight-Events); other stages sit
        # beside it in the same account without clashing (LiveInsight-dev-Events).
        if stage == PRODUCTION_STAGE:
            return f"{APP_NAME}-{self.base_name}"
        return f"{APP_NAME}-{stage}-{self.base_name}"

    def key_attributes(self) -> list[str]:
        return [a for a in (self.partition_key, self.sort_key) if a]

    def create_table_request(self, stage: str) -> dict:
        """Arguments for DynamoDB CreateTable (used by the local stack and the tests)."""
        key_schema = [{"AttributeName": self.partition_key, "KeyType": "HASH"}]
        if self.sort_key:
            key_schema.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        return {
            "TableName": self.name(stage),
            "KeySchema": key_schema,
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": "S"} for a in self.key_attributes()
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }

    def describe(self) -> dict:
        """A plain description for Terraform and documentation."""
        return {
            "base_name": self.base_name,
            "hash_key": self.partition_key,
            "range_key": self.sort_key,
            "ttl_attribute": self.ttl_attribute,
        }


# Raw events. `pk` is "<site>#<event_id>": the event id is the de-duplication identity, scoped to
# its site so one site's client cannot suppress another's events. The same table holds the daily
# visitor-hash salts under "salt#<YYYY-MM-DD>" (event ids are UUIDs, so the prefixes cannot meet);
# TTL removes events after the retention period and salts two days after their day.
EVENTS = TableSpec(base_name="Events", partition_key="pk", ttl_attribute="expires_at_s")



def event_key(site: str, event_id: str) -> str:
    """The Events table's partition key of one event."""
    return f"{site}#{event_id}"


TABLES: tuple[TableSpec, ...] = (EVENTS,)


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

"""DynamoDB capacity from real item sizes, as DynamoDB bills it (moto's ConsumedCapacity does not
follow item size). A write costs 1 unit per KB of the item written; an update, of the larger of
the item before and after; each index entry a write (or two, when its key changes: delete + put).
A read costs 1 unit per 4 KB (strongly consistent), half that eventually consistent."""

from __future__ import annotations

import math
from collections import Counter

from chalicelib.schema.tables import TABLES


def value_size(value: dict) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    raise ValueError(kind)


def item_size(item: dict | None) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in (item or {}).items())


def write_units(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / 1024))


_INDEX_KEYS = {spec.base_name: [[k.attribute for k in index.keys()] for index in spec.indexes] for spec in TABLES}


def index_writes(base_name: str, old: dict | None, new: dict | None) -> int:
    """Index entries written by changing `old` into `new` (KEYS_ONLY: small, one unit each)."""
    writes = 0
    for keys in _INDEX_KEYS.get(base_name, []):
        before = tuple(str((old or {}).get(k)) for k in keys) if old and all(k in old for k in keys) else None
        after = tuple(str((new or {}).get(k)) for k in keys) if new and all(k in new for k in keys) else None
        if before != after:
            writes += (before is not None) + (after is not None)
    return writes


TRANSACTION_UNITS_PER_KB = 2  # "transactional write requests require 2 write units per 1 KB" (AWS)


class CapacityMeter:
    """Hooks a DynamoDB client; reads items before and after each write with a second client."""

    def __init__(self, client, peek, base_name_of) -> None:
        self.write_units = 0.0
        self.read_units = 0.0
        self.write_units_by_table: Counter[str] = Counter()  # "Events", "Events index", ...
        self.calls: Counter[str] = Counter()
        self._peek = peek  # an unhooked client on the same endpoint
        self._base = base_name_of
        self._pending: list = []
        # before-parameter-build sees the call's own parameters (before-call sees the wire request).
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _get(self, table: str, key: dict) -> dict | None:
        return self._peek.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def _key(self, table: str, item: dict) -> dict:
        spec = self._base(table)
        return {k.attribute: item[k.attribute] for k in spec.keys()}

    def _before(self, model, params, **_):
        self.calls[model.name] += 1
        name = model.name
        if name == "PutItem":
            table = params["TableName"]
            self._pending = [(table, params["Item"], self._get(table, self._key(table, params["Item"])))]
        elif name == "BatchWriteItem":
            puts = [(table, r["PutRequest"]["Item"]) for table, requests in params["RequestItems"].items()
                    for r in requests if "PutRequest" in r]
            self._pending = [(table, item, self._get(table, self._key(table, item))) for table, item in puts]
        elif name == "TransactWriteItems":
            puts = [(a["Put"]["TableName"], a["Put"]["Item"]) for a in params["TransactItems"] if "Put" in a]
            self._pending = [(table, item, self._get(table, self._key(table, item))) for table, item in puts]
        elif name in ("UpdateItem", "DeleteItem"):
            self._pending = [(params["TableName"], params["Key"], self._get(params["TableName"], params["Key"]))]

    def _after(self, model, parsed, **_):
        name = model.name
        if name in ("PutItem", "BatchWriteItem"):
            unprocessed = {id(r) for reqs in parsed.get("UnprocessedItems", {}).values() for r in reqs}
            for table, item, old in self._pending:
                if id(item) not in unprocessed:
                    self._charge(table, old, item)
        elif name == "TransactWriteItems" and "Error" not in parsed:
            for table, item, old in self._pending:  # a transaction bills each item it writes twice
                self._charge(table, old, item, units_per_kb=TRANSACTION_UNITS_PER_KB)
        elif name in ("UpdateItem", "DeleteItem"):
            table, key, old = self._pending[0]
            self._charge(table, old, self._get(table, key) if name == "UpdateItem" else None)
        elif name in ("Query", "GetItem", "BatchGetItem"):
            self._charge_read(name, parsed)
        self._pending = []

    def _charge(self, table: str, old: dict | None, new: dict | None, units_per_kb: int = 1) -> None:
        base = self._base(table).base_name
        # (A failed condition leaves the item as it was and still costs a write of it.)
        item_units = units_per_kb * write_units(max(item_size(old), item_size(new)))
        index_units = 0 if old == new else index_writes(base, old, new)
        self.write_units += item_units + index_units
        self.write_units_by_table[base] += item_units
        self.write_units_by_table[base + " indexes"] += index_units

    def _charge_read(self, name: str, parsed: dict) -> None:
        if name == "Query":
            size = sum(item_size(i) for i in parsed.get("Items", []))
            self.read_units += max(1, math.ceil(size / 4096))
        elif name == "GetItem":
            self.read_units += max(1, math.ceil(item_size(parsed.get("Item")) / 4096))
        else:
            items = [i for items in parsed.get("Responses", {}).values() for i in items]
            self.read_units += sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) or 1

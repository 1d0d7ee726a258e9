"""moto's TransactWriteItems at a cost independent of the table size, for tests, benchmarks and `make local`.

moto (5.x) deep-copies every table a transaction touches before applying it, to roll back on a
cancellation: O(items in the table) per call, 50 ms at 1,000 items, and the collector writes every
request's sessions and events in one transaction. This keeps moto's own transaction code and its
semantics (conditions, cancellation reasons, all-or-nothing) but backs up only the items the
transaction names, and restores exactly those on a cancellation.
"""

from __future__ import annotations

import copy
import threading

_installed = threading.Lock()
_done = False


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models: a table is "copied" as itself
    (the items are backed up one by one instead); anything else is really deep-copied."""

    def __init__(self, table_type) -> None:
        self._table_type = table_type

    def deepcopy(self, value, memo=None):
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table

        original = models.DynamoDBBackend.transact_write_items
        models.copy = _TablesNotCopied(Table)

        def transact_write_items(self, transact_items):
            backups = [_backup(self, action) for action in transact_items]
            try:
                return original(self, transact_items)
            except Exception:
                for backup in reversed(backups):
                    if backup is not None:
                        _restore(self, *backup)
                raise

        models.DynamoDBBackend.transact_write_items = transact_write_items
        _done = True


def _backup(backend, action: dict):
    (_, operation), = action.items() if len(action) == 1 else ((None, None),)
    if not isinstance(operation, dict) or operation.get("TableName") not in backend.tables:
        return None
    table = backend.tables[operation["TableName"]]
    source = operation.get("Key") or operation.get("Item") or {}
    key = {name: source[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in source}
    try:
        item = backend.get_item(operation["TableName"], key)
    except Exception:  # a malformed key: moto's own code refuses the transaction before writing
        return None
    return operation["TableName"], key, copy.deepcopy(item.to_json()["Attributes"]) if item else None


def _restore(backend, table_name: str, key: dict, attributes: dict | None) -> None:
    if attributes is None:
        if backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, attributes)

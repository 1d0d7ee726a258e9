"""One record of the events table's stream (as Lambda delivers it) to one lake row (schema/lake.py).

Pure: no boto3, no DuckDB. Only INSERTs of events become rows; salts, TTL removals (REMOVE) and
updates (MODIFY) are skipped. An event that cannot become a valid row raises PoisonRecord.
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal, InvalidOperation

from chalicelib.core.settings import SITE_ID_PATTERN
from chalicelib.lake.layout import Partition
from chalicelib.schema.lake import COLUMNS, REVENUE_SCALE, STRING

INSERT = "INSERT"
# Items of the events table that are not events (store/salts.py keeps the daily salts there).
NOT_EVENT_PREFIXES = ("salt#",)
ENGAGEMENT = "engagement"
# The columns whose value is copied from the stored event's attribute of the same name.
_COPIED = tuple(c.name for c in COLUMNS if c.type == STRING)
_TIMES = {"time": "time_ms", "received_time": "received_ms"}
_REQUIRED = tuple(c.name for c in COLUMNS if c.required)
# Bounds of the column types, so DuckDB never refuses a row the writer has accepted.
_INT32_MAX, _INT64_MAX = 2**31 - 1, 2**63 - 1
_TIME_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_REVENUE_LIMIT = Decimal(10) ** (18 - REVENUE_SCALE)  # DECIMAL(18,4)
_REVENUE_QUANTUM = Decimal(1).scaleb(-REVENUE_SCALE)


class PoisonRecord(ValueError):
    """An event that cannot be made a row: it goes to the dead-letter prefix, never blocks the stream."""


def sequence_number(record: dict) -> str:
    return record["dynamodb"]["SequenceNumber"]


def stream_row(record: dict) -> tuple[Partition, dict] | None:
    """The partition and row of one stream record; None for records that are not new events."""
    if record.get("eventName") != INSERT:
        return None  # MODIFY (events are written once) and REMOVE (TTL, erasure) are not new events
    image = (record.get("dynamodb") or {}).get("NewImage")
    if not isinstance(image, dict):
        raise PoisonRecord("INSERT without a NewImage (is the stream's view type NEW_IMAGE?)")
    pk = image.get("pk", {}).get("S", "")
    if pk.startswith(NOT_EVENT_PREFIXES):
        return None
    try:
        stored = {name: from_attribute(value) for name, value in image.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PoisonRecord(f"not DynamoDB JSON: {exc}") from None
    return event_row(stored)


def event_row(stored: dict) -> tuple[Partition, dict]:
    """A stored event (enrich.record.event_record + session_id) as a lake row."""
    site = stored.get("site")
    if not isinstance(site, str) or not SITE_ID_PATTERN.match(site):
        raise PoisonRecord("site is missing or not a site id")
    row: dict = {}
    for name in _COPIED:
        value = stored.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise PoisonRecord(f"{name} is {type(value).__name__}, not text")
            row[name] = value
    for column, attribute in _TIMES.items():
        value = stored.get(attribute)
        if value is not None:
            row[column] = _time_ms(attribute, value)
    _add_properties(row, stored.get("properties"))
    if stored.get("event_type") == ENGAGEMENT:
        _add_engagement(row, stored.get("properties") or {})
    _add_revenue(row, stored.get("revenue"))
    missing = [name for name in _REQUIRED if name not in row]
    if missing:
        raise PoisonRecord(f"missing {', '.join(missing)}")
    return Partition.of(site, row["time"]), row


def _time_ms(attribute: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _TIME_MAX_MS:
        raise PoisonRecord(f"{attribute} is not epoch milliseconds")
    return value


def property_text(value) -> str:
    """A property value as the lake keeps it: text as sent, true/false, numbers as JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    raise PoisonRecord(f"a property value is {type(value).__name__} (properties are flat)")


def _add_properties(row: dict, properties) -> None:
    if properties is None:
        return
    if not isinstance(properties, dict):
        raise PoisonRecord("properties is not a map")
    # A property sent as null says "no value": the map of strings leaves it out.
    texts = {key: property_text(value) for key, value in properties.items() if value is not None}
    if texts:
        row["properties"] = texts


def _number(value) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


def _add_engagement(row: dict, properties: dict) -> None:
    """The SDK's engagement event carries engaged_ms and scroll_pct: numeric ones become columns."""
    engaged_ms, scroll_pct = _number(properties.get("engaged_ms")), _number(properties.get("scroll_pct"))
    if engaged_ms is not None and 0 <= round(engaged_ms) <= _INT64_MAX:
        row["engaged_ms"] = round(engaged_ms)
    if scroll_pct is not None and 0 <= round(scroll_pct) <= _INT32_MAX:
        row["scroll_pct"] = round(scroll_pct)


def _add_revenue(row: dict, revenue) -> None:
    if revenue is None:
        return
    if not isinstance(revenue, dict) or not isinstance(revenue.get("currency"), str):
        raise PoisonRecord("revenue is not {amount, currency}")
    amount = revenue.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise PoisonRecord("revenue.amount is not a number")
    try:
        value = Decimal(str(amount)).quantize(_REVENUE_QUANTUM)
    except InvalidOperation:
        raise PoisonRecord("revenue.amount is not a number") from None
    if not value.is_finite() or abs(value) >= _REVENUE_LIMIT:
        raise PoisonRecord(f"revenue.amount is outside DECIMAL(18,{REVENUE_SCALE})")
    row["revenue_amount"] = format(value, "f")
    row["revenue_currency"] = revenue["currency"]


def from_attribute(attribute: dict):
    """DynamoDB JSON (as the Lambda event spells it) to Python, as store.base.from_attribute reads
    items: numbers to int when integral text, else float; binaries stay base64 text."""
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return _from_number(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "B":
        base64.b64decode(value, validate=True)
        return value
    if kind in ("SS", "BS"):
        return list(value)
    if kind == "NS":
        return [_from_number(v) for v in value]
    raise ValueError(f"unknown attribute type {kind!r}")


def _from_number(text: str) -> int | float:
    if not isinstance(text, str):
        raise TypeError("a number is not text")
    return int(text) if text.lstrip("-").isdigit() else float(text)

"""Whether DynamoDB can store an item, decided before anything of the request is written.

The record is serialised exactly as the store sends it (`to_item`) and held to DynamoDB's rules
(Developer Guide: "Naming rules and data types", "Item sizes and formats"), with the size counted
the way DynamoDB counts it. An item refused here would otherwise fail after its session and its
statistics had already counted it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from chalicelib.schema.tables import NUMBER, Key, TableSpec
from chalicelib.store.base import to_item

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_ATTRIBUTE_NAME_BYTES = 65_535
MAX_NESTING_LEVELS = 32
MAX_NUMBER_DIGITS = 38
MIN_NUMBER_MAGNITUDE = Decimal("1E-130")
MAX_NUMBER_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999E+125")
# "An attribute of type List or Map requires 3 bytes of overhead ... each element 1 byte more";
# a number takes about 1 byte per two significant digits plus 1 (we add 1 for a minus: up to 21).
CONTAINER_OVERHEAD_BYTES = 3
ELEMENT_OVERHEAD_BYTES = 1
SCALAR_BYTES = 1  # a Boolean or a null


class Unstorable(ValueError):
    """DynamoDB would refuse the item; `attribute` names the attribute (a path: `properties.plan`)."""

    def __init__(self, attribute: str, reason: str) -> None:
        super().__init__(f"{attribute}: {reason}")
        self.attribute = attribute
        self.reason = reason


def check_record(record: dict, table: TableSpec) -> int:
    """The record's size in bytes as DynamoDB counts it, once serialised as the store does;
    raises Unstorable naming the first attribute DynamoDB would refuse."""
    try:
        item = to_item(record)
    except TypeError as exc:
        raise Unstorable("item", str(exc)) from None
    return check_item(item, table)


def check_item(item: dict, table: TableSpec | None = None) -> int:
    """Checks an item in DynamoDB's JSON form (`{"name": {"S": "..."}}`); returns its size in bytes."""
    size = sum(_name_bytes(name, name) + _value_bytes(value, name, 1) for name, value in item.items())
    if table is not None:
        _check_keys(item, table)
    if size > MAX_ITEM_BYTES:
        raise Unstorable("item", f"is {size} bytes; DynamoDB stores items of at most {MAX_ITEM_BYTES} bytes")
    return size


def _check_keys(item: dict, table: TableSpec) -> None:
    # An index's key, where an item has it, follows the same rules as the table's (which it must have).
    for hash_key, range_key in [(table.hash_key, table.range_key), *((i.hash_key, i.range_key) for i in table.indexes)]:
        for key, limit_bytes in ((hash_key, MAX_PARTITION_KEY_BYTES), (range_key, MAX_SORT_KEY_BYTES)):
            if key is not None and key.attribute in item:
                _check_key(key, item[key.attribute], limit_bytes)
    for key in table.keys():
        if key.attribute not in item:
            raise Unstorable(key.attribute, "is part of the table's key and missing")


def _check_key(key: Key, value: dict, limit_bytes: int) -> None:
    (kind, raw), = value.items()
    if kind != key.type:
        raise Unstorable(key.attribute, f"is a key of type {key.type}, not {kind}")
    if kind == NUMBER:
        return
    length = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if not 1 <= length <= limit_bytes:
        raise Unstorable(key.attribute, f"is a key of {length} bytes; DynamoDB needs 1 to {limit_bytes}")


def _name_bytes(name: str, path: str) -> int:
    size = _utf8_bytes(name, path)
    if not 1 <= size <= MAX_ATTRIBUTE_NAME_BYTES:
        raise Unstorable(path, f"an attribute name is {size} bytes; DynamoDB needs 1 to {MAX_ATTRIBUTE_NAME_BYTES}")
    return size


def _utf8_bytes(text: str, path: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 exists for it
        raise Unstorable(path, f"holds U+{ord(text[exc.start]):04X}, which has no UTF-8 form") from None


def _value_bytes(attribute: dict, path: str, depth: int) -> int:
    if not isinstance(attribute, dict) or len(attribute) != 1:
        raise Unstorable(path, "is not one typed DynamoDB value")
    (kind, value), = attribute.items()
    if kind == "S":
        return _utf8_bytes(value, path)
    if kind == "N":
        return number_bytes(value, path)
    if kind == "B":
        return len(value)
    if kind in ("BOOL", "NULL"):
        return SCALAR_BYTES
    if kind in ("M", "L"):
        return _container_bytes(kind, value, path, depth)
    if kind in ("SS", "NS", "BS"):
        return _set_bytes(kind, value, path)
    raise Unstorable(path, f"has no DynamoDB type {kind!r}")


def _container_bytes(kind: str, value, path: str, depth: int) -> int:
    if depth >= MAX_NESTING_LEVELS:
        raise Unstorable(path, f"nests deeper than DynamoDB's {MAX_NESTING_LEVELS} levels")
    if kind == "M":
        elements = [(_name_bytes(name, f"{path}.{name}"), v, f"{path}.{name}") for name, v in value.items()]
    else:
        elements = [(0, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return CONTAINER_OVERHEAD_BYTES + sum(
        ELEMENT_OVERHEAD_BYTES + name_size + _value_bytes(v, element_path, depth + 1)
        for name_size, v, element_path in elements)


def _set_bytes(kind: str, members: list, path: str) -> int:
    if not members:
        raise Unstorable(path, "is an empty set, which DynamoDB does not store")
    if len(set(members)) != len(members):
        raise Unstorable(path, "is a set with repeated members")
    scalar = kind[0]
    return sum(_value_bytes({scalar: member}, path, 1) for member in members)


def number_bytes(text: str, path: str = "number") -> int:
    """A DynamoDB number's size; Unstorable if it has more than 38 significant digits or lies
    outside 1E-130..9.9999999999999999999999999999999999999E+125 in magnitude (0 aside)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Unstorable(path, f"{text[:40]!r} is not a number") from None
    if not number.is_finite():
        raise Unstorable(path, f"{text[:40]!r} is not a finite number")
    if number.is_zero():
        return 1
    if not MIN_NUMBER_MAGNITUDE <= number.copy_abs() <= MAX_NUMBER_MAGNITUDE:  # abs() would round to 28 digits
        raise Unstorable(path, "is outside DynamoDB's range (1E-130 to 9.99E+125 in magnitude)")
    # A Decimal's coefficient has no leading zeroes; DynamoDB does not count trailing ones either.
    significant = len(bytes(number.as_tuple().digits).rstrip(b"\0"))
    if significant > MAX_NUMBER_DIGITS:
        raise Unstorable(path, f"has {significant} significant digits; DynamoDB keeps {MAX_NUMBER_DIGITS}")
    return (significant + 1) // 2 + 1 + number.is_signed()

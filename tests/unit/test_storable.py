"""DynamoDB's rules for an item, checked before a request writes: sizes as DynamoDB counts them,
numbers, characters, keys, sets, nesting; and the largest records a valid request can make."""

import pytest

from chalicelib import enrich
from chalicelib.ingest.events import MAX_PROPERTIES, MAX_URL_CHARS, validate_event
from chalicelib.schema.tables import EVENTS, SESSIONS, STATS, event_key, visitor_key
from chalicelib.sessions.model import Session, SessionRules
from chalicelib.store.storable import (
    MAX_ITEM_BYTES,
    MAX_NESTING_LEVELS,
    Unstorable,
    check_item,
    check_record,
    number_bytes,
)
from tests.unit.test_events import SETTINGS


def refused(record, table=EVENTS) -> Unstorable:
    with pytest.raises(Unstorable) as err:
        check_record(record, table)
    return err.value


class TestSize:
    # The Developer Guide's "Item sizes and formats": names and values in UTF-8 bytes, 1 byte for a
    # Boolean or null, 3 bytes per List or Map plus 1 per element, about 1 byte per two digits + 1.
    @pytest.mark.parametrize("record, size", [
        ({"pk": "abc"}, 2 + 3),
        ({"pk": "é", "ü": "€"}, 2 + 2 + 2 + 3),
        ({"pk": "k", "flag": True, "none": None}, 3 + 4 + 1 + 4 + 1),
        ({"pk": "k", "n": 12345}, 3 + 1 + (3 + 1)),
        ({"pk": "k", "b": b"\x00\x01"}, 3 + 1 + 2),
        ({"pk": "k", "m": {}}, 3 + 1 + 3),
        ({"pk": "k", "m": {"ab": "xyz"}}, 3 + 1 + 3 + 1 + 2 + 3),
        ({"pk": "k", "l": ["x", 1, None]}, 3 + 1 + 3 + (1 + 1) + (1 + 2) + (1 + 1)),
    ])
    def test_counted_as_dynamodb_counts(self, record, size):
        assert check_record(record, EVENTS) == size

    def test_400_kb_is_the_limit_names_and_values_together(self):
        filler = "x" * (MAX_ITEM_BYTES - len("pk") - len("k") - len("data"))
        assert check_record({"pk": "k", "data": filler}, EVENTS) == MAX_ITEM_BYTES
        assert refused({"pk": "k", "data": filler + "x"}).attribute == "item"
        assert refused({"pk": "k", "dat\u00e9": filler}).attribute == "item"  # é is two bytes

    def test_four_byte_characters_count_four(self):
        assert check_record({"pk": "k", "s": "\U0001F600"}, EVENTS) == 3 + 1 + 4


class TestNumbers:
    @pytest.mark.parametrize("text, size", [
        ("0", 1), ("-0.0", 1), ("1", 2), ("12", 2), ("123", 3), ("-1", 3), ("1e-05", 2), ("1000000", 2),
        ("1e-130", 2), ("9.9999999999999999999999999999999999999E+125", 21 - 1),
        ("-9.9999999999999999999999999999999999999E+125", 21), ("12345678901234567890123456789012345678", 20),
        ("1" + "0" * 125, 2), ("0.000100", 2),
    ])
    def test_within_range_and_precision(self, text, size):
        assert number_bytes(text) == size

    @pytest.mark.parametrize("text", [
        "1e-131", "1E126", "1e300", "-1e300", "5e-324", "123456789012345678901234567890123456789", "1" * 400,
        "inf", "-inf", "nan", "", "1,5", "0x10",
    ])
    def test_outside_range_precision_or_not_numbers(self, text):
        with pytest.raises(Unstorable):
            number_bytes(text)

    def test_a_record_with_a_number_dynamodb_cannot_hold_names_its_path(self):
        assert refused({"pk": "k", "properties": {"n": 1e-300}}).attribute == "properties.n"
        assert refused({"pk": "k", "client_time_ms": 10**130}).attribute == "client_time_ms"
        assert refused({"pk": "k", "x": float("nan")}).attribute == "x"


class TestCharactersKeysAndTypes:
    def test_a_lone_surrogate_has_no_utf8_and_is_named_wherever_it_is(self):
        assert refused({"pk": "k", "user_id": "\ud800"}).attribute == "user_id"
        assert refused({"pk": "k", "properties": {"p": "a\udfff"}}).attribute == "properties.p"
        assert refused({"pk": "k", "properties": {"\ud800": 1}}).attribute == "properties.\ud800"
        assert "U+D800" in refused({"pk": "k", "t": "\ud800"}).reason

    def test_nul_and_control_characters_are_storable(self):
        # DynamoDB stores them; whether a field may hold them is validation's decision (events.py).
        assert check_record({"pk": "k", "t": "\x00\x1b\n"}, EVENTS) == 3 + 1 + 3

    @pytest.mark.parametrize("record, table, attribute", [
        ({"user_id": "u"}, EVENTS, "pk"),
        ({"pk": ""}, EVENTS, "pk"),
        ({"pk": "k" * 2049}, EVENTS, "pk"),
        ({"pk": 7}, EVENTS, "pk"),
        ({"pk": "k"}, STATS, "sk"),
        ({"pk": "k", "sk": "s" * 1025}, STATS, "sk"),
        ({"pk": "k", "sk": "s", "session_id": ""}, SESSIONS, "session_id"),  # an index key
        ({"pk": "k", "sk": "s", "expiry_check_ms": "soon"}, SESSIONS, "expiry_check_ms"),
    ])
    def test_keys_follow_the_tables_definition(self, record, table, attribute):
        assert refused(record, table).attribute == attribute

    def test_the_longest_keys_allowed(self):
        assert check_record({"pk": "\u00e9" * 1024, "sk": "s" * 1024}, STATS)

    def test_types_store_cannot_send(self):
        assert refused({"pk": "k", "s": {1, 2}}).attribute == "item"

    @pytest.mark.parametrize("item, attribute", [
        ({"pk": {"S": "k"}, "s": {"SS": []}}, "s"),
        ({"pk": {"S": "k"}, "s": {"NS": ["1", "1"]}}, "s"),
        ({"pk": {"S": "k"}, "s": {"NS": ["1e300"]}}, "s"),
        ({"pk": {"S": "k"}, "s": {"X": "?"}}, "s"),
        ({"pk": {"S": "k"}, "": {"S": "empty name"}}, ""),
    ])
    def test_sets_types_and_names_in_dynamodb_form(self, item, attribute):
        with pytest.raises(Unstorable) as err:
            check_item(item, EVENTS)
        assert err.value.attribute == attribute

    def test_sets_count_their_members(self):
        assert check_item({"pk": {"S": "k"}, "v": {"BS": [b"12345678", b"abcdefgh"]}}, EVENTS) == 3 + 1 + 16

    def test_nesting_beyond_32_levels(self):
        deep: object = "x"
        for _ in range(MAX_NESTING_LEVELS - 1):
            deep = [deep]
        assert check_record({"pk": "k", "l": deep}, EVENTS)
        assert refused({"pk": "k", "l": [deep]}).reason.startswith("nests deeper")


class TestWhatAValidRequestCanMake:
    """The proof that validation's limits keep every record far inside DynamoDB's."""

    def largest_event(self) -> dict:
        wide = "\U0001F600"  # four UTF-8 bytes per character: the most a character can take
        url = "https://" + (wide * (MAX_URL_CHARS - 30)) + "?utm_source=" + "s" * 9
        raw = {
            "event_type": "e" * 64, "site": "demo", "user_id": wide * 128, "page_url": url,
            "event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "timestamp": 1_795_681_800_000,
            "referrer": "https://" + wide * (MAX_URL_CHARS - 9) + "/", "title": wide * 512,
            "properties": {f"{i:02d}".ljust(64, "k"): wide * 512 for i in range(MAX_PROPERTIES)},
        }
        event = validate_event(raw, SETTINGS)
        record = enrich.event_record(
            event, event_id=event.event_id, received_ms=1_795_700_000_000, visitor_id=event.user_id,
            client=enrich.describe_client("x" * 8192), country="DE", retention_seconds=400 * 86_400)
        return {"pk": event_key(event.site, event.event_id), **record, "session_id": "0" * 20}

    def test_the_largest_event_record_is_storable_with_room_to_spare(self):
        # Every field at its limit in four-byte characters (more than a 64 KiB body can carry): ~97 KiB.
        size = check_record(self.largest_event(), EVENTS)
        assert 90_000 < size < MAX_ITEM_BYTES / 2

    def test_the_largest_session_is_storable(self):
        record = {**self.largest_event(), "event_type": "page_view"}
        session = Session.start(record["site"], record["visitor_id"], "0000000001", record)
        for _ in range(100):  # the recent-event and listed-id buffers are capped
            session.add({**record, "event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"})
        stored = session.to_record(SessionRules(timeout_ms=1_800_000), retention_seconds=400 * 86_400)
        assert {"referrer_host", "utm_source", "browser"} <= set(stored) and stored["entry_page"] == "/"
        assert stored["pk"] == visitor_key(record["site"], record["visitor_id"])
        assert check_record(stored, SESSIONS) < 60_000

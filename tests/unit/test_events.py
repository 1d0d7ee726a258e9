"""Decoding request bodies and validating events: every bad input names its field."""

import json

import pytest

from chalicelib.core.errors import ApiError, InvalidEvent
from chalicelib.core.settings import load_settings
from chalicelib.ingest.events import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    MAX_TIMESTAMP_MS,
    decode_body,
    json_depth,
    validate_event,
)

SETTINGS = load_settings({
    "LIVEINSIGHT_STAGE": "test",
    "LIVEINSIGHT_SITES": '{"demo": {"origins": []}, "shop": {"origins": []}}',
    "LIVEINSIGHT_DEFAULT_SITE": "demo",
})
GUIDE_EVENT = {"user_id": "test", "event_type": "page_view", "page_url": "https://example.com"}


def body(document) -> bytes:
    return json.dumps(document).encode()


class TestDecodeBody:
    def test_single_event_object(self):
        assert decode_body(body(GUIDE_EVENT), "application/json") == ([GUIDE_EVENT], False, None)

    def test_batch_envelope(self):
        events, is_batch, _ = decode_body(body({"events": [GUIDE_EVENT, GUIDE_EVENT]}), "text/plain;charset=UTF-8")
        assert events == [GUIDE_EVENT, GUIDE_EVENT] and is_batch

    @pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/html"])
    def test_other_content_types_are_415(self, content_type):
        with pytest.raises(ApiError) as err:
            decode_body(body(GUIDE_EVENT), content_type)
        assert (err.value.status_code, err.value.code) == (415, "unsupported_media_type")
        assert err.value.field == "Content-Type"

    def test_body_over_64_kib_is_413(self):
        raw = body({"events": [{**GUIDE_EVENT, "title": "x" * 500}] * 200})
        assert len(raw) > MAX_BODY_BYTES
        with pytest.raises(ApiError) as err:
            decode_body(raw, "application/json")
        assert err.value.status_code == 413 and str(MAX_BODY_BYTES) in err.value.message

    @pytest.mark.parametrize("raw, code, field", [
        (b"{not json", "malformed_json", "body"),
        (b'{"event_type": NaN}', "malformed_json", "body"),
        (b"\xff\xfe", "malformed_json", "body"),
        (b"[1, 2]", "invalid_shape", "body"),
        (b'{"events": []}', "invalid_shape", "events"),
        (b'{"events": {"a": 1}}', "invalid_shape", "events"),
        (b'{"events": [{}], "site": "demo"}', "unknown_field", "site"),
    ])
    def test_malformed_or_wrong_shape_is_400(self, raw, code, field):
        with pytest.raises(ApiError) as err:
            decode_body(raw, "application/json")
        assert (err.value.status_code, err.value.code, err.value.field) == (400, code, field)

    def test_more_than_100_events_is_400(self):
        with pytest.raises(ApiError) as err:
            decode_body(body({"events": [{"event_type": "x"}] * 101}), "application/json")
        assert err.value.code == "too_many_events" and "101" in err.value.message


class TestValidateEvent:
    def test_the_guides_request_is_valid_and_goes_to_the_default_site(self):
        event = validate_event(GUIDE_EVENT, SETTINGS)
        assert (event.site, event.user_id, event.event_type, event.page_url) == (
            "demo", "test", "page_view", "https://example.com")
        assert event.event_id is None

    def test_full_event(self):
        event = validate_event({
            "event_type": "signup.completed", "site": "shop", "user_id": "u-1",
            "event_id": "1B4E28BA-2FA1-11D2-883F-0016D3CCA427", "timestamp": "2026-11-26T09:30:00+01:00",
            "referrer": "android-app://com.google.android.gm/", "title": "Welcome",
            "properties": {"plan": "pro", "seats": 3, "trial": False, "coupon": None},
        }, SETTINGS)
        assert event.event_id == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        assert event.client_time_ms == 1_795_681_800_000
        assert event.page_url is None and event.properties["seats"] == 3

    def test_epoch_millisecond_timestamp(self):
        event = validate_event({**GUIDE_EVENT, "timestamp": 1_795_681_800_000}, SETTINGS)
        assert event.client_time_ms == 1_795_681_800_000

    @pytest.mark.parametrize("change, field, code", [
        ({"event_type": None}, "event_type", "missing"),
        ({"event_type": ""}, "event_type", "missing"),
        ({"event_type": "add to cart"}, "event_type", "invalid_format"),
        ({"event_type": "x" * 65}, "event_type", "too_long"),
        ({"event_type": 7}, "event_type", "wrong_type"),
        ({"page_url": None}, "page_url", "missing"),
        ({"page_url": "/relative/path"}, "page_url", "invalid_url"),
        ({"page_url": "javascript:alert(1)"}, "page_url", "invalid_url"),
        ({"page_url": "ftp://example.com/file"}, "page_url", "invalid_url"),
        ({"page_url": "https://example.com/" + "a" * 2048}, "page_url", "too_long"),
        ({"user_id": "u" * 129}, "user_id", "too_long"),
        ({"user_id": 42}, "user_id", "wrong_type"),
        ({"event_id": "not-a-uuid"}, "event_id", "invalid_format"),
        ({"event_id": 12}, "event_id", "wrong_type"),
        ({"timestamp": "yesterday"}, "timestamp", "invalid_format"),
        ({"timestamp": "2026-11-26T09:30:00"}, "timestamp", "invalid_format"),
        ({"timestamp": True}, "timestamp", "wrong_type"),
        ({"timestamp": -5}, "timestamp", "out_of_range"),
        ({"referrer": "not a url"}, "referrer", "invalid_url"),
        ({"title": "t" * 513}, "title", "too_long"),
        ({"site": "nope"}, "site", "unknown_site"),
        ({"properties": [1, 2]}, "properties", "wrong_type"),
        ({"properties": {f"k{i}": i for i in range(31)}}, "properties", "too_many"),
        ({"properties": {"nested": {"a": 1}}}, "properties.nested", "wrong_type"),
        ({"properties": {"list": [1]}}, "properties.list", "wrong_type"),
        ({"properties": {"bad key": 1}}, "properties.bad key", "invalid_format"),
        ({"properties": {"long": "v" * 513}}, "properties.long", "too_long"),
        ({"properties": {"big": 2**60}}, "properties.big", "out_of_range"),
        ({"ip": "1.2.3.4"}, "ip", "unknown_field"),
        ({"revenue": {"amount": "1e14", "currency": "EUR"}}, "revenue.amount", "out_of_range"),
        # below the bound, but 4 decimals (the lake's DECIMAL(18,4)) round it up to it: refused, not lost
        ({"revenue": {"amount": "99999999999999.99999", "currency": "EUR"}}, "revenue.amount", "out_of_range"),
        ({"revenue": {"amount": "19.90", "currency": "eur"}}, "revenue.currency", "invalid_format"),
    ])
    def test_invalid_fields_are_named(self, change, field, code):
        raw = {**GUIDE_EVENT, **change}
        raw = {k: v for k, v in raw.items() if not (v is None and k in change)}
        with pytest.raises(InvalidEvent) as err:
            validate_event(raw, SETTINGS)
        assert (err.value.field, err.value.code) == (field, code)
        assert err.value.reason

    def test_custom_events_need_no_page_url(self):
        assert validate_event({"event_type": "download"}, SETTINGS).page_url is None

    def test_non_object_event(self):
        with pytest.raises(InvalidEvent) as err:
            validate_event("page_view", SETTINGS)
        assert err.value.field == "event"


def decoded(raw: bytes):
    """The one event of a raw JSON body, as the collector gets it (escapes such as \\ud800 decoded)."""
    [event], _, _ = decode_body(raw, "application/json")
    return event


def invalid(raw_event) -> tuple[str, str]:
    with pytest.raises(InvalidEvent) as err:
        validate_event(raw_event, SETTINGS)
    return err.value.field, err.value.code


class TestStorableOrRefused:
    """Issue 11: what validation accepts, DynamoDB can store and is what it claims to be."""

    def test_a_lone_surrogate_in_user_id_is_refused_naming_it(self):
        raw = decoded(b'{"event_type":"signup","user_id":"\\ud800"}')
        assert raw["user_id"] == "\ud800"  # what json.loads makes of the escape: no character
        with pytest.raises(InvalidEvent) as err:
            validate_event(raw, SETTINGS)
        assert (err.value.field, err.value.code) == ("user_id", "invalid_character")
        assert "U+D800" in err.value.reason

    @pytest.mark.parametrize("field, value", [
        ("title", "a\udfff"), ("page_url", "https://shop.example/\ud800"), ("referrer", "https://\udbff.example/"),
        ("page_url", "https://shop.example/?utm_source=\ud800"), ("site", "\ud800"), ("user_id", "x\udc00y"),
    ])
    def test_lone_surrogates_are_refused_in_every_text_field(self, field, value):
        assert invalid({**GUIDE_EVENT, field: value}) == (field, "invalid_character")

    def test_a_lone_surrogate_in_a_property_value_is_refused(self):
        assert invalid({"event_type": "x", "properties": {"p": "\ud800"}}) == ("properties.p", "invalid_character")

    def test_a_surrogate_pair_spelled_as_escapes_is_one_character_and_fine(self):
        raw = decoded(b'{"event_type":"signup","title":"\\ud83d\\ude00 launch"}')
        assert validate_event(raw, SETTINGS).title == "\U0001F600 launch"

    @pytest.mark.parametrize("field, value, accepted", [
        ("title", "line one\nline two\ttabbed\r", True),  # text people read keeps its line breaks
        ("title", "nul\x00", False), ("title", "bell\x07", False), ("title", "del\x7f", False),
        ("title", "next line\x85", False),
        ("user_id", "u-1 with spaces", True), ("user_id", "u-1\n", False), ("user_id", "u\t1", False),
        ("page_url", "https://shop.example/a b", True), ("page_url", "https://shop.example/\x00", False),
        ("page_url", "https://shop.example/\t", False), ("referrer", "https://x.example/\n", False),
    ])
    def test_control_characters_per_field(self, field, value, accepted):
        event = {**GUIDE_EVENT, field: value}
        if accepted:
            assert getattr(validate_event(event, SETTINGS), field) == value
        else:
            assert invalid(event) == (field, "invalid_character")

    @pytest.mark.parametrize("value, accepted", [
        ("multi\nline", True), ("tab\there", True), ("nul\x00", False), ("esc\x1b[31m", False),
    ])
    def test_control_characters_in_property_values(self, value, accepted):
        event = {"event_type": "x", "properties": {"note": value}}
        if accepted:
            assert validate_event(event, SETTINGS).properties == {"note": value}
        else:
            assert invalid(event) == ("properties.note", "invalid_character")

    def test_a_400_digit_timestamp_is_out_of_range_not_an_overflow(self):
        raw = decoded(b'{"event_type":"signup","timestamp":' + b"9" * 400 + b"}")
        assert invalid(raw) == ("timestamp", "out_of_range")

    def test_any_number_of_digits_decodes_in_linear_time_and_is_refused_by_field(self):
        # 5,000 digits is past Python's 4,300-digit int limit: still the field is named, not the body.
        for literal in (b"9" * 5000, b"-" + b"9" * 5000, b"1" * 30000 + b".5", b"1e999999"):
            raw = decoded(b'{"event_type":"signup","timestamp":' + literal + b"}")
            assert invalid(raw) == ("timestamp", "out_of_range")
            raw = decoded(b'{"event_type":"signup","properties":{"n":' + literal + b"}}")
            assert invalid(raw) == ("properties.n", "out_of_range")

    @pytest.mark.parametrize("timestamp", [1e126, 1e300, 10**126, MAX_TIMESTAMP_MS + 1, -1, -0.5,
                                           "0001-01-01T00:00:00+00:00", "1969-12-31T23:59:59Z",
                                           "9999-12-31T23:59:59-01:00"])
    def test_timestamps_outside_1970_to_9999_are_refused(self, timestamp):
        assert invalid({**GUIDE_EVENT, "timestamp": timestamp}) == ("timestamp", "out_of_range")

    @pytest.mark.parametrize("timestamp, ms", [
        (0, 0), (MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS), (1.5e12, 1_500_000_000_000),
        ("9999-12-31T23:59:59.999999+00:00", MAX_TIMESTAMP_MS), ("1970-01-01T00:00:00Z", 0),
    ])
    def test_timestamps_at_the_limits_are_kept(self, timestamp, ms):
        assert validate_event({**GUIDE_EVENT, "timestamp": timestamp}, SETTINGS).client_time_ms == ms

    def test_a_timestamp_string_with_a_lone_surrogate_is_an_invalid_format(self):
        assert invalid({**GUIDE_EVENT, "timestamp": "2026-11-26T09:30:00\ud800Z"}) == ("timestamp", "invalid_format")

    @pytest.mark.parametrize("number", [1e-300, 1e-131, -1e-200, 5e-324, 2**53 + 1, 1e16, float("inf"),
                                        float("nan")])
    def test_property_numbers_dynamodb_cannot_hold_are_refused(self, number):
        assert invalid({"event_type": "x", "properties": {"n": number}}) == ("properties.n", "out_of_range")

    def test_the_exact_property_example_from_the_issue(self):
        raw = decoded(b'{"event_type":"signup","properties":{"n":1e-300}}')
        assert invalid(raw) == ("properties.n", "out_of_range")

    @pytest.mark.parametrize("number", [0, 0.0, -0.0, 1e-130, -1e-130, 2**53, -(2**53), 0.1, 1.5e-7])
    def test_property_numbers_within_both_rules_are_kept(self, number):
        assert validate_event({"event_type": "x", "properties": {"n": number}}, SETTINGS).properties == {"n": number}

    def test_names_with_a_trailing_newline_are_refused(self):
        # `^...$` with re.match accepted "signup\n": `$` matches before a final newline.
        assert invalid({"event_type": "signup\n"})[0] == "event_type"
        assert invalid({"event_type": "x", "properties": {"k\n": 1}}) == ("properties.k\n", "invalid_format")


class TestNesting:
    def test_1000_nested_arrays_are_refused_before_the_decoder_recurses(self):
        with pytest.raises(ApiError) as err:
            decode_body(b'{"event_type":"x","properties":' + b"[" * 1000 + b"]" * 1000 + b"}", "application/json")
        assert (err.value.status_code, err.value.code, err.value.field) == (400, "too_deep", "body")
        assert str(MAX_JSON_DEPTH) in err.value.message

    @pytest.mark.parametrize("raw", [b"[" * 32_000, b'{"a":' * 10_000, b"[" * 32_000 + b"]" * 32_000])
    def test_as_deep_as_the_body_limit_allows(self, raw):
        with pytest.raises(ApiError) as err:
            decode_body(raw, "text/plain")
        assert err.value.code == "too_deep"

    def test_the_deepest_body_allowed_decodes_and_its_field_is_named(self):
        deep = b'{"events":[{"event_type":"x","properties":{"a":{"b":{"c":{"d":[1]}}}}}]}'
        assert json_depth(deep) == MAX_JSON_DEPTH
        [raw], _, _ = decode_body(deep, "application/json")
        assert invalid(raw) == ("properties.a", "wrong_type")

    @pytest.mark.parametrize("raw, depth", [
        (b"{}", 1), (b"1", 0), (b'{"events":[{"properties":{}}]}', 4),
        (b'{"title":"[[[[[[[[[[{{{{{{{{"}', 1),  # brackets in strings are text
        (b'{"title":"\\"[[[[[[[[[[[["}', 1),  # an escaped quote does not end the string
        (b'{"title":"\\\\"}', 1),  # an escaped backslash does not escape the quote
        (b'{"title":"unterminated [[[[[[[[[[[[', 1),
        (b"[[]][[[]]]", 3),
        (b'["' + b'\\"[' * 20_000, 1),  # an unterminated string of escapes: matched once, not retried per quote
    ])
    def test_json_depth(self, raw, depth):
        assert json_depth(raw) == depth

"""Decoding request bodies and validating events: every bad input names its field."""

import json

import pytest

from chalicelib.errors import ApiError, InvalidEvent
from chalicelib.events import MAX_BODY_BYTES, decode_body, validate_event
from chalicelib.settings import load_settings

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
        assert decode_body(body(GUIDE_EVENT), "application/json") == ([GUIDE_EVENT], False)

    def test_batch_envelope(self):
        events, is_batch = decode_body(body({"events": [GUIDE_EVENT, GUIDE_EVENT]}), "text/plain;charset=UTF-8")
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
        ({"timestamp": -5}, "timestamp", "invalid_format"),
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

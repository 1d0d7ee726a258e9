"""LIVEINSIGHT_MAX_EVENT_AGE_HOURS: how far behind the server a client's timestamp may be. The default
(24 h) is what deployments keep; the local stage raises it so `make traffic` can backfill days."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest
from chalice.test import Client

from app import app
from chalicelib import enrich
from chalicelib.core.settings import SettingsError, load_settings
from tests.conftest import stage_environment
from tests.integration.conftest import STAGE, post, stored_events

HOUR_MS = 3_600_000
BASE = {"LIVEINSIGHT_STAGE": "dev", "LIVEINSIGHT_SITES": '{"demo": {"origins": []}}'}


def test_default_is_24_hours_and_dev_and_prod_keep_it():
    assert load_settings(BASE).max_event_age_hours == 24
    assert load_settings(BASE).max_event_age_ms == 24 * HOUR_MS
    for stage in ("dev", "prod"):
        assert "LIVEINSIGHT_MAX_EVENT_AGE_HOURS" not in stage_environment(stage)


def test_the_local_stage_allows_30_days():
    # make traffic backfills 7 days, make screenshots 14; a stack with 30 days' retention must still start
    assert load_settings(stage_environment("local")).max_event_age_hours == 30 * 24


@pytest.mark.parametrize("raw, message", [
    ("0", "must be positive"), ("-3", "must be positive"), ("a day", "must be a whole number"),
    ("9601", "at most the event retention (400 days = 9600 hours)"),
])
def test_a_bad_limit_is_refused_naming_the_setting(raw, message):
    with pytest.raises(SettingsError, match="LIVEINSIGHT_MAX_EVENT_AGE_HOURS") as caught:
        load_settings({**BASE, "LIVEINSIGHT_MAX_EVENT_AGE_HOURS": raw})
    assert message in str(caught.value)


def test_the_limit_is_tied_to_retention():
    env = {**BASE, "LIVEINSIGHT_EVENT_RETENTION_DAYS": "10"}
    assert load_settings({**env, "LIVEINSIGHT_MAX_EVENT_AGE_HOURS": "240"}).max_event_age_hours == 240
    with pytest.raises(SettingsError, match="240 hours"):
        load_settings({**env, "LIVEINSIGHT_MAX_EVENT_AGE_HOURS": "241"})


@pytest.mark.parametrize("age_ms, limit_ms, expected_adjusted", [
    (25 * HOUR_MS, None, "past"),  # the default limit, unchanged
    (23 * HOUR_MS, None, None),
    (25 * HOUR_MS, 48 * HOUR_MS, None),
    (48 * HOUR_MS + 1, 48 * HOUR_MS, "past"),
    (48 * HOUR_MS, 48 * HOUR_MS, None),
])
def test_event_time_past_the_limit_is_the_received_time(age_ms, limit_ms, expected_adjusted):
    received_ms = 1_795_700_000_000
    extra = () if limit_ms is None else (limit_ms,)
    time_ms, adjusted = enrich.event_time_ms(received_ms - age_ms, received_ms, *extra)
    assert adjusted == expected_adjusted
    assert time_ms == (received_ms if adjusted else received_ms - age_ms)


def _page_view(age_ms: int) -> dict:
    return {"event_type": "page_view", "event_id": str(uuid.uuid4()), "page_url": "https://shop.example/old",
            "timestamp": int(time.time() * 1000) - age_ms}


@pytest.mark.parametrize("limit_hours, age_hours, kept", [
    (24, 3 * 24, False),  # deployments: three days late is stored at the received time, and says so
    (35 * 24, 3 * 24, True),  # the local stage: kept at its own time
    (35 * 24, 36 * 24, False),  # older than the local limit: clamped as before
])
def test_the_collector_applies_the_settings_limit(wire, settings, limit_hours, age_hours, kept, dynamodb):
    wire(settings_=replace(settings, max_event_age_hours=limit_hours))
    sent = _page_view(age_hours * HOUR_MS)
    with Client(app, stage_name=STAGE) as api:
        response = post(api, {"events": [sent]})
    assert response.status_code == 200 and json.loads(response.body)["accepted"] == 1
    [event] = stored_events(dynamodb)
    if kept:
        assert event["time_ms"] == sent["timestamp"] and "time_adjusted" not in event
    else:
        assert event["time_ms"] == event["received_ms"] and event["time_adjusted"] == "past"
        assert event["client_time_ms"] == sent["timestamp"]

"""POST /events with User-Agent Client Hints: Chromium's headers and the SDK's `client_hints`."""

from __future__ import annotations

import json
import uuid

from tests.integration.conftest import post, stored_events

REDUCED_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/131.0.0.0 Mobile Safari/537.36")


def page_view():
    return {"event_type": "page_view", "page_url": "https://shop.example/", "event_id": str(uuid.uuid4())}


def test_the_browsers_hint_headers_name_a_tablet_the_reduced_user_agent_hides(api, dynamodb):
    response = post(api, page_view(), headers={
        "User-Agent": REDUCED_ANDROID.replace(" Mobile Safari", " Safari"),
        "Sec-CH-UA": '"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
        "Sec-CH-UA-Mobile": "?0", "Sec-CH-UA-Platform": '"Android"'})
    assert response.status_code == 200
    [event] = stored_events(dynamodb)
    assert (event["browser"], event["browser_version"], event["os"], event["device_type"]) == \
        ("Edge", "131", "Android", "tablet")


def test_the_sdks_client_hints_win_over_the_headers(api, dynamodb):
    body = {"events": [page_view()], "client_hints": {
        "brands": [{"brand": "Google Chrome", "version": "131"}, {"brand": "Chromium", "version": "131"}],
        "mobile": False, "platform": "Android"}}
    response = post(api, body, headers={"User-Agent": REDUCED_ANDROID, "Sec-CH-UA-Mobile": "?1"})
    assert response.status_code == 200
    [event] = stored_events(dynamodb)
    assert (event["browser"], event["device_type"]) == ("Chrome", "tablet")


def test_bad_client_hints_are_a_400_naming_the_field_and_nothing_is_stored(api, dynamodb):
    body = {"events": [page_view()], "client_hints": {"mobile": "no"}}
    response = post(api, body, headers={"User-Agent": REDUCED_ANDROID})
    assert response.status_code == 400
    answer = json.loads(response.body)
    assert (answer["error"]["code"], answer["error"]["field"]) == ("invalid_client_hints", "client_hints.mobile")
    assert stored_events(dynamodb) == []

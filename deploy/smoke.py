"""The operations guide's post-deploy check, automated: its own curl request to the deployed
events URL must be stored (answered 2xx with the event `accepted`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

GUIDE_EVENT = {"user_id": "test", "event_type": "page_view", "page_url": "https://example.com"}


class SmokeTestFailed(RuntimeError):
    pass


def smoke_test(events_url: str, timeout_seconds: float = 15.0) -> str:
    """Sends the guide's request; returns the stored event's id or raises SmokeTestFailed."""
    request = urllib.request.Request(events_url, data=json.dumps(GUIDE_EVENT).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "curl/8.5.0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        raise SmokeTestFailed(f"POST {events_url} answered {exc.code}: {exc.read().decode()[:300]}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SmokeTestFailed(f"POST {events_url} failed: {exc}") from None
    try:
        [event] = json.loads(body)["events"]
    except (ValueError, KeyError, TypeError):
        raise SmokeTestFailed(f"POST {events_url} answered {status} with an unexpected body: {body[:300]}") from None
    if event.get("status") != "accepted":
        raise SmokeTestFailed(f"the guide's event was not accepted: {event}")
    return event["event_id"]

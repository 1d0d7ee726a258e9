"""A stalled DynamoDB: the request is answered 503 + Retry-After with every event `retry` within its
deadline (API Gateway would answer 504 at 29 s), and nothing is stored or counted. Time is a fake
clock that each stalled attempt advances by botocore's read timeout, so the test takes no time."""

from __future__ import annotations

import json

from botocore.exceptions import ReadTimeoutError

from chalicelib.core.metrics import Metrics
from chalicelib.ingest.collector import Collector, IngestRequest
from chalicelib.sessions.sessionizer import Sessionizer
from chalicelib.store import Backoff, EventStore, SaltStore, SessionStore, StatsStore
from chalicelib.store.base import ATTEMPT_SECONDS_MAX, READ_TIMEOUT_SECONDS
from tests.integration.conftest import BROWSER_UA, stored_events, stored_sessions


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Stalling:
    """The moto client, until `stall` is set: then every call waits out the read timeout and fails."""

    def __init__(self, client, clock: Clock) -> None:
        self._client, self._clock, self.stall, self.stalled_calls = client, clock, False, 0

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name == "meta":
            return attribute

        def stalled(**kwargs):
            if not self.stall:
                return attribute(**kwargs)
            self.stalled_calls += 1
            self._clock.now += READ_TIMEOUT_SECONDS
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        stalled.__name__ = name
        return stalled


def _collector(dynamodb, settings, clock: Clock, client) -> Collector:
    from chalicelib.sessions.model import SessionRules

    backoff = Backoff(attempts=50, sleep=clock.sleep, clock=clock)  # only the deadline stops the retries
    rules = SessionRules(timeout_ms=settings.session_timeout_seconds * 1000, shards=settings.active_session_shards)
    return Collector(settings=settings, events=EventStore(client, settings.events_table, backoff),
                     salts=SaltStore(client, settings.events_table, backoff),
                     sessions=Sessionizer(SessionStore(client, settings.sessions_table, backoff,
                                                       events_table=settings.events_table), rules,
                                          settings.event_retention_seconds, pause=clock.sleep),
                     stats=StatsStore(client, settings.stats_table, backoff), metrics=Metrics("test", lambda _: None),
                     monotonic=clock)


def test_a_stalled_dynamodb_is_answered_503_within_the_deadline(dynamodb, settings):
    clock = Clock()
    client = Stalling(dynamodb, clock)
    collector = _collector(dynamodb, settings, clock, client)
    body = {"events": [{"event_type": "page_view", "page_url": f"https://shop.example/{i}",
                        "event_id": f"00000000-0000-4000-8000-00000000000{i}"} for i in range(3)]}
    request = IngestRequest(body=json.dumps(body).encode(), content_type="application/json", user_agent=BROWSER_UA,
                            source_ip="203.0.113.9")
    assert collector.collect(request).status_code == 200  # warm: the day's salt is read before the stall
    client.stall = True
    body["events"] = [{**e, "event_id": e["event_id"].replace("-8000-", "-9000-")} for e in body["events"]]
    started = clock.now
    result = collector.collect(IngestRequest(**{**request.__dict__, "body": json.dumps(body).encode()}))
    elapsed = clock.now - started

    assert result.status_code == 503 and result.headers["Retry-After"]
    assert [e["status"] for e in result.body["events"]] == ["retry"] * 3
    assert elapsed <= settings.request_deadline_seconds  # every attempt began with time to end
    assert elapsed + ATTEMPT_SECONDS_MAX > settings.request_deadline_seconds  # and the budget was used
    client.stall = False
    assert {e["event_id"] for e in stored_events(dynamodb)} == {e["event_id"].replace("-9000-", "-8000-")
                                                                for e in body["events"]}
    assert sum(s["events"] for s in stored_sessions(dynamodb)) == 3  # only the first request's

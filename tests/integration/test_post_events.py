"""POST /events through the real app and moto: what is answered and what is stored."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import AUTH, BROWSER_UA, post, stored_events, stored_sessions

GUIDE_EVENT = {"user_id": "test", "event_type": "page_view", "page_url": "https://example.com"}
ALLOWED_ORIGIN = "http://127.0.0.1:8000"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def page_view(path="/", **fields):
    return {"event_type": "page_view", "page_url": f"https://shop.example{path}",
            "event_id": str(uuid.uuid4()), **fields}


def test_the_guides_curl_request_is_stored(api, dynamodb):
    response = post(api, GUIDE_EVENT, headers={"User-Agent": "curl/8.5.0"})
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["accepted"] == 1 and body["events"][0]["status"] == "accepted"
    [event] = stored_events(dynamodb)
    assert event["event_id"] == body["events"][0]["event_id"]
    assert (event["site"], event["user_id"], event["visitor_id"], event["page_path"], event["channel"],
            event["browser"]) == ("demo", "test", "test", "/", "Direct", "curl")


def test_a_text_plain_batch_is_stored_in_order_with_enrichment(api, dynamodb):
    events = [page_view("/?utm_source=newsletter&utm_medium=email&utm_campaign=nov", referrer="https://mail.google.com/"),
              page_view("/shoes", referrer="https://shop.example/"),
              {"event_type": "add_to_cart", "event_id": str(uuid.uuid4()), "properties": {"sku": "A-1", "qty": 2}}]
    response = post(api, {"events": events}, content_type="text/plain;charset=UTF-8",
                    headers={"CloudFront-Viewer-Country": "DE"})
    assert response.status_code == 200
    body = json.loads(response.body)
    assert [s["event_id"] for s in body["events"]] == [e["event_id"] for e in events]
    stored = {e["event_id"]: e for e in stored_events(dynamodb)}
    first, second, third = (stored[e["event_id"]] for e in events)
    assert (first["channel"], first["source"], first["utm_campaign"], first["referrer_host"]) == (
        "Email", "newsletter", "nov", "mail.google.com")
    assert (second["channel"], second["page_path"]) == ("Direct", "/shoes") and "source" not in second
    assert third["properties"] == {"sku": "A-1", "qty": 2}
    assert {e["country"] for e in stored.values()} == {"DE"}
    assert {(e["browser"], e["os"], e["device_type"]) for e in stored.values()} == {("Chrome", "Windows", "desktop")}
    assert first["visitor_id"].startswith("anon-") and len({e["visitor_id"] for e in stored.values()}) == 1


def test_one_invalid_event_does_not_reject_its_neighbours(api, dynamodb):
    good = [page_view("/a"), page_view("/b")]
    response = post(api, {"events": [good[0], {"event_type": "page_view", "page_url": "nope"}, good[1]]})
    assert response.status_code == 200
    statuses = json.loads(response.body)["events"]
    assert [s["status"] for s in statuses] == ["accepted", "invalid", "accepted"]
    assert statuses[1] == {"status": "invalid", "field": "page_url", "code": "invalid_url",
                           "reason": "must be an absolute URL with scheme http or https"}
    assert {e["event_id"] for e in stored_events(dynamodb)} == {g["event_id"] for g in good}


@pytest.mark.parametrize("kwargs, status, code, field", [
    ({"document": {"event_type": "page_view"}}, 400, "invalid_event", "page_url"),
    ({"document": {**GUIDE_EVENT, "ip": "1.2.3.4"}}, 400, "invalid_event", "ip"),
    ({"document": {"events": [{"event_type": "bad name"}]}}, 400, "invalid_event", "event_type"),
    ({"raw": b'{"event_type": "page_view",'}, 400, "malformed_json", "body"),
    ({"raw": b'"just a string"'}, 400, "invalid_shape", "body"),
    ({"document": {"events": [GUIDE_EVENT] * 101}}, 400, "too_many_events", "events"),
    ({"raw": b"x" * (64 * 1024 + 1)}, 413, "payload_too_large", "body"),
    ({"document": GUIDE_EVENT, "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type", "Content-Type"),
    ({"document": GUIDE_EVENT, "content_type": None}, 415, "unsupported_media_type", "Content-Type"),
    ({"document": GUIDE_EVENT, "headers": {"Origin": "https://evil.example"}}, 403, "forbidden_origin", "Origin"),
])
def test_bad_input_gets_its_4xx_names_the_field_and_stores_nothing(api, dynamodb, kwargs, status, code, field):
    response = post(api, **kwargs)
    assert response.status_code == status
    error = json.loads(response.body)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert field.split(".")[0] in error["message"] or field in ("body", "Content-Type", "Origin")
    assert stored_events(dynamodb) == []


def test_duplicates_are_stored_once_within_and_across_requests(api, dynamodb):
    event = page_view("/once")
    first = json.loads(post(api, {"events": [event, event]}).body)
    assert [s["status"] for s in first["events"]] == ["accepted", "duplicate"]
    before = stored_events(dynamodb)
    again = json.loads(post(api, {"events": [event, page_view("/new")]}).body)
    assert [s["status"] for s in again["events"]] == ["duplicate", "accepted"]
    assert again["events"][0]["event_id"] == event["event_id"]
    after = {e["event_id"]: e for e in stored_events(dynamodb)}
    assert len(after) == 2 and after[event["event_id"]] == before[0]  # the retry changed nothing


def test_bots_are_dropped_not_stored_and_counted(api, dynamodb, capsys):
    response = post(api, {"events": [page_view(), page_view()]}, headers={"User-Agent": GOOGLEBOT})
    assert response.status_code == 200
    assert [s["status"] for s in json.loads(response.body)["events"]] == ["dropped", "dropped"]
    assert stored_events(dynamodb) == []
    rejected = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "EventsRejected" in line]
    assert [(r["Reason"], r["BotCategory"], r["EventsRejected"]) for r in rejected] == [("Bot", "search", 2)]
    # counted under Reason alone (what the alarm and dashboard read) and by kind of bot
    assert rejected[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["Environment", "Reason"], ["Environment", "Reason", "BotCategory"]]


@pytest.mark.parametrize("user_agent, category", [
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
     "ai-crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ChatGPT-User/1.0; +https://openai.com/bot)",
     "ai-assistant"),
    ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitor"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview"),
])
def test_each_kind_of_bot_is_counted_under_its_category(api, dynamodb, capsys, user_agent, category):
    assert post(api, page_view(), headers={"User-Agent": user_agent}).status_code == 200
    [rejected] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "EventsRejected" in line]
    assert (rejected["Reason"], rejected["BotCategory"]) == ("Bot", category)
    assert stored_events(dynamodb) == []


def test_unknown_site_is_invalid(api, dynamodb):
    response = post(api, {**GUIDE_EVENT, "site": "elsewhere"})
    assert response.status_code == 400
    assert json.loads(response.body)["events"][0]["code"] == "unknown_site"
    assert stored_events(dynamodb) == []


def test_an_allowed_origin_gets_cors_headers(api, dynamodb):
    response = post(api, GUIDE_EVENT, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.headers["Vary"] == "Origin"
    assert len(stored_events(dynamodb)) == 1


def test_cors_preflight(api):
    allowed = api.http.request("OPTIONS", "/events", headers={"Origin": ALLOWED_ORIGIN,
                                                              "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    # Any origin's preflight passes, so its POST can read why it is refused (tests/integration/test_cors.py).
    other = api.http.request("OPTIONS", "/events", headers={"Origin": "https://evil.example"})
    assert other.status_code == 204 and other.headers["Access-Control-Allow-Origin"] == "https://evil.example"


def test_cookieless_visitor_id_is_stable_per_ip_and_agent_and_the_ip_is_never_stored(api, dynamodb):
    post(api, page_view("/1"))
    post(api, page_view("/2"))
    post(api, page_view("/3"), headers={"User-Agent": BROWSER_UA.replace("131", "130")})
    events = stored_events(dynamodb)
    ids = sorted({e["visitor_id"] for e in events})
    assert len(events) == 3 and len(ids) == 2
    table_dump = json.dumps(dynamodb.scan(TableName="LiveInsight-local-Events")["Items"], default=repr)
    assert "127.0.0.1" not in table_dump  # chalice's local source IP


def test_client_time_far_off_is_clamped_and_says_so(api, dynamodb):
    post(api, page_view("/late", timestamp="2020-01-01T00:00:00Z"))
    [event] = stored_events(dynamodb)
    assert event["time_adjusted"] == "past" and event["time_ms"] == event["received_ms"]
    assert event["client_time_ms"] == 1_577_836_800_000


def test_retention_is_a_ttl_and_configurable(api, dynamodb, wire, settings):
    post(api, page_view("/keep"))
    [event] = stored_events(dynamodb)
    assert event["expires_at_s"] == event["received_ms"] // 1000 + 400 * 86_400
    ttl = dynamodb.describe_time_to_live(TableName="LiveInsight-local-Events")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at_s")


def test_health(api):
    response = api.http.get("/health")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["status"] == "ok" and body["version"]


class FailingWrites:
    """The moto client, but the write of sessions and events (TransactWriteItems) raises throttling
    after `ok_calls` successful calls."""

    def __init__(self, client, ok_calls=0, operation="transact_write_items"):
        self._client, self._ok_calls, self._operation = client, ok_calls, operation

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._operation:
            return real

        def call(**kwargs):
            if self._ok_calls > 0:
                self._ok_calls -= 1
                return real(**kwargs)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "Rate of requests exceeds the allowed throughput"}},
                              self._operation)
        return call


def test_a_throttled_table_never_gets_a_2xx_for_unstored_events(api, dynamodb, wire, capsys):
    wire(FailingWrites(dynamodb))
    response = post(api, {"events": [page_view(), page_view()]})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    body = json.loads(response.body)
    assert [s["status"] for s in body["events"]] == ["retry", "retry"] and body["error"]["code"] == "store_unavailable"
    assert stored_events(dynamodb) == []
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(line.get("level") == "ERROR" for line in lines)
    emf = next(line for line in lines if "ProcessingErrors" in line)
    assert (emf["ProcessingErrors"], emf["EventsProcessed"]) == (2, 0)


def test_a_partly_stored_batch_answers_503_and_its_resend_stores_each_event_once(api, dynamodb, wire):
    events = [page_view(f"/{i}") for i in range(100)]
    wire(FailingWrites(dynamodb, ok_calls=1))  # the first commit (90 events) is stored, the last 10 are not
    first = json.loads(post(api, {"events": events}).body)
    assert [s["status"] for s in first["events"]] == ["accepted"] * 90 + ["retry"] * 10
    wire()  # DynamoDB recovers; the client resends the whole batch
    second = post(api, {"events": events})
    assert second.status_code == 200
    assert [s["status"] for s in json.loads(second.body)["events"]] == ["duplicate"] * 90 + ["accepted"] * 10
    assert sorted(e["event_id"] for e in stored_events(dynamodb)) == sorted(e["event_id"] for e in events)


def test_when_duplicates_cannot_be_checked_nothing_is_stored_and_the_answer_is_503(api, dynamodb, wire):
    wire(FailingWrites(dynamodb, operation="batch_get_item"))
    response = post(api, page_view())
    assert response.status_code == 503 and json.loads(response.body)["events"][0]["status"] == "retry"
    assert stored_events(dynamodb) == []


def test_an_unexpected_failure_is_a_json_500_and_an_error_log(api, wire, settings, capsys):
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("boom")

    wire(Broken())
    response = post(api, page_view())
    assert response.status_code == 500
    assert json.loads(response.body)["error"]["code"] == "internal_error"
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ERROR" in line]
    assert errors and all(line["level"] == "ERROR" for line in errors)


def test_logs_find_every_error_with_the_guides_query_and_never_hold_payloads(api, dynamodb, wire, capsys):
    post(api, page_view("/secret-page"))
    post(api, {"event_type": "ERROR", "page_url": "https://shop.example/ERROR"})  # user text saying ERROR
    post(api, raw=b"{bad")
    wire(FailingWrites(dynamodb))
    post(api, page_view("/secret-page-2"))
    lines = capsys.readouterr().out.splitlines()
    matched = [line for line in lines if "ERROR" in line]  # filter @message like /ERROR/
    assert matched and all(json.loads(line)["level"] == "ERROR" for line in matched)
    assert all(json.loads(line).get("level") != "ERROR" for line in lines if line not in matched)
    assert not any("secret-page" in line for line in lines)


def stored_stats(client) -> list[dict]:
    from chalicelib.schema.tables import STATS
    from chalicelib.store import from_item

    return [from_item(i) for i in client.scan(TableName=STATS.name("local"))["Items"]]


# Issue 11: each was measured to pass validation and then fail DynamoDB (a 5xx, or `retry` for ever
# while its session and statistics had counted it). Now each is `invalid` and names its field.
HOSTILE_EVENTS = [
    (b'{"event_type":"signup","user_id":"\\ud800"}', "user_id", "invalid_character"),
    (b'{"event_type":"signup","timestamp":' + b"9" * 400 + b"}", "timestamp", "out_of_range"),
    (b'{"event_type":"signup","properties":{"n":1e-300}}', "properties.n", "out_of_range"),
    (b'{"event_type":"signup","title":"\\udfff"}', "title", "invalid_character"),
    (b'{"event_type":"page_view","page_url":"https://shop.example/\\ud800"}', "page_url", "invalid_character"),
    (b'{"event_type":"page_view","page_url":"https://shop.example/?utm_source=\\ud800"}', "page_url",
     "invalid_character"),
    (b'{"event_type":"signup","referrer":"https://x.example/\\udbff"}', "referrer", "invalid_character"),
    (b'{"event_type":"signup","timestamp":1e126}', "timestamp", "out_of_range"),
    (b'{"event_type":"signup","timestamp":1e300}', "timestamp", "out_of_range"),
    (b'{"event_type":"signup\\n"}', "event_type", "invalid_character"),
    (b'{"event_type":"signup","properties":{"k\\n":1}}', "properties.k\n", "invalid_format"),
]


@pytest.mark.parametrize("raw, field, code", HOSTILE_EVENTS)
def test_what_dynamodb_cannot_store_is_invalid_and_counted_nowhere(api, dynamodb, raw, field, code):
    response = post(api, raw=raw)
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["error"]["field"] == field and body["events"][0]["code"] == code
    assert stored_events(dynamodb) == [] and stored_sessions(dynamodb) == [] and stored_stats(dynamodb) == []


def test_deep_nesting_is_refused_before_decoding(api, dynamodb):
    response = post(api, raw=b'{"event_type":"signup","properties":' + b"[" * 1000 + b"]" * 1000 + b"}")
    assert response.status_code == 400
    assert json.loads(response.body)["error"] == {
        "code": "too_deep", "field": "body", "message": "body nests arrays and objects more than 8 levels deep"}
    response = post(api, raw=b"[" * 32_000 + b"]" * 32_000)  # deep enough to overflow the decoder's recursion
    assert (response.status_code, json.loads(response.body)["error"]["code"]) == (400, "too_deep")


def test_a_validated_event_the_store_would_refuse_is_invalid_before_anything_is_written(
        api, dynamodb, monkeypatch, capsys):
    # Validation should make this impossible: bypass it to prove the check before the first write.
    from chalicelib.ingest import collector
    from chalicelib.ingest.events import Event

    real_validate = collector.validate_event

    def lenient(raw, settings):
        if raw.get("title") == "poison":
            return Event(event_type="signup", site="demo", event_id=raw["event_id"], properties={"n": 1e-300})
        return real_validate(raw, settings)

    monkeypatch.setattr(collector, "validate_event", lenient)
    good, bad = page_view("/fine"), page_view("/poison", title="poison")
    capsys.readouterr()
    response = post(api, {"events": [bad, good]})
    assert response.status_code == 200
    statuses = json.loads(response.body)["events"]
    assert statuses[0] == {"status": "invalid", "event_id": bad["event_id"], "field": "properties.n",
                           "code": "unstorable",
                           "reason": "is outside DynamoDB's range (1E-130 to 9.99E+125 in magnitude)"}
    assert statuses[1]["status"] == "accepted"
    assert [e["event_id"] for e in stored_events(dynamodb)] == [good["event_id"]]
    assert [s["events"] for s in stored_sessions(dynamodb)] == [1]
    assert sum(b.get("events", 0) for b in stored_stats(dynamodb)) == 1
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert [(e["message"], e["field"]) for e in errors] == [("a validated event cannot be stored", "properties.n")]


def test_an_8_kb_user_agent_is_read_as_its_first_512_characters(api, dynamodb):
    long_agent = BROWSER_UA + " " + "0" * (8192 - len(BROWSER_UA) - 1)
    post(api, page_view("/long"), headers={"User-Agent": long_agent})
    post(api, page_view("/cut"), headers={"User-Agent": long_agent[:512]})
    events = stored_events(dynamodb)
    assert {(e["browser"], e["os"]) for e in events} == {("Chrome", "Windows")}
    assert len({e["visitor_id"] for e in events}) == 1  # the visitor hash sees the same 512 characters


class RefusingStatsTable:
    """The moto client, except that while `refusing` every write to the statistics table is refused as
    DynamoDB refuses an invalid one (buckets are size-bounded, but a refusal must still cost no event)."""

    def __init__(self, client, stats_table: str) -> None:
        self._client, self._stats_table, self.refusing = client, stats_table, True

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name not in ("update_item", "put_item"):
            return attribute

        def write(**kwargs):
            if kwargs["TableName"] == self._stats_table and self.refusing:
                raise ClientError({"Error": {"Code": "ValidationException",
                                             "Message": "Item size to update has exceeded the maximum allowed size"}},
                                  name)
            return attribute(**kwargs)
        write.__name__ = name
        return write


def test_refused_statistics_writes_cost_no_event_and_count_it_once_when_retried(api, dynamodb, wire, settings,
                                                                                 capsys):
    """The request stores the event whatever the statistics table does; the stream function's batch fails
    (Lambda's Errors, the IteratorAge alarm), is retried whole, and counts the event once when it succeeds."""
    table = RefusingStatsTable(dynamodb, settings.stats_table)
    wire(table)
    response = post(api, {"event_type": "page_view", "page_url": "https://shop.example/flooded"})
    assert response.status_code == 200 and response.json_body["accepted"] == 1
    assert [e["page_path"] for e in stored_events(dynamodb)] == ["/flooded"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "local stream function failed; batch retried" for line in lines)
    realtime = json.loads(api.http.get("/stats/realtime?site=demo", headers=AUTH).body)
    assert realtime["pageviews"] == 0
    table.refusing = False
    post(api, {"event_type": "page_view", "page_url": "https://shop.example/later"})  # the batch's retry, then its own
    realtime = json.loads(api.http.get("/stats/realtime?site=demo", headers=AUTH).body)
    assert (realtime["pageviews"], sorted(p["value"] for p in realtime["top"]["page"])) == (2, ["/flooded", "/later"])

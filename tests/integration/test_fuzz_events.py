"""Property-based: thousands of hostile POST /events requests through the real app on moto.

Bodies are JSON text built piece by piece (so they can hold what no serialiser writes: `\\ud800`
escapes, 6,000-digit numbers, 31,000 levels of nesting, invalid UTF-8) around events that are
partly valid, with random Content-Types, User-Agents up to 10 KB and Origins. For every request:
never a 5xx; every error in the documented shape; every event answered `accepted` is read back
from the table; the request wrote events, statistics and sessions for its accepted events and for
nothing else. At the end the whole tables agree with the answers. Derandomized (a fixed seed), no
example database: every run sends the same requests; the test prints how many.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.ingest.collector import STATUSES
from chalicelib.schema.tables import EVENTS, SESSIONS, STATS, event_key
from chalicelib.store import from_item
from tests.integration.conftest import BROWSER_UA, STAGE

CASES = 2000
SITE = "demo"  # the local stage's only site, and its default
ALLOWED_ORIGIN = "http://127.0.0.1:8000"
DOCUMENTED_ERRORS = {  # status -> code -> the field it names (None: any field)
    400: {"malformed_json": "body", "too_deep": "body", "invalid_shape": None, "unknown_field": None,
          "too_many_events": "events", "invalid_event": None},
    403: {"forbidden_origin": "Origin"},
    413: {"payload_too_large": "body"},
    415: {"unsupported_media_type": "Content-Type"},
}

# --- JSON text, piece by piece ---

HOSTILE_CHARACTERS = st.one_of(
    st.characters(), st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates: hypothesis' text has none
    st.sampled_from(list("\x00\x01\t\n\r\x1b\x7f\x85\u2028\ufeff\ufffd\U0001F600\"\\[]{}")))
HOSTILE_TEXT = st.one_of(
    st.lists(HOSTILE_CHARACTERS, max_size=6).map("".join),
    st.builds(lambda piece, times: piece * times, st.lists(HOSTILE_CHARACTERS, min_size=1, max_size=4).map("".join),
              st.integers(1, 700)))
NUMBER_TOKENS = st.one_of(
    st.sampled_from(["0", "-0", "-0.0", "1e-300", "1e-130", "1e-131", "1E126", "1e308", "1e309", "4.9e-324",
                     "9.9999999999999999999999999999999999999E+125", "9007199254740992", "9007199254740993",
                     "253402300799999", "253402300800000", "-1", "1e999999", "0.1", "1.5e-7"]),
    st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda digit, count: digit * count, st.sampled_from("179"), st.integers(15, 6000)))


def json_string(text: str, ascii_only: bool = True) -> str:
    # ensure_ascii spells a lone surrogate "\ud800", as a JavaScript client's JSON.stringify does;
    # without it the surrogate reaches the body's bytes (invalid UTF-8).
    return json.dumps(text, ensure_ascii=ascii_only)


JSON_STRINGS = st.builds(json_string, HOSTILE_TEXT, st.sampled_from([True] * 9 + [False]))
JSON_SCALARS = st.one_of(JSON_STRINGS, NUMBER_TOKENS, st.sampled_from(["true", "false", "null"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
                            st.lists(st.tuples(JSON_STRINGS, inner), max_size=4).map(
                                lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}")),
    max_leaves=5)
DEEP = st.builds(lambda depth, pair: pair[0] * depth + "1" + pair[1] * depth,
                 st.one_of(st.integers(5, 12), st.integers(13, 31_000)), st.sampled_from([("[", "]"), ('{"a":', "}")]))
ANY_JSON = st.sampled_from([False] * 9 + [True]).flatmap(lambda deep: DEEP if deep else JSON_VALUES)

# --- events: each field plausible (to be stored) or hostile (to be refused) ---

URL_PARTS = st.sampled_from(["", "pricing", "a b", "%00", "%ED%A0%80", "%FF", "caf%C3%A9", "\u00e9", "x" * 2100,
                             "?utm_source=news%00letter&utm_medium=%ED%A0%80&utm_campaign=%0A",
                             "?utm_source=google&utm_medium=cpc", "#frag", "\ud800", "\x00", "\n"])
TIMES_AROUND_NOW = st.integers(-26 * 3_600_000, 10 * 60_000).map(lambda offset: int(time.time() * 1000) + offset)
PLAUSIBLE = {
    "event_type": st.sampled_from(["page_view", "page_view", "signup", "engagement", "add_to_cart", "x" * 64]),
    "page_url": st.builds("https://shop.example/{}{}".format, URL_PARTS, URL_PARTS),
    "user_id": st.one_of(st.sampled_from(["u-1", "u-2", "ann", "\U0001F600" * 128]), st.text(max_size=20)),
    "event_id": st.uuids().map(str),
    "timestamp": st.one_of(TIMES_AROUND_NOW, TIMES_AROUND_NOW.map(
        lambda ms: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000)))),
    "referrer": st.sampled_from(["https://www.google.com/", "android-app://com.google.android.gm/",
                                 "https://t.co/x", "https://%ED%A0%80.example/", "https://shop.example/"]),
    "title": st.one_of(st.text(max_size=40), st.just("line\nbreak\ttab")),
    "site": st.sampled_from(["demo", "demo", "nope"]),
    "properties": st.dictionaries(st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
                                  st.one_of(st.integers(-(2**53), 2**53), st.floats(-1e15, 1e15), st.booleans(),
                                            st.none(), st.text(max_size=30)), max_size=5),
}
FIELD_NAMES = st.one_of(st.sampled_from(sorted(PLAUSIBLE)), st.sampled_from(["ip", "Event_Type", "events", ""]),
                        HOSTILE_TEXT)


def mostly(usual, rare, rare_in_10: int = 2):
    # The usual case first: hypothesis leans towards the start of a sampled list.
    return st.sampled_from([False] * (10 - rare_in_10) + [True] * rare_in_10).flatmap(
        lambda is_rare: rare if is_rare else usual)


@st.composite
def field_value(draw, name: str) -> str:
    return draw(mostly(PLAUSIBLE[name].map(json.dumps), st.one_of(JSON_SCALARS, ANY_JSON), 3)
                if name in PLAUSIBLE else st.one_of(JSON_SCALARS, ANY_JSON))


@st.composite
def events(draw) -> str:
    """An event of plausible and hostile fields, unknown ones among them."""
    names = draw(st.lists(st.one_of(st.sampled_from(["event_type", "page_url", "event_id"]), FIELD_NAMES),
                          max_size=8, unique=True))
    members = [f"{json_string(name)}:{draw(field_value(name))}" for name in names]
    return "{" + ",".join(members) + "}"


GOOD_EVENTS = st.builds(
    lambda event_type, path, event_id, extra: json.dumps(
        {"event_type": event_type, "page_url": f"https://shop.example/{path}", **event_id, **extra}),
    st.sampled_from(["page_view", "page_view", "signup", "engagement"]),
    st.sampled_from(["", "pricing", "docs/a b", "caf%C3%A9", "?utm_source=news%00letter&utm_medium=%ED%A0%80",
                     "?utm_source=google&utm_medium=cpc", "\u00e9t\u00e9"]),
    st.sampled_from([{}, {}, {"event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}]).flatmap(  # resent: duplicates
        lambda given: st.just(given) if given else st.one_of(st.just({}), st.uuids().map(
            lambda u: {"event_id": str(u)}))),
    st.fixed_dictionaries({}, optional={name: PLAUSIBLE[name] for name in
                                        ("timestamp", "referrer", "title", "properties")}))
CONTENT_TYPES = mostly(st.sampled_from(["application/json", "text/plain;charset=UTF-8", "TEXT/PLAIN"]),
                       st.one_of(st.sampled_from(["application/x-www-form-urlencoded", "", "text/html",
                                                  "application/json; x=1"]), HOSTILE_TEXT))
USER_AGENTS = mostly(st.sampled_from([BROWSER_UA, BROWSER_UA, "curl/8.5.0", "Mozilla/5.0 (compatible; Googlebot/2.1)"]),
                     st.builds(lambda piece, times: (piece * times)[:10_240],
                               st.one_of(st.sampled_from(["0", "a-", "Mozilla/5.0 (", BROWSER_UA]), HOSTILE_TEXT),
                               st.integers(1, 10_240)), 3)
ORIGINS = mostly(st.sampled_from([None, ALLOWED_ORIGIN]),
                 st.sampled_from(["https://evil.example", "null", "\ud800"]), 1)


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict
    event_count: int | None  # how many statuses the answer must hold, when the body is a batch we built


@st.composite
def requests(draw) -> Request:
    kind = draw(st.sampled_from(["batch"] * 10 + ["single"] * 4 + ["any_json"] * 3 + ["bytes"] * 2 + ["too_many"]))
    count = None
    if kind == "single":
        text = draw(mostly(GOOD_EVENTS, events(), 5))
        count = None if '"events":' in text else 1  # an "events" member makes it a batch
    elif kind == "batch":
        batch = draw(st.lists(mostly(GOOD_EVENTS, st.one_of(events(), ANY_JSON), 5), min_size=1, max_size=8))
        text, count = '{"events":[' + ",".join(batch) + "]}", len(batch)
    elif kind == "too_many":
        text = '{"events":[' + ",".join(['{"event_type":"x"}'] * draw(st.integers(101, 130))) + "]}"
    elif kind == "any_json":
        text = draw(ANY_JSON)
    else:
        text = draw(st.binary(max_size=40)).decode("latin-1")
    body = text.encode("utf-8", "surrogatepass") + b" " * draw(st.sampled_from([0] * 19 + [65_537]))
    headers = {"Content-Type": draw(CONTENT_TYPES), "User-Agent": draw(USER_AGENTS)}
    origin = draw(ORIGINS)
    if origin is not None:
        headers["Origin"] = origin
    return Request(body, headers, count if count and count <= 100 and len(body) <= 65_536 else None)


# --- what each request wrote ---

@dataclass
class Writes:
    event_keys: set = field(default_factory=set)
    stats_added: Counter = field(default_factory=Counter)  # counter name -> what the request added
    session_events: dict = field(default_factory=dict)  # session id -> its event count as last written


class Recording:
    """The moto client, noting every event and session write a request makes, whatever the
    operation (single, batch or transactional writes)."""

    def __init__(self, client) -> None:
        self._client, self.writes = client, Writes()

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _note(self, table: str, item: dict) -> None:
        if table == EVENTS.name(STAGE) and not item["pk"]["S"].startswith("salt#"):
            self.writes.event_keys.add(item["pk"]["S"])
        elif table == SESSIONS.name(STAGE):
            self.writes.session_events[item["session_id"]["S"]] = int(item["events"]["N"])

    def batch_write_item(self, **kwargs):
        response = self._client.batch_write_item(**kwargs)
        for table, requests_ in kwargs["RequestItems"].items():
            for request_ in requests_:
                self._note(table, request_["PutRequest"]["Item"])
        return response

    def put_item(self, **kwargs):
        response = self._client.put_item(**kwargs)  # a failed condition raises: then nothing was written
        self._note(kwargs["TableName"], kwargs["Item"])
        return response

    def transact_write_items(self, **kwargs):
        response = self._client.transact_write_items(**kwargs)  # all or nothing
        for action in kwargs["TransactItems"]:
            if "Put" in action:
                self._note(action["Put"]["TableName"], action["Put"]["Item"])
        return response


def stats_totals(dynamodb) -> Counter:
    """What the minute statistics count, whatever their item layout: read from moto's in-process
    store, since a Scan through its response serialiser would cost seconds per request."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][dynamodb.meta.region_name].get_table(STATS.name(STAGE))
    totals: Counter = Counter()
    for item in table.all_items():
        attributes = item.to_json()["Attributes"]
        if "#m#" in attributes["pk"]["S"]:
            totals.update({name: int(attributes[name]["N"]) for name in ("events", "pageviews") if name in attributes})
    return totals


@dataclass
class Ledger:
    """What the answers said, over the whole run."""

    accepted_keys: set = field(default_factory=set)
    page_views: int = 0
    session_events: Counter = field(default_factory=Counter)  # session id -> events accepted into it
    statuses: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    event_statuses: Counter = field(default_factory=Counter)


def check_error(status: int, body: dict) -> None:
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"], body
    expected_field = DOCUMENTED_ERRORS[status][error["code"]]
    assert isinstance(error["field"], str), body  # "" when the client's own unknown key is ""
    assert expected_field in (None, error["field"]), body
    if error["code"] == "invalid_event":  # every event invalid: the first one's field
        assert error["field"] == body["events"][0]["field"], body


def check_statuses(request: Request, body: dict) -> None:
    statuses = body["events"]
    assert request.event_count in (None, len(statuses)), (request.event_count, body)
    assert {name: body[name] for name in STATUSES} == {n: sum(s["status"] == n for s in statuses) for n in STATUSES}
    for status in statuses:
        kind = status["status"]
        assert kind in ("accepted", "duplicate", "invalid", "dropped"), status  # never retry: moto is up
        if kind == "accepted":
            assert set(status) == {"status", "event_id", "session_id"}, status
        elif kind == "invalid":
            assert {"field", "code", "reason"} <= set(status) <= {"status", "event_id", "field", "code", "reason"}
            assert status["code"] != "unstorable", status  # validation must have refused it first
        elif kind == "dropped":
            assert status["reason"] == "bot", status


def check_stored(dynamodb, accepted: list[dict], writes: Writes) -> list[dict]:
    keys = {event_key(SITE, s["event_id"]) for s in accepted}
    assert writes.event_keys == keys  # nothing invalid, dropped or duplicate was written
    if not keys:
        assert writes.stats_added == Counter()
        return []
    got = dynamodb.batch_get_item(RequestItems={EVENTS.name(STAGE): {
        "Keys": [{"pk": {"S": k}} for k in keys], "ProjectionExpression": "pk, event_type", "ConsistentRead": True}})
    stored = [from_item(item) for item in got["Responses"][EVENTS.name(STAGE)]]
    assert {e["pk"] for e in stored} == keys  # every accepted event reads back
    assert writes.stats_added["events"] == len(keys)
    assert writes.stats_added["pageviews"] == sum(e["event_type"] == "page_view" for e in stored)
    return stored


def check_sessions(ledger: Ledger, writes: Writes) -> None:
    """Each session the request wrote counts exactly the events answered `accepted` into it, over
    the whole run: an invalid, dropped or duplicate event counted there would make it more."""
    assert writes.session_events == {s: ledger.session_events[s] for s in writes.session_events}


def scan(dynamodb, table: str) -> list[dict]:
    items, kwargs = [], {}
    while True:
        page = dynamodb.scan(TableName=table, **kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def check_tables(dynamodb, ledger: Ledger) -> None:
    """The whole tables against every answer of the run: nothing stored or counted unanswered."""
    events = [e for e in scan(dynamodb, EVENTS.name(STAGE)) if not e["pk"].startswith("salt#")]
    assert {e["pk"] for e in events} == ledger.accepted_keys
    sessions = scan(dynamodb, SESSIONS.name(STAGE))
    assert {s["session_id"]: s["events"] for s in sessions} == dict(ledger.session_events)
    minutes = [b for b in scan(dynamodb, STATS.name(STAGE)) if "#m#" in b["pk"]]
    assert sum(b.get("events", 0) for b in minutes) == len(ledger.accepted_keys)
    assert sum(b.get("pageviews", 0) for b in minutes) == ledger.page_views


def test_no_hostile_request_gets_a_5xx_or_stores_what_it_did_not_accept(api, dynamodb, wire, capsys,
                                                                        record_property):
    recording = Recording(dynamodb)
    wire(recording)
    ledger = Ledger()

    @settings(max_examples=CASES, derandomize=True, database=None, deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(requests())
    def send_one(request: Request) -> None:
        recording.writes, counted_before = Writes(), stats_totals(dynamodb)
        response = api.http.post("/events", headers=request.headers, body=request.body)
        recording.writes.stats_added = stats_totals(dynamodb) - counted_before
        ledger.statuses[response.status_code] += 1
        assert response.status_code < 500, (request, response.body)
        assert response.headers["Content-Type"] == "application/json"
        body = json.loads(response.body)
        if response.status_code != 200:
            check_error(response.status_code, body)
            ledger.codes[body["error"]["code"]] += 1
        accepted = []
        if "events" in body:
            check_statuses(request, body)
            accepted = [s for s in body["events"] if s["status"] == "accepted"]
            ledger.event_statuses.update(s["status"] for s in body["events"])
        stored = check_stored(dynamodb, accepted, recording.writes)
        ledger.accepted_keys.update(e["pk"] for e in stored)
        ledger.page_views += sum(e["event_type"] == "page_view" for e in stored)
        ledger.session_events.update(s["session_id"] for s in accepted)
        check_sessions(ledger, recording.writes)

    started = time.perf_counter()
    send_one()
    check_tables(dynamodb, ledger)
    cases_run = sum(ledger.statuses.values())
    record_property("fuzz_events_cases", cases_run)
    with capsys.disabled():
        print(f"\nPOST /events fuzz: {cases_run} requests in {time.perf_counter() - started:.0f} s, "
              f"5xx: {sum(n for s, n in ledger.statuses.items() if s >= 500)}; by status {dict(ledger.statuses)}; "
              f"events {dict(ledger.event_statuses)}; errors {dict(ledger.codes)}")
    assert cases_run == CASES
    # Both sides were reached: stored events and every kind of refusal.
    assert ledger.event_statuses["accepted"] > CASES // 10 and ledger.event_statuses["invalid"] > CASES // 4
    assert min(ledger.event_statuses[s] for s in ("duplicate", "dropped")) > 0
    assert set(ledger.codes) >= {"malformed_json", "too_deep", "invalid_shape", "too_many_events", "invalid_event",
                                 "forbidden_origin", "payload_too_large", "unsupported_media_type"}

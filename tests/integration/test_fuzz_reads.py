"""Property-based: thousands of hostile requests to every read route, through the real app on moto.

Never a 5xx, unless the test broke the store (then a 503 with Retry-After); every error in
LiveInsight's JSON shape, naming the parameter at fault; an unknown parameter never ignored.
The seed is fixed (FUZZ_SEED) and the example database off, so every run sends the same kinds of
requests; each test prints how many it sent.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, quote_plus, urlparse

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from chalicelib.http.params import MAX_PAGE_SIZE, encode_cursor
from chalicelib.stats.buckets import DIMENSIONS
from tests.integration.conftest import TOKEN
from tests.integration.test_post_events import FailingWrites
from tests.integration.test_read_params import shared_stack

FUZZ_SEED = 11  # issue 11, "Hostile input: no 5xx"
QUERY_CASES, PATH_CASES, HEADER_CASES, BROKEN_STORE_CASES = 3000, 1200, 600, 400
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Route:
    template: str  # "{}" marks the path parameter
    path_field: str | None
    names: tuple[str, ...]  # the query parameters it takes
    token: bool
    strict_query: bool = True  # the demo pages leave their query string to the page (utm tags)


ROUTES = (
    Route("/health", None, (), False),
    Route("/sessions/{}", "session_id", (), True),
    Route("/visitors/{}/sessions", "visitor_id", ("site", "limit", "cursor"), True),
    Route("/stats/sites", None, (), True),
    Route("/stats/realtime", None, ("site",), True),
    Route("/stats", None, ("site", "from", "to", "interval"), True),
    Route("/stats/breakdown", None, ("site", "from", "to", "interval", "by", "limit"), True),
    Route("/dashboard", None, (), False, strict_query=False),  # the page's own state (site, period, filters)
    Route("/dashboard/{}", "asset", (), False),
    Route("/liveinsight.js", None, ("v",), False, strict_query=False),  # websites add cache busters
    Route("/demo", None, (), False, strict_query=False),
    Route("/demo/{}", "view", (), False, strict_query=False),
)
ALL_NAMES = sorted({name for route in ROUTES for name in route.names})

# --- values: plausible ones reach the deep checks, hostile ones try to get past them ---

UNICODE_DIGITS = st.sampled_from(["²", "٣", "१२", "０", "𝟙𝟚", "߀", "¹²³", "Ⅻ", "½", "፩", "١٧٩٥٧٠٠٠٠٠٠٠٠"])
NASTY = st.sampled_from([
    "", " ", "null", "undefined", "true", "[]", "{}", "%", "%%", "%zz", "%00", "%C2%B2", "\x00", "../..",
    "' OR 1=1 --", "<script>alert(1)</script>", "${jndi:ldap://x}", "NaN", "Infinity", "-0", "+1", "0x1F",
    "1e3", "1_000", " 5", "5 ", "٣", "\u202e", "\ufeff1", "\udc80", "a\nb", "demo\x00", "DEMO", "démo",
])
NUMBERS = st.one_of(st.integers(-(10**20), 10**20), st.integers(10**15, 10**250)).map(str)
FLOATS = st.floats(allow_nan=True, allow_infinity=True).map(repr)
ANY_TEXT = st.one_of(st.text(st.characters(), max_size=24), st.text(max_size=300, min_size=200))
# Drawn just before the request is sent, so "now" is the app's now too (within milliseconds).
EPOCHS_AROUND_NOW = st.integers(-500 * DAY_MS, 3 * DAY_MS).map(lambda offset: str(int(time.time() * 1000) + offset))
MOMENTS = st.datetimes(min_value=datetime(1999, 12, 1), max_value=datetime(2031, 1, 1),
                       timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-14)),
                                                  timezone(timedelta(hours=5, minutes=45))]))
ANCHORS_MS = st.one_of(st.integers(0, 10**16), st.sampled_from([0, 946_684_800_000, 253_402_214_400_000, 10**15]))
SORT_KEYS = st.from_regex(r"[0-9]{10}(~[0-9a-f]{8})?", fullmatch=True)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=6)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


CURSORS = st.one_of(SORT_KEYS.map(encode_cursor), st.binary(max_size=90).map(_b64),
                    JSON_VALUES.map(lambda v: _b64(json.dumps(v).encode())),
                    st.dictionaries(st.sampled_from(["sk", "pk", "SK"]), JSON_VALUES, max_size=2)
                    .map(lambda v: _b64(json.dumps(v).encode())))
PLAUSIBLE = {
    "site": st.sampled_from(["demo", "demo", "nope", "Demo"]),
    "from": st.one_of(EPOCHS_AROUND_NOW, MOMENTS.map(datetime.isoformat),
                      MOMENTS.map(lambda m: m.date().isoformat())),
    "interval": st.sampled_from(["minute", "hour", "day", "week", "Minute", "day "]),
    "by": st.sampled_from([*DIMENSIONS, "planet", "Page", "page "]),
    "limit": st.integers(-5, MAX_PAGE_SIZE + 5).map(str),
    "cursor": CURSORS,
    "v": st.sampled_from(["0000", "abc123", "<x>", "../.."]),
}
PLAUSIBLE["to"] = PLAUSIBLE["from"]
HOSTILE = st.one_of(UNICODE_DIGITS, NASTY, NUMBERS, FLOATS, ANY_TEXT, CURSORS)
NAMES = st.one_of(st.sampled_from([*ALL_NAMES, "x", "", "SITE", "from[]", "fróm", "utm_source", "limit ", "site\x00",
                                   "_", "callback", "a" * 100]), st.text(st.characters(), max_size=12))

# How a value reaches the URL: encoded as a browser would, with '+' for spaces, or left raw (only the
# characters that would split the query are escaped; a raw '%' makes broken escapes).
ENCODINGS = st.sampled_from(["quote", "plus", "raw"])


def _encode(text: str, how: str) -> str:
    if how == "quote":
        return quote(text, safe="", errors="surrogatepass")
    if how == "plus":
        return quote_plus(text, safe="", errors="surrogatepass")
    return text.replace("&", "%26").replace("#", "%23").replace("=", "%3D")


@st.composite
def query_strings(draw, route: Route, plausible: bool = False) -> str:
    """Each of the route's own parameters or not, with a value near a valid one or a hostile one; one
    time in four, extra names too (unknown ones, or a repeat). `plausible` ones only take the route's
    parameters with values near valid ones, so that many pass the checks and reach the store."""
    parts = [(name, draw(PLAUSIBLE[name] if plausible else st.one_of(PLAUSIBLE[name], HOSTILE)))
             for name in route.names if draw(st.booleans())]
    if "to" in route.names and draw(st.integers(0, 2)) == 2:  # a short range anywhere, up to the year 318,857
        from_ms, span_ms = draw(ANCHORS_MS), draw(st.integers(1, 401 * DAY_MS))
        parts = [p for p in parts if p[0] not in ("from", "to")]
        parts += [("from", str(from_ms)), ("to", str(from_ms + span_ms))]
    if not plausible and draw(st.integers(0, 3)) == 3:
        names = st.one_of(NAMES, st.sampled_from(route.names)) if route.names else NAMES
        parts += [(draw(names), draw(HOSTILE)) for _ in range(draw(st.integers(1, 3)))]
        parts = draw(st.permutations(parts))
    encoded = [f"{_encode(name, draw(ENCODINGS))}={_encode(value, draw(ENCODINGS))}" for name, value in parts]
    if not plausible and draw(st.integers(0, 9)) == 9:  # a stray piece of query syntax
        encoded.append(draw(st.sampled_from(["&", "=", "a", "a=b=c", "%", "&=&", "v", "site"])))
    return "&".join(encoded)


# Long values cheaply: a short piece repeated, up to about 8,000 characters (or 32 KB of UTF-8).
REPEATED = st.tuples(st.text(st.characters(), min_size=1, max_size=4), st.integers(1, 2000)).map(lambda p: p[0] * p[1])
PATH_VALUES = st.one_of(
    st.sampled_from(["0123456789abcdef0123", "0123456789ABCDEF0123", "anon-0123456789abcdef", "app.js", "app.css",
                     "dashboard.html", "pricing", "..", ".", "~", " ", "%", "%2F", "%zz", "%FF", "%C3", "%00",
                     "\udc80", "a\ud800b", "%ED%B2%80"]),
    UNICODE_DIGITS, st.text(st.characters(), min_size=1, max_size=40), REPEATED,
    st.text(st.characters(categories=["Cs", "Co", "Cn"]), min_size=1, max_size=8),
    st.binary(min_size=1, max_size=40).map(lambda b: b.decode("latin-1")))
AUTHORIZATIONS = st.one_of(
    st.sampled_from([None, "", "Bearer", "Bearer ", "bearer " + TOKEN, "BEARER " + TOKEN, "Bearer  " + TOKEN,
                     f"Bearer {TOKEN} ", f"Bearer {TOKEN}²", "Basic bG9jYWw6ZGV2", "Token " + TOKEN, TOKEN,
                     "Bearer \udc80", "Bearer " + "x" * 5000]),
    st.text(st.characters(), max_size=40), st.text(st.characters(), max_size=40).map("Bearer ".__add__))
OTHER_HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Accept", "If-None-Match", "Origin", "X-Forwarded-For"]),
    st.one_of(st.sampled_from(["text/plain", "application/octet-stream", "image/png", "*/*", "", ";;;", "null"]),
              st.text(max_size=30)), max_size=3)


@dataclass(frozen=True, repr=False)
class Case:
    route: Route
    path: str
    query: str
    headers: dict

    def __repr__(self) -> str:  # a failure report must stay readable with 8,000-character values
        return f"Case(url={self.url[:400]!r}, headers={ {k: v[:200] for k, v in self.headers.items()} })"

    @property
    def given_names(self) -> set[str]:
        """The parameter names the app receives (parsed as Chalice's test client does: urlparse also
        drops tabs and line breaks, as browsers do)."""
        return set(parse_qs(urlparse(self.url).query, keep_blank_values=True))

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@st.composite
def cases(draw, hostile_path=False, odd_headers=False, plausible=False) -> Case:
    route = draw(st.sampled_from([r for r in ROUTES if r.path_field] if hostile_path else ROUTES))
    path = route.template
    if route.path_field:
        valid = st.sampled_from(["0123456789abcdef0123", "ann", "app.js", "pricing"])
        value = draw(PATH_VALUES if hostile_path else st.one_of(valid, PATH_VALUES))
        how = draw(st.sampled_from(["quote", "raw"]))  # '+' is literal in a path
        # a raw '/' or '?' would reach another route or the query: API Gateway's business, not ours;
        # a raw ';' starts "path parameters" for chalice local's URL parser (urlparse), not for API Gateway
        encoded = _encode(value, how).replace("/", "%2F").replace("?", "%3F").replace(";", "%3B")
        path = path.format(encoded or "%20")
    query = draw(query_strings(route, plausible)) if not hostile_path else ""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if odd_headers or draw(st.integers(0, 9)) == 9:  # one in ten (Hypothesis favours 0)
        authorization = draw(AUTHORIZATIONS)
        headers = {} if authorization is None else {"Authorization": authorization}
        headers.update(draw(OTHER_HEADERS))
    return Case(route, path, query, headers)


class DynamoDBKeyRules:
    """The moto client, refusing keys as DynamoDB does and moto does not: a key string that is empty,
    longer than 2048 bytes (1024 for a sort key) or not UTF-8 is a ValidationException (which the app
    would answer with a 500), so a hostile id that slips through the parser is seen here."""

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name not in ("query", "get_item", "batch_get_item"):
            return real

        def call(**kwargs):
            for value, limit_bytes in self.key_strings(kwargs):
                try:
                    size = len(value.encode("utf-8"))
                except UnicodeEncodeError:
                    size = limit_bytes + 1
                if not 1 <= size <= limit_bytes:
                    raise ClientError({"Error": {"Code": "ValidationException",
                                                 "Message": f"key of {size} bytes"}}, name)
            return real(**kwargs)
        return call

    @staticmethod
    def key_strings(request: dict):
        """(string, byte limit) of every key value a read request names."""
        for key in [request.get("Key"), request.get("ExclusiveStartKey")] + [
                k for table in (request.get("RequestItems") or {}).values() for k in table["Keys"]]:
            for attribute, value in (key or {}).items():
                yield value["S"], 1024 if attribute == "sk" else 2048
        for value in (request.get("ExpressionAttributeValues") or {}).values():
            yield value["S"], 2048


@pytest.fixture(scope="module")
def stack():
    yield from shared_stack()


@pytest.fixture
def api(stack):
    stack.wire(DynamoDBKeyRules(stack.dynamodb))
    yield stack.http


def check(response, case: Case, store_broken: bool) -> None:
    status = response.status_code
    if store_broken and status >= 500:
        assert status == 503 and response.headers.get("Retry-After") == "2", (case, status, response.body)
    else:
        assert status < 500, (case, status, response.body)
    if status in (200, 304):
        return
    assert response.headers.get("Content-Type") == "application/json", (case, status, response.body)
    error = json.loads(response.body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), (case, error)
    named = {name[:64] for name in case.given_names} | set(case.route.names) | {case.route.path_field}
    expected_field = {400: named, 401: {"Authorization"}, 404: {case.route.path_field, "session_id"},
                      503: {None}}[status]
    assert error.get("field") in expected_field, (case, status, error)
    assert status != 401 or response.headers["WWW-Authenticate"].startswith("Bearer"), case
    authorized = not case.route.token or status != 401
    unknown = case.given_names - set(case.route.names)
    if unknown and case.route.strict_query and authorized:
        assert error["code"] == "unknown_parameter", (case, error)  # never silently ignored


def fuzz(api, stack, report, name: str, strategy, examples: int, store_broken: bool = False) -> Counter:
    """Sends `examples` generated requests, checking each answer; prints and records how many were
    sent and how many were 5xx. Returns the answers counted by (route, status)."""
    answers: Counter = Counter()

    @seed(FUZZ_SEED)
    @settings(max_examples=examples, database=None, deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(strategy)
    def send_one(case: Case) -> None:
        if store_broken:
            stack.wire(FailingWrites(DynamoDBKeyRules(stack.dynamodb), operation="query"))
        response = api.http.get(case.url, headers=case.headers)
        answers[case.route.template, response.status_code] += 1
        check(response, case, store_broken)

    send_one()
    statuses: Counter = Counter()
    for (_, status), count in answers.items():
        statuses[status] += count
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    report(name, statuses.total(), server_errors, dict(sorted(statuses.items())))
    assert statuses.total() == examples  # every example sent once: none filtered, none skipped
    return answers


@pytest.fixture
def report(capsys, record_property):
    def record(name: str, cases_run: int, server_errors: int, by_status: dict) -> None:
        record_property(f"{name}: cases", cases_run)
        record_property(f"{name}: 5xx", server_errors)
        with capsys.disabled():
            print(f"\n{name}: {cases_run} cases (seed {FUZZ_SEED}), 5xx: {server_errors}, by status: {by_status}")
    return record


def statuses_of(answers: Counter) -> set[int]:
    return {status for _, status in answers}


def test_no_query_string_gets_a_5xx(api, stack, report):
    answers = fuzz(api, stack, report, "query strings", cases(), QUERY_CASES)
    assert max(statuses_of(answers)) < 500 and {200, 400, 401, 404} <= statuses_of(answers)
    assert {route for route, _ in answers} == {route.template for route in ROUTES}


def test_no_path_parameter_gets_a_5xx(api, stack, report):
    answers = fuzz(api, stack, report, "path parameters", cases(hostile_path=True), PATH_CASES)
    assert max(statuses_of(answers)) < 500 and {200, 400, 404} <= statuses_of(answers)


def test_no_header_gets_a_5xx(api, stack, report):
    answers = fuzz(api, stack, report, "headers", cases(odd_headers=True), HEADER_CASES)
    assert max(statuses_of(answers)) < 500 and 401 in statuses_of(answers)


def test_a_broken_store_is_only_ever_a_503_with_retry_after(api, stack, report):
    answers = fuzz(api, stack, report, "broken store (503s expected)", cases(plausible=True), BROKEN_STORE_CASES,
                   store_broken=True)
    assert {s for s in statuses_of(answers) if s >= 500} == {503}

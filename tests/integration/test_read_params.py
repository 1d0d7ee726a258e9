"""Each strict rule of the read routes' parameters, one example at a time, through the real app:
a 400 naming the parameter for what a client got wrong, JSON 5xx only for a store failure or a bug."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.core.settings import Settings, load_settings
from chalicelib.schema.tables import create_tables
from chalicelib.services import Services, set_services
from chalicelib.stats.reader import StatsReader
from chalicelib.store import Backoff
from tests.conftest import stage_environment
from tests.integration.conftest import AUTH, STAGE

DAY_MS = 86_400_000
# Every route whose query string is its own (not the SDK script's or the demo pages', which websites shape).
STRICT_QUERY_ROUTES = ("/health", "/sessions/0123456789abcdef0123", "/visitors/ann/sessions", "/stats/sites",
                       "/stats/realtime", "/stats", "/stats/breakdown?by=page", "/dashboard/app.js")


@dataclass
class Stack:
    dynamodb: object
    settings: Settings
    http: object

    def wire(self, client=None, settings: Settings | None = None) -> None:
        set_services(Services(settings or self.settings, dynamodb_client=client or self.dynamodb,
                              backoff=Backoff(sleep=lambda _: None)))


def shared_stack() -> Iterator[Stack]:
    """One moto DynamoDB and app client for a whole module: these tests only read, and tables made
    once instead of per test keep hundreds of requests within seconds."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            create_tables(dynamodb, STAGE)
            with Client(app, stage_name=STAGE) as http:
                stack = Stack(dynamodb, load_settings(stage_environment(STAGE)), http)
                stack.wire()  # the app as every test starts it: the module's tables, the stage's settings
                yield stack
    set_services(None)


@pytest.fixture(scope="module")
def stack():
    yield from shared_stack()


@pytest.fixture
def api(stack):
    stack.wire()
    yield stack.http


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    error = json.loads(response.body)["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


def refused(api, path: str, field: str, code: str | None = None, headers=AUTH) -> dict:
    error = error_of(api.http.get(path, headers=headers), 400)
    assert error["field"] == field, error
    if code is not None:
        assert error["code"] == code, error
    return error


def now_ms() -> int:
    return int(time.time() * 1000)


def cursor_of(document) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "%EF%BC%91%EF%BC%92", "1e12", "-1", "0x10", "1_000",
                                   "2026-11-26T09:00:00", "2026-11-26T09:00:00+0100", "yesterday", "%00"])
def test_a_time_that_is_not_ascii_digits_or_iso_8601_is_a_400_naming_it(api, value):
    refused(api, f"/stats?from={value}", "from", "invalid_time")
    refused(api, f"/stats/breakdown?by=page&to={value}", "to", "invalid_time")


@pytest.mark.parametrize("value", ["253402300799000", "9999-12-31", "9999-12-31T23:59:59Z", "9" * 200, "0" * 200 + "1",
                                   "946684799999", "1999-12-31T23:59:59Z", "0"])
def test_a_time_before_2000_or_far_ahead_is_a_400(api, value):
    error = refused(api, f"/stats?to={value}", "to", "time_out_of_range")
    assert "2000-01-01" in error["message"]


def test_to_may_be_up_to_a_day_ahead_of_the_server_clock(api):
    now = now_ms()
    assert api.http.get(f"/stats?from={now - DAY_MS}&to={now + 3_600_000}", headers=AUTH).status_code == 200
    refused(api, f"/stats?from={now}&to={now + 2 * DAY_MS}", "to", "time_out_of_range")


def test_a_plus_sign_of_an_offset_arrives_as_a_space_and_still_counts(api):
    response = api.http.get("/stats?from=2026-11-26T09:00:00%2B01:00&to=2026-11-26T10:00:00+01:00", headers=AUTH)
    assert response.status_code == 200 and json.loads(response.body)["from"] == "2026-11-26T08:00:00Z"


def test_ranges(api, stack):
    now = now_ms()
    refused(api, f"/stats?from={now}&to={now - 1}", "from", "invalid_range")
    refused(api, f"/stats?from={now}&to={now}", "from", "invalid_range")
    # Longer than any interval allows and no interval given (this was a StopIteration, a 500).
    error = refused(api, f"/stats?from=2000-01-01&to={now}", "from", "range_too_long")
    assert "400 days" in error["message"]
    refused(api, f"/stats?from={now - 7 * 3_600_000}&to={now}&interval=minute", "interval", "range_too_long")
    stack.wire(settings=dataclasses.replace(stack.settings, event_retention_days=30))  # no longer than the data kept
    error = refused(api, f"/stats?from={now - 60 * DAY_MS}&to={now}&interval=day", "interval", "range_too_long")
    assert "30 days (the data kept)" in error["message"]
    assert api.http.get(f"/stats?from={now - 30 * DAY_MS}&to={now}", headers=AUTH).status_code == 200


@pytest.mark.parametrize("path, field, code", [
    ("/stats?interval=week", "interval", "invalid_interval"),
    ("/stats?interval=Minute", "interval", "invalid_interval"),
    ("/stats/breakdown", "by", "invalid_dimension"),
    ("/stats/breakdown?by=planet", "by", "invalid_dimension"),
    ("/stats/breakdown?by=page%00", "by", "invalid_dimension"),
    ("/stats/breakdown?by=page&limit=0", "limit", "invalid_limit"),
    ("/stats/breakdown?by=page&limit=101", "limit", "invalid_limit"),
    ("/stats/breakdown?by=page&limit=-1", "limit", "invalid_limit"),
    ("/stats/breakdown?by=page&limit=%C2%B2", "limit", "invalid_limit"),
    ("/stats/breakdown?by=page&limit=1e1", "limit", "invalid_limit"),
    ("/stats/breakdown?by=page&limit=" + "9" * 200, "limit", "invalid_limit"),
    ("/visitors/ann/sessions?limit=%D9%A3", "limit", "invalid_limit"),
    ("/stats/realtime?site=nope", "site", "unknown_site"),
    ("/stats?site=DEMO", "site", "unknown_site"),
    ("/visitors/ann/sessions?site=%C3%A9", "site", "unknown_site"),
])
def test_enumerations_and_numbers(api, path, field, code):
    refused(api, path, field, code)


@pytest.mark.parametrize("path", STRICT_QUERY_ROUTES)
def test_an_unknown_parameter_is_a_400_naming_it_on_every_route(api, path):
    separator = "&" if "?" in path else "?"
    error = refused(api, f"{path}{separator}sight=demo", "sight", "unknown_parameter")
    assert "'sight'" in error["message"]


def test_query_strings_are_taken_literally(api):
    refused(api, "/stats?site=demo&site=demo", "site", "duplicate_parameter")
    refused(api, "/stats?site=", "site", "empty_parameter")
    refused(api, "/stats?from", "from", "empty_parameter")
    refused(api, "/stats?to=" + "1" * 300, "to", "parameter_too_long")
    refused(api, "/stats?=demo", "", "unknown_parameter")
    error = refused(api, "/stats?" + "x" * 500 + "=1", "x" * 64, "unknown_parameter")
    assert len(error["message"]) < 200
    refused(api, "/stats?%C2%B2=1", "²", "unknown_parameter")


@pytest.mark.parametrize("cursor", [
    "%%%", "not base64!", "a", "YQ", cursor_of([1]), cursor_of({"sk": 1}), cursor_of({"sk": ""}),
    cursor_of({"sk": "0" * 65}), cursor_of({"sk": "a#b"}), cursor_of({"sk": "x", "pk": "y"}), cursor_of("sk"),
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(), "A" * 201,
])
def test_a_cursor_this_api_did_not_make_is_a_400(api, cursor):
    refused(api, f"/visitors/ann/sessions?cursor={cursor}", "cursor", "invalid_cursor")


def test_a_well_formed_cursor_pages_on(api):
    response = api.http.get(f"/visitors/ann/sessions?cursor={cursor_of({'sk': '0000000003'})}", headers=AUTH)
    assert response.status_code == 200 and json.loads(response.body)["sessions"] == []


@pytest.mark.parametrize("session_id", ["nope", "0123456789ABCDEF0123", "0123456789abcdef012", "0" * 21,
                                        "%2F" * 10, "%C2%B2" * 10, "0123456789abcdef012%30", "x" * 3000])
def test_a_session_id_is_20_hex_characters(api, session_id):
    refused(api, f"/sessions/{session_id}", "session_id", "invalid_session_id")


@pytest.mark.parametrize("visitor_id", ["x" * 129, "%FF", "%C3", "%zz", "100%", "%E9t%E9"])
def test_a_visitor_id_is_1_to_128_characters_of_percent_encoded_utf8(api, visitor_id):
    refused(api, f"/visitors/{visitor_id}/sessions", "visitor_id", "invalid_visitor_id")


@pytest.mark.parametrize("visitor_id, decoded", [("a%2Fb", "a/b"), ("%C3%A9t%C3%A9", "été"), ("x" * 128, "x" * 128),
                                                 ("anon-0123456789abcdef", "anon-0123456789abcdef")])
def test_any_user_id_post_events_accepts_can_be_looked_up(api, visitor_id, decoded):
    response = api.http.get(f"/visitors/{visitor_id}/sessions", headers=AUTH)
    assert response.status_code == 200 and json.loads(response.body)["visitor_id"] == decoded


def test_an_empty_visitor_id_is_a_400(api):
    refused(api, "/visitors//sessions", "visitor_id", "invalid_visitor_id")


@pytest.mark.parametrize("authorization, code", [
    (None, "missing_token"), ("", "missing_token"), ("Bearer", "missing_token"), ("Basic bG9jYWw=", "missing_token"),
    ("Bearer nope", "invalid_token"), ("Bearer local-dev-token²", "invalid_token"),
    ("Bearer \udc80", "invalid_token"), ("Bearer " + "x" * 10_000, "invalid_token"),
])
def test_odd_authorization_headers_are_a_401_before_any_parameter_is_read(api, authorization, code):
    headers = {} if authorization is None else {"Authorization": authorization}
    error = error_of(api.http.get("/stats?from=%C2%B2", headers=headers), 401)
    assert (error["code"], error["field"]) == (code, "Authorization")


def test_a_get_with_any_content_type_is_answered_by_us_not_chalice(api):
    response = api.http.get("/stats/sites", headers={**AUTH, "Content-Type": "text/x-nonsense"})
    assert response.status_code == 200


def test_a_store_failure_is_a_503_with_retry_after(api, stack):
    from tests.integration.test_post_events import FailingWrites

    stack.wire(FailingWrites(stack.dynamodb, operation="query"))
    for path in ("/stats", "/stats/realtime", "/stats/breakdown?by=page", "/sessions/0123456789abcdef0123"):
        response = api.http.get(path, headers=AUTH)
        assert error_of(response, 503)["code"] == "store_unavailable" and response.headers["Retry-After"] == "2"


def test_a_bug_is_a_logged_internal_error_in_our_json(api, monkeypatch, capsys):
    def broken(self, query):
        raise KeyError("a bug")

    monkeypatch.setattr(StatsReader, "summary", broken)
    error = error_of(api.http.get("/stats", headers=AUTH), 500)
    assert error["code"] == "internal_error" and "bug" not in error["message"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["level"] == "ERROR" and "get_stats" in line["message"] and "KeyError" in line["trace"]
               for line in logged)


def test_a_missing_static_file_is_a_json_500(api, monkeypatch, tmp_path):
    from chalicelib import static

    monkeypatch.setattr(static, "_HERE", tmp_path)  # a package that lost its files
    static.static_file.cache_clear()
    static.static_version.cache_clear()
    try:
        for path in ("/dashboard", "/dashboard/app.js", "/liveinsight.js", "/demo", "/demo/pricing"):
            assert error_of(api.http.get(path), 500)["code"] == "internal_error", path
    finally:
        static.static_file.cache_clear()
        static.static_version.cache_clear()


@pytest.mark.parametrize("path, field", [("/dashboard/secrets.txt", "asset"), ("/dashboard/dashboard.html", "asset"),
                                         ("/demo/%2E%2E%2Fsecrets", "view"), ("/demo/" + "a" * 65, "view")])
def test_a_page_that_is_not_ours_is_a_json_404(api, path, field):
    error = error_of(api.http.get(path), 404)
    assert (error["code"], error["field"]) == ("not_found", field)


def test_the_demo_keeps_its_query_string_for_the_page(api):
    assert api.http.get("/demo/pricing?utm_source=newsletter&utm_source=x").status_code == 200


def test_the_dashboard_keeps_its_query_string_for_the_page(api):
    # a bookmarked view: the page reads its own state; its assets stay strict
    page = api.http.get("/dashboard?site=demo&period=custom&from=2026-01-01&to=2026-01-31&f=is,visit:country,DE&f=x")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")


def test_the_sdk_takes_only_its_version(api):
    refused(api, "/liveinsight.js?v=", "v", "empty_parameter", headers={})
    refused(api, "/liveinsight.js?v=%3Cscript%3E", "v", "invalid_version", headers={})
    # A website's own cache buster on the script tag (WordPress: ?ver=) is not the SDK's business.
    assert api.http.get("/liveinsight.js?ver=6.7&cachebust=1").status_code == 200

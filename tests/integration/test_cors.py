"""CORS of POST and OPTIONS /events through the real app and moto: a page may read every error
(so its developer sees why), a success only from an allowed origin, and a refused write stores nothing."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from chalicelib.core.settings import SettingsError, parse_sites
from chalicelib.ingest.collector import IngestResult
from tests.integration.conftest import post, stored_events
from tests.integration.test_post_events import GOOGLEBOT, FailingWrites

ALLOWED = "http://127.0.0.1:8000"  # the local stage's demo site
DISALLOWED = "https://evil.example"
WRITES = {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"}


def page_view(**fields):
    return {"event_type": "page_view", "page_url": "https://shop.example/", "event_id": str(uuid.uuid4()),
            **fields}


def body(response) -> dict:
    return json.loads(response.body)


def assert_readable_by(response, origin):
    """The page at `origin` can read the answer, and the answer grants nothing else."""
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def assert_nothing_written(dynamodb, counter):
    assert stored_events(dynamodb) == []
    assert not WRITES & set(counter.calls), counter.calls


# (request, status, error code, field): every error POST /events answers on its own.
ERRORS = [
    pytest.param({"raw": b'{"event_type": "page_view",'}, 400, "malformed_json", "body", id="malformed_json"),
    pytest.param({"raw": b'"just a string"'}, 400, "invalid_shape", "body", id="invalid_shape"),
    pytest.param({"document": {"events": [page_view()], "x": 1}}, 400, "unknown_field", "x", id="unknown_field"),
    pytest.param({"document": {"events": [page_view()] * 101}}, 400, "too_many_events", "events",
                 id="too_many_events"),
    pytest.param({"document": {"event_type": "page_view"}}, 400, "invalid_event", "page_url", id="invalid_event"),
    pytest.param({"document": page_view(site="nope")}, 400, "invalid_event", "site", id="unknown_site"),
    pytest.param({"raw": b"x" * (64 * 1024 + 1)}, 413, "payload_too_large", "body", id="payload_too_large"),
    pytest.param({"document": page_view(), "content_type": "application/x-www-form-urlencoded"}, 415,
                 "unsupported_media_type", "Content-Type", id="unsupported_media_type"),
    pytest.param({"document": page_view(), "content_type": None}, 415, "unsupported_media_type", "Content-Type",
                 id="no_content_type"),
]


@pytest.mark.parametrize("origin", [ALLOWED, DISALLOWED])
@pytest.mark.parametrize("request_, status, code, field", ERRORS)
def test_every_error_is_readable_by_the_posting_page_and_stores_nothing(api, dynamodb, counter, origin, request_,
                                                                          status, code, field):
    response = post(api, **request_, headers={"Origin": origin})
    assert response.status_code == status
    assert (body(response)["error"]["code"], body(response)["error"]["field"]) == (code, field)
    assert_readable_by(response, origin)
    assert_nothing_written(dynamodb, counter)


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/json"])
def test_a_disallowed_origin_reads_why_and_how_to_fix_it_and_nothing_is_stored(api, dynamodb, counter,
                                                                               content_type):
    response = post(api, page_view(), content_type=content_type, headers={"Origin": DISALLOWED})
    assert response.status_code == 403
    assert_readable_by(response, DISALLOWED)
    error = body(response)["error"]
    assert (error["code"], error["field"]) == ("forbidden_origin", "Origin")
    assert error["message"] == (
        "origin 'https://evil.example' may not send events for site 'demo': add \"https://evil.example\" to "
        "the \"origins\" of site 'demo' in LIVEINSIGHT_SITES (exported in the shell, or the local stage of "
        ".chalice/config.json), then restart make local")
    assert_nothing_written(dynamodb, counter)


def test_an_origin_of_another_site_is_refused_for_this_one_and_reads_which(api, dynamodb, counter, wire, settings):
    two_sites = parse_sites(json.dumps({"demo": {"origins": [ALLOWED]},
                                        "shop": {"origins": ["https://shop.example"]}}))
    wire(settings_=dataclasses.replace(settings, sites=two_sites))
    response = post(api, page_view(site="demo"), headers={"Origin": "https://shop.example"})
    assert response.status_code == 403
    assert_readable_by(response, "https://shop.example")
    assert "for site 'demo'" in body(response)["error"]["message"]
    assert_nothing_written(dynamodb, counter)


def test_in_a_deployed_stage_the_fix_names_its_tfvars_and_make_deploy(api, dynamodb, counter, wire, settings):
    wire(settings_=dataclasses.replace(settings, stage="prod"))
    refused = body(post(api, page_view(), headers={"Origin": DISALLOWED}))["error"]["message"]
    assert refused.endswith("of site 'demo' in sites_json in terraform/environments/prod.tfvars, "
                            "then make deploy STAGE=prod")
    unknown = body(post(api, page_view(site="blog"), headers={"Origin": DISALLOWED}))["events"][0]["reason"]
    assert unknown == ("site 'blog' is not configured: add \"blog\": {\"origins\": [\"https://evil.example\"]} to "
                       "sites_json in terraform/environments/prod.tfvars, then make deploy STAGE=prod "
                       "(GET /stats/sites with the API token lists the configured sites)")
    assert_nothing_written(dynamodb, counter)


@pytest.mark.parametrize("origin", [ALLOWED, DISALLOWED])
def test_an_unknown_site_reads_its_id_and_how_to_add_it(api, dynamodb, counter, origin):
    response = post(api, {"events": [page_view(site="my-blog"), page_view(site="my-blog")]},
                    content_type="text/plain", headers={"Origin": origin})
    assert response.status_code == 400
    assert_readable_by(response, origin)
    answer = body(response)
    reason = (f"site 'my-blog' is not configured: add \"my-blog\": {{\"origins\": [\"{origin}\"]}} to "
              "LIVEINSIGHT_SITES (exported in the shell, or the local stage of .chalice/config.json), then restart "
              "make local (GET /stats/sites with the API token lists the configured sites)")
    statuses = [(s["status"], s["code"], s["reason"]) for s in answer["events"]]
    assert statuses == [("invalid", "unknown_site", reason)] * 2
    assert answer["error"] == {"code": "invalid_event", "field": "site", "message": f"site: {reason}"}
    assert "demo" not in response.body.decode()  # the configured sites are not listed to anyone
    assert_nothing_written(dynamodb, counter)


def test_a_success_is_readable_only_by_an_allowed_origin(api, dynamodb):
    allowed = post(api, page_view(), headers={"Origin": ALLOWED})
    assert allowed.status_code == 200
    assert_readable_by(allowed, ALLOWED)
    assert len(stored_events(dynamodb)) == 1
    curl = post(api, page_view())  # no Origin: not a browser, no CORS headers
    assert curl.status_code == 200 and "Access-Control-Allow-Origin" not in curl.headers
    assert curl.headers["Vary"] == "Origin"


def test_a_2xx_never_names_a_disallowed_origin_even_if_the_collector_answered_one(api, wire):
    class Accepting:  # a collector that wrongly accepts: the HTTP layer still withholds the header
        def collect(self, request):
            return IngestResult(200, {"accepted": 1})

    wire().__dict__["collector"] = Accepting()
    response = post(api, page_view(), headers={"Origin": DISALLOWED})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers and response.headers["Vary"] == "Origin"


def test_a_bots_events_from_a_disallowed_origin_are_refused_not_dropped(api, dynamodb, counter):
    response = post(api, page_view(), headers={"Origin": DISALLOWED, "User-Agent": GOOGLEBOT})
    assert response.status_code == 403 and body(response)["error"]["code"] == "forbidden_origin"
    assert_readable_by(response, DISALLOWED)
    assert_nothing_written(dynamodb, counter)


def test_a_503_is_readable_with_its_retry_after(api, dynamodb, wire):
    wire(FailingWrites(dynamodb))
    response = post(api, page_view(), headers={"Origin": ALLOWED})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert body(response)["error"]["code"] == "store_unavailable"
    assert_readable_by(response, ALLOWED)
    assert stored_events(dynamodb) == []


def test_a_disallowed_origin_is_refused_before_any_write_is_tried(api, dynamodb, wire):
    wire(FailingWrites(dynamodb))
    response = post(api, page_view(), headers={"Origin": DISALLOWED})
    assert response.status_code == 403
    assert_readable_by(response, DISALLOWED)


@pytest.mark.parametrize("origin", [ALLOWED, DISALLOWED])
def test_a_500_is_readable(api, wire, origin):
    class Failing:  # a bug anywhere in the collector, before or after the origin check
        def collect(self, request):
            raise RuntimeError("boom")

    wire().__dict__["collector"] = Failing()
    response = post(api, page_view(), headers={"Origin": origin})
    assert response.status_code == 500
    assert body(response)["error"]["code"] == "internal_error"
    assert_readable_by(response, origin)


def test_broken_settings_still_answer_a_readable_json_500(api, monkeypatch, capsys):
    def broken():
        raise SettingsError("LIVEINSIGHT_SITES is not valid JSON")

    monkeypatch.setattr("app.get_services", broken)
    response = post(api, page_view(), headers={"Origin": DISALLOWED})
    assert response.status_code == 500
    assert body(response)["error"]["code"] == "internal_error"
    assert "LIVEINSIGHT_SITES" not in response.body.decode()  # the deployment's mistake is in the log only
    assert_readable_by(response, DISALLOWED)
    assert "SettingsError" in capsys.readouterr().out


def test_errors_to_non_browsers_and_odd_origins_carry_no_allow_origin(api):
    for headers in ({}, {"Origin": "not an origin"}, {"Origin": "https://a.example/path"}):
        response = post(api, raw=b"{bad", headers=headers)
        assert response.status_code == 400
        assert "Access-Control-Allow-Origin" not in response.headers and response.headers["Vary"] == "Origin"
    null = post(api, raw=b"{bad", headers={"Origin": "null"})  # file:// pages and sandboxed frames
    assert_readable_by(null, "null")


def preflight(api, origin=None):
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    return api.http.request("OPTIONS", "/events", headers={**headers, **({"Origin": origin} if origin else {})})


@pytest.mark.parametrize("origin", [ALLOWED, DISALLOWED])
def test_every_origins_preflight_passes_so_the_post_can_say_why_it_is_refused(api, dynamodb, counter, origin):
    answer = preflight(api, origin)
    assert answer.status_code == 204 and answer.body == b""
    assert_readable_by(answer, origin)
    assert (answer.headers["Access-Control-Allow-Methods"], answer.headers["Access-Control-Allow-Headers"],
            answer.headers["Access-Control-Max-Age"]) == ("POST, OPTIONS", "Content-Type", "86400")
    # What the browser sends next: the write itself is decided by the per-site origin check.
    response = post(api, page_view(), headers={"Origin": origin})
    assert response.status_code == (200 if origin == ALLOWED else 403)
    assert_readable_by(response, origin)
    assert len(stored_events(dynamodb)) == (1 if origin == ALLOWED else 0)


def test_an_options_request_without_origin_is_not_a_preflight(api):
    answer = preflight(api)
    assert answer.status_code == 204 and answer.headers["Allow"] == "POST, OPTIONS"
    assert "Access-Control-Allow-Origin" not in answer.headers

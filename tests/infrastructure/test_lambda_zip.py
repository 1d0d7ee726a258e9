"""The Lambda package runs alone: every handler chalice.tf.json names, invoked from the unzipped
deployment.zip in a clean Python with only the Lambda runtime's packages (deploy/verify/lambda_check.py),
and the check fails, naming the problem, when the package is broken."""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from deploy.verify.lambda_check import CheckError, check, format_report, functions
from deploy.verify.lambda_events import (
    SAMPLES_DIR,
    MalformedProxyAnswer,
    api_calls,
    gateway_answer,
    realtime_call,
    scheduled_call,
)
from deploy.verify.lambda_runtime import RUNTIME_DISTRIBUTIONS, clean_python, probe, runtime_packages

# What each request must get (deploy/verify/lambda_events.py names them).
EXPECTED_STATUS = {
    "POST /{stage}/events (application/json, server side)": 200,
    "POST /{stage}/events (text/plain, browser beacon)": 200,
    "OPTIONS /{stage}/events (Origin https://www.example.com)": 204,
    "GET /{stage}/health": 200,
    "GET /{stage}/dashboard": 200,
    "GET /{stage}/dashboard/app.js": 200,
    "GET /{stage}/liveinsight.js": 200,
    "GET /{stage}/visitors/lambda-check-visitor/sessions (Bearer token)": 200,
    "GET /{stage}/visitors/lambda-check-visitor/sessions (no token)": 401,
    # Read once the stream's functions ran: the statistics aggregator made it (every stored page view).
    "GET /{stage}/stats/realtime?site=demo (Bearer token)": 200,
    # The same function behind the collector's HTTP API (payload 1.0; the first also checks the country
    # the country database's layer gives its address).
    "collector: POST /{stage}/events (text/plain, a browser in Germany)": 200,
    "collector: POST /{stage}/events (application/json, body base64-encoded by API Gateway)": 200,
    "collector: POST /{stage}/events (resourcePath in a route key's form)": 200,
    "collector: OPTIONS /{stage}/events (Origin https://www.example.com)": 204,
    "collector: GET /{stage}/liveinsight.js": 200,
    "EventBridge Scheduled Event (rate(1 minute))": "ok",
    # The lake: what each answered was checked too (no batch failures and Parquet in the lake; the
    # query counts the events the API stored; the erasure removed the visitor's events and rows).
    "DynamoDB Streams batch (5 INSERT records)": "ok",  # 2 through the REST API, 3 through the collector
    "DynamoDB Streams batch (5 INSERT records) to the statistics": "ok",  # the same 5, into minute buckets
    "lake query (demo, {day}: events, visitors)": "ok",
    "erasure of one visitor (demo)": "ok",
}
FUNCTION_NAMES = {"EventCollector", "SessionExpiry", "StatsRollup", "StatsAggregator", "EventLakeWriter",
                  "EventLakeCompaction", "EventLakeQuery", "VisitorErasure"}
# The sample's fields a request may change (tests/fixtures/aws-events/README.md).
REQUEST_FIELDS = {"httpMethod", "path", "resource", "headers", "multiValueHeaders", "body", "isBase64Encoded",
                  "pathParameters", "queryStringParameters", "multiValueQueryStringParameters", "requestContext"}


def statuses(report) -> dict[str, int | str]:
    return {i.event: i.status for i in report.invocations}


def expected(stage: str, report) -> dict[str, int | str]:
    [day] = {i.event.split(", ")[1].split(":")[0] for i in report.invocations if i.event.startswith("lake query")}
    return {name.format(stage=stage, day=day): status for name, status in EXPECTED_STATUS.items()}


def handlers(package_dir: Path) -> set[str]:
    doc = json.loads((package_dir / "chalice.tf.json").read_text())
    return {spec["handler"] for spec in doc["resource"]["aws_lambda_function"].values()}


@pytest.fixture(scope="module")
def prod_report(packaged):
    report = check(packaged["prod"])
    print(format_report(report))  # shown with -rP: each handler, its event, status and time
    return report


def test_every_handler_answers_from_the_zip_alone(prod_report, packaged):
    assert prod_report.ok, format_report(prod_report)
    assert {i.handler for i in prod_report.invocations} == handlers(packaged["prod"]) == {
        "app.app", "app.expire_sessions", "app.roll_up_stats", "app.aggregate_events", "app.write_event_lake",
        "app.compact_lake", "app.query_lake", "app.erase_visitor"}
    assert statuses(prod_report) == expected("prod", prod_report)
    # The realtime statistics come from the stream: the API reads them after the aggregator ran.
    order = [(i.handler, i.event) for i in prod_report.invocations]
    stats_batch = ("app.aggregate_events", "DynamoDB Streams batch (5 INSERT records) to the statistics")
    assert order.index(stats_batch) < order.index(("app.app", "GET /prod/stats/realtime?site=demo (Bearer token)"))
    assert prod_report.runtime == "python3.13"
    assert {i.function for i in prod_report.invocations} == {f"LiveInsight-{name}" for name in FUNCTION_NAMES}


def test_the_dev_stage_answers_with_its_own_tables(packaged):
    report = check(packaged["dev"])
    assert report.ok, format_report(report)
    assert statuses(report) == expected("dev", report)
    assert {i.function for i in report.invocations} == {f"LiveInsight-dev-{name}" for name in FUNCTION_NAMES}


def test_the_clean_interpreter_has_the_runtime_and_the_zip_and_nothing_else(packaged, tmp_path):
    modules = ["boto3", "botocore", "chalice", "moto", "pytest", "ua_parser", "crawleruseragents", "app", "chalicelib"]
    assert all(importlib.util.find_spec(m) for m in ("chalice", "moto", "pytest"))  # here, in the dev venv
    python = clean_python("python3.13")
    runtime_dir, _ = runtime_packages(python)
    assert {p.name.split("-")[0].lower() for p in runtime_dir.glob("*.dist-info")} == RUNTIME_DISTRIBUTIONS

    bare = probe(python, tmp_path, runtime_dir, modules)  # the runtime without our package
    assert bare["boto3"].startswith(str(runtime_dir)) and bare["botocore"].startswith(str(runtime_dir))
    assert [m for m in modules if bare[m] is not None] == ["boto3", "botocore"]

    task = tmp_path / "task"
    zipfile.ZipFile(packaged["prod"] / "deployment.zip").extractall(task)
    inside = probe(python, task, runtime_dir, modules)
    assert inside["moto"] is None and inside["pytest"] is None
    for module in ("ua_parser", "crawleruseragents", "app", "chalicelib", "chalice"):  # chalice: the zip's copy
        assert inside[module].startswith(str(task)), (module, inside[module])
    assert inside["boto3"].startswith(str(runtime_dir))


def broken_copy(package_dir: Path, tmp_path: Path, drop: str | None = None,
                append: dict[str, str] | None = None, modes: dict[str, int] | None = None) -> Path:
    """The packaged stage with a rewritten deployment.zip: one file left out, text added to one, or
    a file's mode changed."""
    copy = tmp_path / package_dir.name
    shutil.copytree(package_dir, copy, ignore=shutil.ignore_patterns("deployment.zip"))
    with zipfile.ZipFile(package_dir / "deployment.zip") as source, \
            zipfile.ZipFile(copy / "deployment.zip", "w", zipfile.ZIP_DEFLATED) as target:
        assert {drop, *(append or {}), *(modes or {})} - {None} <= set(source.namelist())
        for info in source.infolist():
            if info.filename in (modes or {}):
                info.external_attr = (0o100000 | modes[info.filename]) << 16
            if info.filename != drop:
                target.writestr(info, source.read(info) + (append or {}).get(info.filename, "").encode())
    return copy


def test_the_lake_functions_import_duckdb_from_the_layer_and_the_others_cannot(packaged, tmp_path):
    """The engines are in the lake layer only: mounted as Lambda mounts it (/opt/python), DuckDB and
    sqlglot import from it; the collector's package alone has neither."""
    python = clean_python("python3.13")
    runtime_dir, _ = runtime_packages(python)
    task, opt = tmp_path / "task", tmp_path / "opt"
    zipfile.ZipFile(packaged["prod"] / "deployment.zip").extractall(task)
    zipfile.ZipFile(packaged["prod"] / "lake-layer.zip").extractall(opt)
    modules = ["duckdb", "sqlglot"]
    assert probe(python, task, runtime_dir, modules) == {"duckdb": None, "sqlglot": None}
    with_layer = probe(python, task, opt / "python", modules)
    assert all(with_layer[m].startswith(str(opt / "python")) for m in modules), with_layer


def test_a_module_missing_from_the_zip_fails_every_handler(packaged, tmp_path):
    report = check(broken_copy(packaged["prod"], tmp_path, drop="chalicelib/ingest/collector.py"))
    assert not report.ok
    assert {i.status for i in report.invocations} == {"Runtime.ImportModuleError"}
    assert {i.handler for i in report.invocations} == handlers(packaged["prod"])
    assert "Unable to import module 'app': No module named 'chalicelib.ingest.collector'" in "\n".join(report.failures)


def test_a_file_missing_from_the_zip_fails_the_route_that_serves_it(packaged, tmp_path):
    report = check(broken_copy(packaged["prod"], tmp_path, drop="chalicelib/static/dashboard.html"))
    assert not report.ok
    [failed] = [i for i in report.invocations if i.problems]
    assert (failed.event, failed.status) == ("GET /prod/dashboard", 500)
    [failure] = report.failures
    assert "status 500, not 200" in failure and "No such file or directory" in failure and "dashboard.html" in failure


def test_a_file_only_its_owner_can_read_fails_though_root_can_import_it(packaged, tmp_path):
    report = check(broken_copy(packaged["prod"], tmp_path, modes={"chalicelib/access/auth.py": 0o600}))
    assert not report.ok
    assert all(not i.problems for i in report.invocations)  # as root, here, everything imports
    assert report.failures == ["files Lambda could not read (not world-readable): "
                               "['chalicelib/access/auth.py (-rw-------)']"]


# A read route that imports a dev-only package when it runs (the import is inside the function, so the
# module loads, and tests in the dev venv, which has moto, would pass).
IMPORTS_MOTO = """

_require_token = require_token


def require_token(*args, **kwargs):
    import moto  # noqa: F401
    return _require_token(*args, **kwargs)
"""


def test_a_route_that_needs_a_package_the_runtime_lacks_fails(packaged, tmp_path):
    report = check(broken_copy(packaged["prod"], tmp_path, append={"chalicelib/access/auth.py": IMPORTS_MOTO}))
    assert not report.ok
    failed = {i.event: i.status for i in report.invocations if i.problems}
    assert failed == {"GET /prod/visitors/lambda-check-visitor/sessions (Bearer token)": 500,
                      "GET /prod/visitors/lambda-check-visitor/sessions (no token)": 500,
                      "GET /prod/stats/realtime?site=demo (Bearer token)": 500}
    assert all("No module named 'moto'" in failure for failure in report.failures)


def test_requests_change_only_what_a_real_request_changes():
    from deploy.verify.lambda_events import Expectations, sample

    want = Expectations("prod", "demo", "https://www.example.com", "t" * 24, stored_event=lambda *_: None)
    rest, http = sample("apigw-rest-proxy-request.json"), sample("apigw-http-v1-proxy-request.json")
    calls = [*api_calls(want), realtime_call(want, 5)]
    assert {call.event.get("version") for call in calls} == {None, "1.0"}  # both APIs' shapes
    for call in calls:
        original = http if call.event.get("version") == "1.0" else rest
        changed = {k for k in original.keys() | call.event.keys() if original.get(k) != call.event.get(k)}
        assert changed <= REQUEST_FIELDS, (call.name, changed - REQUEST_FIELDS)
        if original is rest:
            assert call.event["requestContext"]["path"] == f"/prod{call.event['path']}"
        else:  # a named stage's HTTP API request carries the stage in its path
            assert call.event["requestContext"]["path"] == call.event["path"] == f"/prod{call.event['resource']}"
    assert scheduled_call().event == json.loads((SAMPLES_DIR / "eventbridge-scheduled-event.json").read_text())


@pytest.mark.parametrize("payload, problem", [
    ('{"statusCode": "200", "body": ""}', "statusCode"),
    ('{"statusCode": 200, "body": {"a": 1}}', "body must be a string"),
    ('{"statusCode": 200, "headers": {"X-Count": 1}}', "header values"),
    ('{"status": 200}', "not a proxy answer"),
    ('"ok"', "not a proxy answer"),
])
def test_an_answer_api_gateway_cannot_use_is_a_502(payload, problem):
    with pytest.raises(MalformedProxyAnswer, match=problem):
        gateway_answer(payload)


def test_a_base64_answer_is_decoded_and_the_default_content_type_applies():
    answer = gateway_answer('{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true, '
                            '"multiValueHeaders": {"X-A": ["1", "2"]}}')
    assert (answer.status, answer.body, answer.headers) == (200, b"hi", {"x-a": "1,2",
                                                                         "content-type": "application/json"})


def test_an_environment_value_without_a_test_value_is_named(packaged):
    doc = json.loads((packaged["prod"] / "chalice.tf.json").read_text())
    tfvars = json.loads((packaged["prod"] / "liveinsight.auto.tfvars.json").read_text())
    doc["resource"]["aws_lambda_function"]["api_handler"]["environment"]["variables"]["NEW"] = "${var.new_thing}"
    with pytest.raises(CheckError, match=r"api_handler NEW: no test value for \$\{var.new_thing\}"):
        functions(doc, tfvars)

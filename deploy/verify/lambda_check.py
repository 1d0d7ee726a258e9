"""Proves the Lambda package runs alone: unzips a packaged stage's deployment.zip and invokes every
handler its chalice.tf.json names, in a clean Python holding only what the Lambda runtime ships, against
moto's DynamoDB with the stage's tables, with AWS's own sample events; checks and times each answer.

`python -m deploy.verify.lambda_check build/terraform/prod` (after `make package STAGE=prod`): exit 1 on a failure.
"""

from __future__ import annotations

import argparse
import json
import re
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deploy.verify.lambda_events import (
    Call,
    Expectations,
    MalformedProxyAnswer,
    api_calls,
    erasure_call,
    gateway_answer,
    query_call,
    realtime_call,
    scheduled_call,
    stats_stream_call,
    stream_call,
)
from deploy.verify.lambda_runtime import (
    CheckError,
    clean_python,
    dynamodb,
    function_environment,
    run_runner,
    runtime_packages,
    stored_event,
)

# Stand-ins for the Terraform variables a function's environment names (terraform/variables.tf).
TEST_SITE, TEST_ORIGIN = "demo", "https://www.example.com"
TEST_VALUES = {"var.sites_json": json.dumps({TEST_SITE: {"origins": [TEST_ORIGIN]}}), "var.default_site": TEST_SITE,
               "var.api_token": "lambda-check-token-0123456789abcdef",
               # The lake module's outputs (terraform/modules/lake); the bucket is made in moto's S3.
               "module.lake.bucket_name": "liveinsight-lambda-check-lake",
               "module.lake.athena_workgroup_name": "LiveInsight-EventLake",
               "module.lake.athena_database_name": "liveinsight_lake"}
INTERPOLATION = re.compile(r"\$\{([^}]+)\}")
EVENT_SOURCES = {"apigateway.amazonaws.com": "api", "events.amazonaws.com": "schedule"}
# Functions nothing but another function invokes (the API hands them lake queries and erasures).
DIRECT = {"query_lake": "query", "erase_visitor": "erasure"}
# The order of invocation: the API stores events, the stream's functions put them in the lake and the
# statistics (then the API reads the realtime statistics), the query reads the lake, the jobs
# (compaction among them) run, the erasure removes a visitor.
ORDER = ("api", "stream", "query", "schedule", "erasure")
STATS_FUNCTION = "aggregate_events"  # the stream's other function: the realtime statistics'
PAGE_VIEW = "page_view"
# Each layer's zip beside chalice.tf.json (deploy/package.py), by its aws_lambda_layer_version name.
LAYER_ZIPS = {"lake": "lake-layer.zip", "geo": "geo-layer.zip"}
LAYER_REFERENCE = re.compile(r"^\$\{aws_lambda_layer_version\.(\w+)\.arn\}$")
LOG_TAIL_LINES = 25
UNIX_ZIP = 3  # ZipInfo.create_system of an archive made on Unix: external_attr then holds the file mode


@dataclass(frozen=True)
class Function:
    key: str  # Chalice's resource name, e.g. api_handler
    name: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    source: str  # "api", "schedule", "stream", "query" or "erasure": what invokes it
    layers: tuple[str, ...] = ()  # the layers Lambda unzips at /opt ("lake", "geo": deploy/package.py adds them)


@dataclass
class Invocation:
    function: str
    handler: str
    event: str
    status: int | str  # the HTTP status API Gateway answers, "ok", or the Lambda error type
    duration_ms: float
    max_rss_mb: float
    problems: list[str] = field(default_factory=list)


@dataclass
class Report:
    package: str
    stage: str
    runtime: str
    boto3: str
    invocations: list[Invocation] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    init_ms: dict[str, float] = field(default_factory=dict)  # each function's cold start: importing its module
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.invocations)


def _resolve(value: str, values: dict[str, str], where: str) -> str:
    def one(match: re.Match) -> str:
        if match.group(1) not in values:
            raise CheckError(f"{where}: no test value for ${{{match.group(1)}}}; add one to TEST_VALUES")
        return values[match.group(1)]
    return INTERPOLATION.sub(one, value)


def _layers(spec: dict, key: str) -> tuple[str, ...]:
    names = []
    for reference in spec.get("layers", []):
        match = LAYER_REFERENCE.match(reference)
        if not match or match.group(1) not in LAYER_ZIPS:
            raise CheckError(f"{key}: layer {reference} is not one this check knows (LAYER_ZIPS)")
        names.append(match.group(1))
    return tuple(names)


def functions(doc: dict, tfvars: dict) -> list[Function]:
    """Every aws_lambda_function of chalice.tf.json, with Terraform's interpolations made concrete."""
    from deploy.package import FUNCTION_NAMES

    values = {**TEST_VALUES, **{f"var.{k}": str(v) for k, v in tfvars.items()},
              **{f"local.function_names.{k}": tfvars["name_prefix"] + v for k, v in FUNCTION_NAMES.items()}}
    sources = {}
    for permission in doc["resource"].get("aws_lambda_permission", {}).values():
        key = permission["function_name"].split(".")[1]  # ${aws_lambda_function.<key>.arn}
        sources[key] = EVENT_SOURCES.get(permission["principal"], permission["principal"])
    for mapping in doc["resource"].get("aws_lambda_event_source_mapping", {}).values():
        sources[mapping["function_name"].split(".")[1]] = "stream"
    found = []
    for key, spec in doc["resource"]["aws_lambda_function"].items():
        variables = spec.get("environment", {}).get("variables", {})
        env = {k: _resolve(v, values, f"{key} {k}") for k, v in variables.items()}
        source = sources.get(key) or DIRECT.get(key, "none")
        found.append(Function(key, _resolve(spec["function_name"], values, key), spec["handler"], spec["runtime"],
                              spec["memory_size"], spec["timeout"], env, source, _layers(spec, key)))
    # The API first: the jobs then have data.
    return sorted(found, key=lambda f: ORDER.index(f.source) if f.source in ORDER else len(ORDER))


def _request_log(log: str, request_id: str) -> str:
    """One invocation's lines, between Lambda's START and END lines."""
    start, end = log.find(f"START RequestId: {request_id}"), log.find(f"END RequestId: {request_id}")
    return log[start:end] if start >= 0 and end > start else log


def _logged_errors(lines: str) -> list[str]:
    """The app's ERROR lines (chalicelib/core/log.py): each one is an alarm in production, so a failure here."""
    found = []
    for line in lines.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "ERROR":
            found.append(f"logged ERROR {entry.get('message')!r} ({entry.get('error', '')})")
    return found


def _unreadable_on_lambda(archive: zipfile.ZipFile) -> list[str]:
    """Lambda runs the code as a user that owns none of it: every file must be readable by all (and
    every directory searchable), or the import fails there while it works here, as root."""
    unreadable = []
    for info in archive.infolist():
        mode = info.external_attr >> 16
        needed = stat.S_IROTH | (stat.S_IXOTH if info.is_dir() else 0)
        if info.create_system == UNIX_ZIP and mode and mode & needed != needed:
            unreadable.append(f"{info.filename} ({stat.filemode(mode)})")
    return unreadable


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _verify(call: Call, got: dict, want: Expectations, setup: dict) -> tuple[int | str, list[str]]:
    if call.check and call.event.get("version") == "1.0":  # the collector's HTTP API (payload 1.0)
        key = f"{call.event['httpMethod']} {call.event['resource']}"
        if key not in setup["collector_routes"]:
            return "no route", [f"the collector's HTTP API has no route {key} (collector_route_keys)"]
    elif call.check and (call.event["resource"], call.event["httpMethod"]) not in setup["routes"]:
        return "no route", [f"API Gateway has no {call.event['httpMethod']} {call.event['resource']}"]
    if "error" in got:
        return got["error"]["errorType"], [f"{got['error']['errorType']}: {got['error']['errorMessage']}"]
    if call.answer_check is not None:
        problems = call.answer_check(json.loads(got["payload"]))
        return ("ok" if not problems else "wrong answer"), problems
    if call.check is None:
        return "ok", []
    try:
        answer = gateway_answer(got["payload"])
    except MalformedProxyAnswer as exc:
        return 502, [f"API Gateway would answer 502: {exc}"]
    return answer.status, call.check(answer, want)


def _invoke_all(fn: Function, calls: list[Call], setup: dict, want: Expectations, report: Report,
                label: str = "") -> None:
    # Lambda puts a layer's python/ (unzipped at /opt) between the task root and the runtime's packages.
    runtime_path = [setup["layer_dir"], setup["runtime_dir"]] if "lake" in fn.layers else [setup["runtime_dir"]]
    plan = {"task_root": setup["task"], "runtime_path": runtime_path, "handler": fn.handler,
            "function_name": fn.name, "memory_mb": fn.memory_mb, "timeout_s": fn.timeout_s,
            "invocations": [{"name": c.name, "event": c.event} for c in calls]}
    env = function_environment(fn, setup)
    started = time.perf_counter()
    results = run_runner(setup["python"], plan, env, setup["work"], fn.key + label)
    report.timings_s[f"function {fn.key}{label}"] = round(time.perf_counter() - started, 2)
    report.init_ms.setdefault(fn.name, results.get("init_ms", 0.0))
    for call, got in zip(calls, results["invocations"], strict=True):
        status, problems = _verify(call, got, want, setup)
        lines = _request_log(results["log"], got["request_id"])
        problems += _logged_errors(lines)
        if got["max_rss_mb"] > fn.memory_mb:
            problems.append(f"peak memory {got['max_rss_mb']} MB is over the function's {fn.memory_mb} MB")
        report.invocations.append(Invocation(fn.name, fn.handler, call.name, status, got["duration_ms"],
                                             got["max_rss_mb"], problems))
        if problems:
            tail = "\n".join("    " + line for line in lines.strip().splitlines()[-LOG_TAIL_LINES:])
            report.failures.append(f"{fn.name} ({fn.handler}) <- {call.name}: {'; '.join(problems)}\n{tail}")


def _routes(doc: dict) -> set[tuple[str, str]]:
    swagger = json.loads(doc.get("locals", {}).get("chalice_api_swagger", '{"paths": {}}'))
    return {(path, method.upper()) for path, methods in swagger["paths"].items() for method in methods}


def _stored_events(client, stage: str) -> list[dict]:
    """The Events table's event items (not the daily salts), as DynamoDB's stream would carry them."""
    from chalicelib.schema.tables import EVENTS

    items = client.scan(TableName=EVENTS.name(stage))["Items"]
    return [item for item in items if "event_id" in item]


def _lake_calls(fn: Function, stage: str, client, s3) -> list:
    bucket = TEST_VALUES["module.lake.bucket_name"]
    items = _stored_events(client, stage)  # none when the API failed: the checks then say so
    if fn.source == "stream":
        from chalicelib.schema.tables import EVENTS

        arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{EVENTS.name(stage)}/stream/2026-01-01T00:00:00.000"
        if fn.key == STATS_FUNCTION:
            return [stats_stream_call(items, arn)]
        return [stream_call(items, arn, lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get(
            "Contents", [])])]
    days = {time.strftime("%Y-%m-%d", time.gmtime(int(item["time_ms"]["N"]) / 1000)) for item in items}
    if fn.source == "query":
        day = max(days, default=time.strftime("%Y-%m-%d", time.gmtime()))
        stored = sum(1 for item in items if time.strftime("%Y-%m-%d", time.gmtime(
            int(item["time_ms"]["N"]) / 1000)) == day)
        return [query_call(TEST_SITE, day, stored)]
    return [erasure_call(TEST_SITE, items[0]["visitor_id"]["S"] if items else "lambda-check-visitor")]


def _run_functions(fns: list[Function], stage: str, setup: dict, report: Report) -> None:
    mark = time.perf_counter()
    with dynamodb(stage) as (endpoint, client):
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="lambda-check", aws_secret_access_key="lambda-check")
        s3.create_bucket(Bucket=TEST_VALUES["module.lake.bucket_name"])
        report.timings_s["moto and tables"] = round(time.perf_counter() - mark, 2)
        setup["endpoint"] = endpoint
        want = Expectations(stage, TEST_SITE, TEST_ORIGIN, TEST_VALUES["var.api_token"],
                            stored_event=lambda site, event_id: stored_event(client, stage, site, event_id))
        for fn, step in _steps(fns):
            if fn.source not in ORDER:
                report.failures.append(f"{fn.name} ({fn.handler}): invoked by {fn.source}, which this check "
                                       "has no event for")
                continue
            if step == "realtime":  # the API again, now that the stream's functions made the statistics
                page_views = sum(1 for item in _stored_events(client, stage)
                                 if (item.get("site", {}).get("S"), item.get("event_type", {}).get("S")) == (
                                     TEST_SITE, PAGE_VIEW))
                _invoke_all(fn, [realtime_call(want, page_views)], setup, want, report, label=" (realtime)")
                continue
            if fn.source in ("api", "schedule"):
                calls = api_calls(want) if fn.source == "api" else [scheduled_call()]
            else:
                calls = _lake_calls(fn, stage, client, s3)
            _invoke_all(fn, calls, setup, want, report)


def _steps(fns: list[Function]) -> list[tuple[Function, str]]:
    """Each function (in ORDER) and its source; then the API function once more, right after the
    stream's functions, for the realtime statistics they make."""
    steps = [(fn, fn.source) for fn in fns]
    api = [fn for fn in fns if fn.source == "api"]
    after = [i for i, fn in enumerate(fns) if fn.source in ("api", "stream")]
    if api and after:
        steps.insert(after[-1] + 1, (api[0], "realtime"))
    return steps


def check(package_dir: Path, boto3_version: str | None = None) -> Report:
    started = time.perf_counter()
    doc = json.loads((package_dir / "chalice.tf.json").read_text())
    tfvars = json.loads((package_dir / "liveinsight.auto.tfvars.json").read_text())
    fns = functions(doc, tfvars)
    runtimes = {fn.runtime for fn in fns}
    if len(runtimes) != 1:
        raise CheckError(f"the functions name several runtimes: {sorted(runtimes)}")
    python = clean_python(runtimes.pop())
    runtime_dir, version = runtime_packages(python, boto3_version)
    report = Report(str(package_dir), tfvars["stage"], fns[0].runtime, version)
    report.timings_s["runtime packages"] = round(time.perf_counter() - started, 2)
    with tempfile.TemporaryDirectory(prefix="lambda-check-") as tmp:
        task = Path(tmp) / "task"
        with zipfile.ZipFile(package_dir / "deployment.zip") as archive:
            archive.extractall(task)
            unreadable = _unreadable_on_lambda(archive)
        if unreadable:
            report.failures.append(f"files Lambda could not read (not world-readable): {unreadable[:10]}")
        layer = Path(tmp) / "opt"  # every layer a function names, unzipped as Lambda does at /opt
        for name in sorted({name for fn in fns for name in fn.layers}):
            with zipfile.ZipFile(package_dir / LAYER_ZIPS[name]) as archive:
                archive.extractall(layer)
        before = _snapshot(task)
        setup = {"python": python, "task": str(task), "runtime_dir": str(runtime_dir), "work": Path(tmp),
                 "routes": _routes(doc), "collector_routes": set(tfvars["collector_route_keys"]),
                 "layer_dir": str(layer / "python"), "opt_dir": str(layer)}
        _run_functions(fns, tfvars["stage"], setup, report)
        written = sorted(set(_snapshot(task).items()) - set(before.items()))
        if written:
            report.failures.append(f"the functions wrote into their package, read-only on Lambda: {written[:10]}")
    report.timings_s["total"] = round(time.perf_counter() - started, 2)
    return report


def format_report(report: Report) -> str:
    lines = [f"Lambda check of {report.package} (stage {report.stage}, {report.runtime}, boto3 {report.boto3}; "
             "events from tests/fixtures/aws-events):"]
    for inv in report.invocations:
        mark = "ok  " if not inv.problems else "FAIL"
        lines.append(f"  {mark} {inv.function:<28} {inv.handler:<20} {str(inv.status):<26} "
                     f"{inv.duration_ms:>7.1f} ms {inv.max_rss_mb:>5.0f} MB  {inv.event}")
    lines += [f"  cold start (init) {name}: {ms:.0f} ms" for name, ms in report.init_ms.items()]
    lines += [f"  {name}: {seconds:.2f} s" for name, seconds in report.timings_s.items()]
    lines += ["", *report.failures] if report.failures else []
    lines.append("PASSED" if report.ok else "FAILED")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="a `make package` output, e.g. build/terraform/prod")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = check(args.package_dir)
    except CheckError as exc:
        print(f"lambda check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({**asdict(report), "ok": report.ok}, indent=2) if args.json else format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

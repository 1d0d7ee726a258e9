"""`make package STAGE=...`: Chalice's Terraform, fixed for current tools, beside our modules.

`chalice package --pkg-format terraform` writes chalice.tf.json and deployment.zip. Its Terraform
is written for Terraform < 1.4 and AWS provider < 5, uses the deprecated null_data_source, names
schedule rules without app or stage, cannot set log retention or stage throttling, and does not
know our function names or role. `fix_chalice_terraform` mends all of that (tested); `package`
assembles a directory Terraform can plan: terraform/ (root module and modules), the fixed
chalice.tf.json, deployment.zip (with each module's bytecode: deploy/bytecode.py) and the generated variables.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.schema.lake import lake_schema_json  # noqa: E402
from chalicelib.schema.tables import TABLES, name_prefix  # noqa: E402
from deploy.geo import build_geo_layer  # noqa: E402

TERRAFORM_SOURCE = PROJECT_DIR / "terraform"
BUILD_DIR = PROJECT_DIR / "build" / "terraform"
# Chalice's resource names of our functions -> the keys of local.function_names in terraform/main.tf.
FUNCTIONS = {"api_handler": "api", "expire_sessions": "expiry", "roll_up_stats": "rollup",
             "aggregate_events": "stats_aggregator", "write_event_lake": "lake_writer",
             "compact_lake": "lake_compaction", "query_lake": "lake_query", "erase_visitor": "lake_erasure"}
# ...and the names those keys give (after the stage's name prefix); a test holds main.tf to them.
FUNCTION_NAMES = {"api": "EventCollector", "expiry": "SessionExpiry", "rollup": "StatsRollup",
                  "stats_aggregator": "StatsAggregator", "lake_writer": "EventLakeWriter",
                  "lake_compaction": "EventLakeCompaction", "lake_query": "EventLakeQuery",
                  "lake_erasure": "VisitorErasure"}
# The event lake's functions (erase_visitor rewrites lake objects): each has a role of its own (least
# privilege, terraform/modules/iam) and the lake layer (DuckDB, sqlglot). The statistics aggregator
# (the Events stream to the Stats table) has a role of its own too, without the layer; the others
# share the guide's LiveInsight-Lambda-Role.
LAKE_FUNCTIONS = ("write_event_lake", "compact_lake", "query_lake", "erase_visitor")
SHARED_ROLE = "${module.iam.lambda_role_arn}"
OWN_ROLES = {"aggregate_events": "${module.iam.stats_aggregator_role_arn}",
             **{key: f"${{module.iam.lake_role_arns.{FUNCTIONS[key]}}}" for key in LAKE_FUNCTIONS}}
ROLES = {key: OWN_ROLES.get(key, SHARED_ROLE) for key in FUNCTIONS}
# The paths websites' browsers call (the SDK's file, the ingest routes): the collector's HTTP API serves
# them (terraform/modules/collector) with the methods the app's routes give them.
COLLECTOR_PATHS = ("/events", "/api/event", "/api/send", "/liveinsight.js")
JOBS = ("expire_sessions", "roll_up_stats")  # the minute jobs, whose runs must not overlap
LAKE_LAYER = "${aws_lambda_layer_version.lake.arn}"
LAKE_REQUIREMENTS = PROJECT_DIR / "requirements-lake.txt"
LAKE_LAYER_ZIP = "lake-layer.zip"
# The country database (deploy/geo.py) in a layer of its own, for the API function only (enrich/geo.py).
GEO_LAYER = "${aws_lambda_layer_version.geo.arn}"
GEO_LAYER_ZIP = "geo-layer.zip"
LAYER_CACHE = PROJECT_DIR / "build" / "lake-layer"
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): any manylinux wheel up to 2.34 loads there.
LAYER_PLATFORMS = [arg for tag in ("manylinux_2_34", "manylinux_2_28", "manylinux_2_27", "manylinux_2_17",
                                   "manylinux2014") for arg in ("--platform", f"{tag}_x86_64")]
# The Events stream -> write_event_lake mapping (docs/lake.md). Chalice cannot set these.
# - Only new events: INSERTs whose new image has an event_id. The table also holds the daily salts
#   (pk "salt#<day>", no event_id); a positive match is used because Lambda's filters have no
#   "anything-but prefix" (EventBridge has it, event source mappings do not). MODIFY and REMOVE
#   (TTL expiry, erasure) never reach the lake writer.
# - ReportBatchItemFailures + bisect: a poison record is isolated and retried alone; the writer
#   dead-letters what it cannot make a row (LakeDeadLetters), so only infrastructure failures retry.
# - Retried until it succeeds (below): the writer's object names are deterministic, so a retried batch
#   overwrites its own objects, never duplicates them. Only records that leave the stream (24 hours)
#   reach the on-failure queue (their shard and sequence numbers).
STREAM_FILTER = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"event_id": {"S": [{"exists": True}]}}}}
STREAM_MAPPING = {
    "event_source_arn": "${module.tables.stream_arns[\"Events\"]}",
    "starting_position": "TRIM_HORIZON",
    "batch_size": 1000,
    "maximum_batching_window_in_seconds": 60,  # with a 2-minute freshness promise
    "function_response_types": ["ReportBatchItemFailures"],
    "bisect_batch_on_function_error": True,
    # Poison records never fail a batch (the writer dead-letters them), so a failing batch means S3,
    # KMS or IAM is failing, or a bug: retried until it succeeds (IteratorAge alarms after 3 minutes)
    # rather than abandoned after a few retries and missing from the lake. Only records that leave
    # the stream (24 hours) reach the failures queue.
    "maximum_retry_attempts": -1,
    "maximum_record_age_in_seconds": -1,
    "destination_config": {"on_failure": {"destination_arn": "${module.lake.stream_failures_queue_arn}"}},
    "filter_criteria": {"filter": [{"pattern": json.dumps(STREAM_FILTER, separators=(",", ":"))}]},
    # The writer's role must read the stream before Lambda starts polling it.
    "depends_on": ["module.iam"],
}
# The Events stream -> aggregate_events mapping: the realtime statistics (docs/stats.md). The
# aggregator turns a batch into one conditional update a minute bucket, which makes a batch
# idempotent only if a failed batch comes back whole and identical; hence:
# - The same filter as the lake writer: new events only (INSERTs with an event_id, not the salts).
# - No bisect, no ReportBatchItemFailures: a split or partial retry would be a different batch, whose
#   buckets' updates would count some events twice. A failing batch means DynamoDB (or KMS, IAM) is
#   failing, or a bug, not one bad record: there is nothing to isolate.
# - Retried until it succeeds (-1 retries, -1 record age), as the lake writer's: abandoning a batch
#   would lose its counts for good, and retrying it whole counts it exactly once when DynamoDB is back.
#   The StatsAggregator-IteratorAge alarm fires once the statistics are a minute behind.
# - A 5-second batching window with the realtime view's 10-second freshness; 1,000 records a batch,
#   the most a DynamoDB stream mapping takes, so a backlog drains fast.
# - ParallelizationFactor 1 (the default, stated so nobody raises it): one batch at a time per shard, in
#   order, so a retried batch is never overtaken by the next.
# - The lake writer's on-failure queue: only records that leave the stream (24 hours) reach it, and
#   the message's requestContext.functionArn names the function that abandoned them.
STATS_STREAM_MAPPING = {
    "event_source_arn": "${module.tables.stream_arns[\"Events\"]}",
    "starting_position": "TRIM_HORIZON",
    "batch_size": 1000,
    "maximum_batching_window_in_seconds": 5,
    "bisect_batch_on_function_error": False,
    "parallelization_factor": 1,
    "maximum_retry_attempts": -1,
    "maximum_record_age_in_seconds": -1,
    "destination_config": {"on_failure": {"destination_arn": "${module.lake.stream_failures_queue_arn}"}},
    "filter_criteria": {"filter": [{"pattern": json.dumps(STREAM_FILTER, separators=(",", ":"))}]},
    # The aggregator's role must read the stream before Lambda starts polling it.
    "depends_on": ["module.iam"],
}
# Chalice's name of each mapping (<function>-dynamodb-event-source) -> its settings.
STREAM_MAPPINGS = {"write_event_lake-dynamodb-event-source": STREAM_MAPPING,
                   "aggregate_events-dynamodb-event-source": STATS_STREAM_MAPPING}
TRACING_MODE = "PassThrough"  # X-Ray only when the caller traces (no cost by default)
# The Lambda runtime is the Python in .python-version (3.13: supported by AWS until mid-2029, where
# 3.11 was deprecated in 2026). Chalice takes the runtime from the Python it runs on, and picks the
# wheels it bundles for that runtime, so the package must be built with that very Python.
PYTHON_VERSION = (PROJECT_DIR / ".python-version").read_text().strip()
LAMBDA_RUNTIME = f"python{PYTHON_VERSION}"
# Reserving concurrency for the minute jobs is opt-in (terraform/variables.tf): accounts with a low
# concurrency quota reject any reservation that leaves fewer than 100 unreserved executions.
JOBS_RESERVED_CONCURRENCY = "${var.jobs_reserved_concurrency}"


class PackageError(RuntimeError):
    pass


def fix_chalice_terraform(doc: dict) -> dict:
    """Returns a copy of chalice.tf.json that works with Terraform >= 1.5 and AWS provider 5.x
    and fits our root module."""
    fixed = copy.deepcopy(doc)
    # Version pins live in terraform/versions.tf: a second required_providers block is an error.
    fixed.pop("terraform", None)
    data = fixed.get("data", {})
    data.pop("null_data_source", None)  # deprecated, and nothing reads it
    if not data:
        fixed.pop("data", None)
    if "null_data_source" in json.dumps(fixed):
        raise PackageError("chalice.tf.json still refers to null_data_source")
    fixed.pop("output", None)  # terraform/outputs.tf has the stage's real URL
    resources = fixed["resource"]
    for role in ("aws_iam_role", "aws_iam_role_policy"):
        if resources.pop(role, None):
            raise PackageError("Chalice generated an IAM role: keep manage_iam_role false in .chalice/config.json")
    _fix_functions(resources)
    _fix_api(resources)
    return fixed


def _fix_functions(resources: dict) -> None:
    functions = resources.get("aws_lambda_function", {})
    unknown = set(functions) - set(FUNCTIONS)
    if unknown:
        raise PackageError(f"new Chalice functions {sorted(unknown)}: name them in deploy/package.py FUNCTIONS "
                           "and terraform/main.tf local.function_names")
    for key, function in functions.items():
        if function.get("runtime") != LAMBDA_RUNTIME:
            raise PackageError(f"Chalice packaged {key} for {function.get('runtime')}, not {LAMBDA_RUNTIME}: "
                               f"run make package with Python {PYTHON_VERSION} (scripts/find_python.sh)")
        if function.get("role", ROLES[key]) != ROLES[key]:
            raise PackageError(f"{key} has role {function['role']} in .chalice/config.json, not {ROLES[key]}")
        function["function_name"] = f"${{local.function_names.{FUNCTIONS[key]}}}"
        function["role"] = ROLES[key]
        function["kms_key_arn"] = "${local.kms_key_arn}"  # the environment holds the API token (null: aws/lambda)
        function["tracing_config"] = {"mode": TRACING_MODE}
        # The log groups (with retention) must exist before a function could create its own.
        function["depends_on"] = ["module.logs", "module.iam"]
        if key in JOBS:
            function["reserved_concurrent_executions"] = JOBS_RESERVED_CONCURRENCY
        if key in LAKE_FUNCTIONS:
            function["layers"] = [LAKE_LAYER]
        if key == "api_handler":
            function["layers"] = [GEO_LAYER]
    for key, rule in resources.get("aws_cloudwatch_event_rule", {}).items():
        function_key = key.removesuffix("-event")
        rule["name"] = f"${{local.function_names.{FUNCTIONS[function_key]}}}-Schedule"
        every = rule["schedule_expression"].removeprefix("rate(1 ").removesuffix(")")
        rule["description"] = f"Runs {function_key} every {every}"
    _fix_stream_mapping(resources)


def _fix_stream_mapping(resources: dict) -> None:
    mappings = resources.get("aws_lambda_event_source_mapping", {})
    unknown = set(mappings) - set(STREAM_MAPPINGS)
    if unknown:
        raise PackageError(f"unknown event source mappings {sorted(unknown)}: configure them in deploy/package.py "
                           "STREAM_MAPPINGS")
    for name, mapping in mappings.items():
        settings = STREAM_MAPPINGS[name]
        if mapping.get("batch_size") != settings["batch_size"] or mapping.get(
                "maximum_batching_window_in_seconds") != settings["maximum_batching_window_in_seconds"]:
            raise PackageError(f"{name}: app.py's batch size or batching window differs from deploy/package.py's")
        mapping.update(copy.deepcopy(settings))


def _fix_api(resources: dict) -> None:
    for api in resources.get("aws_api_gateway_rest_api", {}).values():
        api["name"] = "${local.api_name}"
        api["lifecycle"] = {"create_before_destroy": True}
    for deployment in resources.get("aws_api_gateway_deployment", {}).values():
        # The stage is terraform/modules/api's (throttling, access logs); the deployment only
        # has to change whenever the API does.
        deployment.pop("stage_name", None)
        deployment.pop("stage_description", None)
        # ...and when API Gateway's own answers do (terraform/modules/api), which also need a redeploy.
        deployment["triggers"] = {"redeployment": "${md5(local.chalice_api_swagger)}",
                                  "gateway_responses": "${module.api.gateway_responses_hash}"}


def collector_route_keys(doc: dict) -> list[str]:
    """["OPTIONS /events", "POST /events", ...]: each collector path's methods in the app's API (Chalice's swagger)."""
    paths = json.loads(doc["locals"]["chalice_api_swagger"])["paths"]
    missing = [path for path in COLLECTOR_PATHS if path not in paths]
    if missing:
        raise PackageError(f"the app has no route {missing}: update COLLECTOR_PATHS in deploy/package.py")
    return [f"{method.upper()} {path}" for path in COLLECTOR_PATHS
            for method in sorted(paths[path]) if not method.startswith("x-amazon")]


def tables_json() -> str:
    return json.dumps({spec.base_name: spec.describe() for spec in TABLES}, indent=2) + "\n"


def _event_retention_days() -> int:
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    return int(config["environment_variables"]["LIVEINSIGHT_EVENT_RETENTION_DAYS"])


def _deterministic_zip(root: Path, target: Path) -> None:
    """The same files give the same bytes (sorted, fixed times and modes), so Terraform sees no change."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build_lake_layer(cache_dir: Path = LAYER_CACHE) -> Path:
    """The lake layer's zip: requirements-lake.txt's manylinux x86_64 wheels for the runtime's Python,
    installed under python/ (Lambda puts /opt/python on sys.path). Built once per requirements."""
    requirements = LAKE_REQUIREMENTS.read_text()
    tag = hashlib.sha256(f"{PYTHON_VERSION}\n{requirements}".encode()).hexdigest()[:16]
    built = cache_dir / tag / LAKE_LAYER_ZIP
    if built.exists():
        return built
    work = cache_dir / f"{tag}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             "--no-input", "--only-binary=:all:", *LAYER_PLATFORMS,
                             "--implementation", "cp", "--python-version", PYTHON_VERSION,
                             "--target", str(work / "python"), "-r", str(LAKE_REQUIREMENTS)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"pip could not build the lake layer:\n{result.stderr[-2000:]}")
    for cache in (work / "python").rglob("__pycache__"):
        shutil.rmtree(cache)
    shutil.rmtree(work / "python" / "bin", ignore_errors=True)  # console scripts: nothing runs them
    zipped = cache_dir / f"{tag}.{os.getpid()}.zip"
    _deterministic_zip(work, zipped)  # entries start with python/
    built.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(zipped), built)
    shutil.rmtree(work, ignore_errors=True)
    return built


def chalice_package(stage: str, out_dir: Path) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != PYTHON_VERSION:
        raise PackageError(f"the package must be built with Python {PYTHON_VERSION} (the Lambda runtime, "
                           f".python-version), not {running}: use the Makefile (make package), which finds it")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    result = subprocess.run([str(chalice), "package", "--pkg-format", "terraform", "--stage", stage, str(out_dir)],
                            cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")


def add_bytecode(deployment_zip: Path) -> None:
    """Each module's .pyc beside it (deploy/bytecode.py), compiled with a fixed hash seed so the bytes repeat."""
    result = subprocess.run([sys.executable, "-m", "deploy.bytecode", str(deployment_zip)], cwd=PROJECT_DIR,
                            env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"compiling the package's modules failed:\n{result.stderr[-2000:]}")


def package(stage: str, build_dir: Path = BUILD_DIR) -> Path:
    """Builds build/terraform/<stage>/ and returns it."""
    target = build_dir / stage
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(TERRAFORM_SOURCE, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "bootstrap"))
    if (target / "lake_schema.json").read_text() != lake_schema_json():
        raise PackageError("terraform/lake_schema.json is stale: "
                           "run `python -m chalicelib.schema.lake > terraform/lake_schema.json`")
    if (target / "tables.json").read_text() != tables_json():
        raise PackageError("terraform/tables.json is stale: "
                           "run `python -m chalicelib.schema.tables > terraform/tables.json`")
    generated = target / "chalice-generated"
    chalice_package(stage, generated)
    doc = json.loads((generated / "chalice.tf.json").read_text())
    (target / "chalice.tf.json").write_text(json.dumps(fix_chalice_terraform(doc), indent=2) + "\n")
    shutil.move(str(generated / "deployment.zip"), target / "deployment.zip")
    shutil.rmtree(generated)
    add_bytecode(target / "deployment.zip")
    shutil.copyfile(build_lake_layer(), target / LAKE_LAYER_ZIP)
    build_geo_layer(target / GEO_LAYER_ZIP)
    (target / "liveinsight.auto.tfvars.json").write_text(json.dumps(
        {"stage": stage, "name_prefix": name_prefix(stage), "lambda_runtime": LAMBDA_RUNTIME,
         "event_retention_days": _event_retention_days(), "collector_route_keys": collector_route_keys(doc)},
        indent=2) + "\n")
    return target


def main(argv: list[str]) -> int:
    stage = argv[1] if len(argv) > 1 else os.environ.get("STAGE", "prod")
    try:
        target = package(stage)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(f"Packaged stage {stage} into {target.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Renders a module's documents.tf with Terraform itself, with no provider: a throw-away root
holding the module's variables.tf, its documents.tf (locals only), the given variable values, stub
values for the locals documents.tf reads from the module's other files (which need the provider),
and one output per local. What comes back is exactly what Terraform would send to AWS."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import hcl2

from deploy.package import FUNCTION_NAMES
from tests.infrastructure.conftest import TERRAFORM_DIR, TERRAFORM_ENV

LOCAL_REFERENCE = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")


class RenderError(AssertionError):
    pass


def document_locals(module_dir: Path) -> list[str]:
    """The names documents.tf defines; it may hold nothing but locals blocks."""
    with open(module_dir / "documents.tf") as handle:
        parsed = hcl2.load(handle)
    others = sorted(set(parsed) - {"locals", "__comments__"})
    if others:
        raise RenderError(f"{module_dir}/documents.tf may hold only locals, not {others}")
    return [name for block in parsed.get("locals", []) for name in block if not name.startswith("__")]


def _terraform(*args: str, cwd: Path) -> str:
    result = subprocess.run(["terraform", *args, "-no-color"], cwd=cwd, env=TERRAFORM_ENV,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RenderError(f"terraform {args[0]} failed in {cwd}:\n{result.stdout}{result.stderr}")
    return result.stdout


def render_documents(module_dir: Path, variables: dict, stubs: dict | None = None) -> dict:
    """{local name: value} for every local of module_dir/documents.tf; jsonencode()d locals come
    back as the exact JSON text Terraform renders."""
    names = document_locals(module_dir)
    text = (module_dir / "documents.tf").read_text()
    needed = set(LOCAL_REFERENCE.findall(text)) - set(names)
    missing = sorted(needed - set(stubs or {}))
    if missing:
        raise RenderError(f"documents.tf of {module_dir.name} reads locals defined elsewhere: stub {missing}")
    files = {"variables.tf": (module_dir / "variables.tf").read_text(), "documents.tf": text,
             "stubs.tf.json": json.dumps({"locals": {name: (stubs or {})[name] for name in needed}} if needed else {})}
    return render_locals(files, names, variables)


def render_locals(files: dict[str, str], names: list[str], variables: dict | None = None) -> dict:
    """Applies a throw-away root made of `files` (no provider, no resources) and returns the
    values of the locals `names`."""
    with tempfile.TemporaryDirectory(prefix="render-") as tmp:
        root = Path(tmp)
        for name, content in files.items():
            (root / name).write_text(content)
        (root / "outputs.tf.json").write_text(json.dumps(
            {"output": {name: {"value": f"${{local.{name}}}"} for name in names}}))
        (root / "terraform.tfvars.json").write_text(json.dumps(variables or {}))
        _terraform("init", "-input=false", "-backend=false", cwd=root)
        _terraform("apply", "-input=false", "-auto-approve", cwd=root)
        outputs = json.loads(_terraform("output", "-json", cwd=root))
    return {name: output["value"] for name, output in outputs.items()}


MODULES = TERRAFORM_DIR / "modules"
PREFIX = "LiveInsight-"
REGION, ACCOUNT = "eu-west-1", "123456789012"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TABLES = {base: f"{PREFIX}{base}" for base in json.loads((TERRAFORM_DIR / "tables.json").read_text())}
FUNCTIONS = {key: f"{PREFIX}{name}" for key, name in FUNCTION_NAMES.items()}
LAKE_SCHEMA = json.loads((TERRAFORM_DIR / "lake_schema.json").read_text())
LAKE_BUCKET = f"liveinsight-lake-{ACCOUNT}-{REGION}"
RESULTS_BUCKET = f"liveinsight-athena-results-{ACCOUNT}-{REGION}"
EVENTS_STREAM = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}Events/stream/2026-11-27T00:00:00.000"
# The lake module's outputs as terraform/main.tf hands them to the iam module.
LAKE = {"bucket_arn": f"arn:aws:s3:::{LAKE_BUCKET}", "events_prefix": LAKE_SCHEMA["events_prefix"],
        "dead_letter_prefix": "dead-letter/", "results_bucket_arn": f"arn:aws:s3:::{RESULTS_BUCKET}",
        "athena_workgroup_arn": f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{PREFIX}EventLake",
        "database_name": "liveinsight_lake", "events_stream_arn": EVENTS_STREAM,
        "stream_failures_queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}EventLake-StreamFailures"}
INVOKE_ARN = (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
              f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTIONS['api']}/invocations")
COLLECTOR_API_ID = "h1t2p3a4p5"  # the collector's HTTP API (its metrics' ApiId)
# prod's module inputs, as terraform/main.tf passes them (names from the same sources it uses).
INPUTS = {
    "dashboard": {"name_prefix": PREFIX, "region": REGION, "function_names": FUNCTIONS, "table_names": TABLES,
                  "api_name": "LiveInsight", "api_stage": "prod", "collector_api_id": COLLECTOR_API_ID,
                  "metrics_environment": "Production"},
    "iam": {"name_prefix": PREFIX, "kms_key_arn": KEY_ARN, "metrics_namespace": "LiveInsight",
            "table_arns": {base: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}" for base, name in TABLES.items()},
            "log_group_arns": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}"
                               for name in FUNCTIONS.values()],
            "function_names": FUNCTIONS, "lake": LAKE},
    "encryption": {"name_prefix": PREFIX},
    "api": {"name_prefix": PREFIX, "rest_api_id": "a1b2c3d4e5", "deployment_id": "x1y2z3", "stage_name": "prod",
            "throttle_rate_limit": 1000, "throttle_burst_limit": 2000, "log_retention_days": 30,
            "kms_key_arn": KEY_ARN, "manage_api_gateway_account": True},
    "alarms": {"name_prefix": PREFIX, "function_names": FUNCTIONS, "api_name": "LiveInsight",
               "api_stage": "prod", "collector_api_id": COLLECTOR_API_ID, "metrics_environment": "Production",
               "kms_key_arn": KEY_ARN,
               "lake_failures_queue_name": f"{PREFIX}EventLake-StreamFailures"},
    "lake": {"name_prefix": PREFIX, "schema": LAKE_SCHEMA, "kms_key_arn": KEY_ARN, "event_retention_days": 400},
    "collector": {"name_prefix": PREFIX, "stage_name": "prod", "route_keys": ["POST /events", "OPTIONS /events"],
                  "function_name": FUNCTIONS["api"], "function_invoke_arn": INVOKE_ARN, "kms_key_arn": KEY_ARN},
}
# What documents.tf reads from the module's data sources (the provider's, so not renderable here).
STUBS = {"encryption": {"account_id": ACCOUNT, "region": REGION, "partition": "aws"},
         "iam": {"account_id": ACCOUNT, "region": REGION, "partition": "aws"},
         "lake": {"partition": "aws", "bucket_name": LAKE_BUCKET, "results_bucket_name": RESULTS_BUCKET}}


@cache
def render_prod(module: str) -> dict:
    """The documents of one module as prod's deployment renders them."""
    return render_documents(MODULES / module, INPUTS[module], STUBS.get(module))


RESOURCE_REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)\}")


def render_chalice_swagger(package_dir: Path) -> str:
    """The OpenAPI document API Gateway imports (chalice.tf.json's chalice_api_swagger), rendered by
    Terraform with the function's invoke ARN in place of the resource it references."""
    swagger = json.loads((package_dir / "chalice.tf.json").read_text())["locals"]["chalice_api_swagger"]
    references = set(RESOURCE_REFERENCE.findall(swagger))
    if references - {("aws_lambda_function", "api_handler", "invoke_arn")}:
        raise RenderError(f"the API document references {sorted(references)}: add stubs for them")
    stubbed = swagger.replace("${aws_lambda_function.api_handler.invoke_arn}", "${local.api_handler_invoke_arn}")
    files = {"documents.tf.json": json.dumps({"locals": {"chalice_api_swagger": stubbed,
                                                         "api_handler_invoke_arn": INVOKE_ARN}})}
    return render_locals(files, ["chalice_api_swagger"])["chalice_api_swagger"]

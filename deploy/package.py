"""`make package STAGE=...`: Chalice's Terraform, fixed for current tools, beside our modules.

`chalice package --pkg-format terraform` writes chalice.tf.json and deployment.zip. Its Terraform
is written for Terraform < 1.4 and AWS provider < 5, uses the deprecated null_data_source, names
schedule rules without app or stage, cannot set log retention or stage throttling, and does not
know our function names or role. `fix_chalice_terraform` mends all of that (tested); `package`
assembles a directory Terraform can plan: terraform/ (root module and modules), the fixed
chalice.tf.json, deployment.zip and the generated variables.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.schema.tables import TABLES, name_prefix  # noqa: E402

TERRAFORM_SOURCE = PROJECT_DIR / "terraform"
BUILD_DIR = PROJECT_DIR / "build" / "terraform"
# Chalice's resource names of our functions -> the keys of local.function_names in terraform/main.tf.
FUNCTIONS = {"api_handler": "api", "expire_sessions": "expiry", "roll_up_stats": "rollup"}
# ...and the names those keys give (after the stage's name prefix); a test holds main.tf to them.
FUNCTION_NAMES = {"api": "EventCollector", "expiry": "SessionExpiry", "rollup": "StatsRollup"}
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
        function["function_name"] = f"${{local.function_names.{FUNCTIONS[key]}}}"
        function["role"] = "${module.iam.lambda_role_arn}"
        function["kms_key_arn"] = "${module.encryption.key_arn}"  # the environment holds the API token
        function["tracing_config"] = {"mode": TRACING_MODE}
        # The log groups (with retention) must exist before a function could create its own.
        function["depends_on"] = ["module.logs", "module.iam"]
        if key != "api_handler":
            function["reserved_concurrent_executions"] = JOBS_RESERVED_CONCURRENCY
    for key, rule in resources.get("aws_cloudwatch_event_rule", {}).items():
        function_key = key.removesuffix("-event")
        rule["name"] = f"${{local.function_names.{FUNCTIONS[function_key]}}}-Schedule"
        rule["description"] = f"Runs {function_key} every minute"


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


def tables_json() -> str:
    return json.dumps({spec.base_name: spec.describe() for spec in TABLES}, indent=2) + "\n"


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


def package(stage: str, build_dir: Path = BUILD_DIR) -> Path:
    """Builds build/terraform/<stage>/ and returns it."""
    target = build_dir / stage
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(TERRAFORM_SOURCE, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "bootstrap"))
    if (target / "tables.json").read_text() != tables_json():
        raise PackageError("terraform/tables.json is stale: "
                           "run `python -m chalicelib.schema.tables > terraform/tables.json`")
    generated = target / "chalice-generated"
    chalice_package(stage, generated)
    doc = json.loads((generated / "chalice.tf.json").read_text())
    (target / "chalice.tf.json").write_text(json.dumps(fix_chalice_terraform(doc), indent=2) + "\n")
    shutil.move(str(generated / "deployment.zip"), target / "deployment.zip")
    shutil.rmtree(generated)
    (target / "liveinsight.auto.tfvars.json").write_text(
        json.dumps({"stage": stage, "name_prefix": name_prefix(stage)}, indent=2) + "\n")
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

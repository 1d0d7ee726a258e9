"""The Lambda Python runtime and the AWS around it, rebuilt for the Lambda check: its interpreter, the
only packages it ships (boto3 and its dependencies, cached under build/), the environment Lambda gives a
function, the process that runs one, and moto's DynamoDB with the stage's tables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
RUNTIME_CACHE = PROJECT_DIR / "build" / "lambda-runtime"
RUNNER = Path(__file__).with_name("lambda_runner.py")
REGION = "us-east-1"  # terraform/variables.tf's default region
# boto3 of the python3.13 runtime. AWS documents no number for it: "Runtime-included SDK versions" in
# docs.aws.amazon.com/lambda/latest/dg/lambda-python.html says the version "depends on the runtime version
# and your AWS Region" and gives a handler that prints boto3.__version__ (read 2026; the older per-runtime
# version tables are gone). So we take a release of the week before AWS launched python3.13 (2024-11-14):
# the runtime only moves forward from its launch SDK, and the oldest SDK it could carry is the stricter
# test of what our code calls. Set LIVEINSIGHT_LAMBDA_BOTO3 to what that handler prints in your Region.
DEFAULT_RUNTIME_BOTO3 = "1.35.56"
BOTO3_ENV = "LIVEINSIGHT_LAMBDA_BOTO3"
# Everything the runtime ships besides the standard library (distribution names as pip writes them).
RUNTIME_DISTRIBUTIONS = frozenset({"boto3", "botocore", "jmespath", "s3transfer", "python_dateutil", "six",
                                   "urllib3"})
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"  # PATH in a Lambda execution environment


class CheckError(RuntimeError):
    """The check itself could not run (no such Python, pip failing): not a verdict on the package."""


def clean_python(runtime: str) -> str:
    """The real interpreter (past pyenv's shims) of the runtime's version, e.g. python3.13."""
    found = subprocess.run([str(PROJECT_DIR / "scripts" / "find_python.sh")], capture_output=True, text=True)
    if found.returncode != 0:
        raise CheckError(found.stderr.strip() or "scripts/find_python.sh found no Python")
    asked = subprocess.run([found.stdout.strip(), "-I", "-c", "import sys; print(sys.executable); "
                            "print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"],
                           capture_output=True, text=True, check=True)
    executable, version = asked.stdout.split()
    if version != runtime:
        raise CheckError(f"the package is for {runtime} but .python-version gives {version}: "
                         "re-run make package with the runtime's Python")
    return executable


def _distributions(directory: Path) -> set[str]:
    return {p.name.split("-")[0].lower() for p in directory.glob("*.dist-info")}


def runtime_packages(python: str, boto3_version: str | None = None) -> tuple[Path, str]:
    """boto3 and its dependencies for `python`, installed once into build/lambda-runtime/."""
    version = boto3_version or os.environ.get(BOTO3_ENV) or DEFAULT_RUNTIME_BOTO3
    tag = subprocess.run([python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    target = RUNTIME_CACHE / f"{tag}-boto3-{version}"
    if (target / ".complete").exists():
        return target, version
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    # The venv's pip when it is the same Python (it has pip for sure), else the runtime Python's own.
    same = f"{sys.implementation.cache_tag}" == tag
    installed = subprocess.run([sys.executable if same else python, "-m", "pip", "install", "--quiet",
                                "--disable-pip-version-check", "--no-input", "--only-binary=:all:",
                                "--target", str(partial), f"boto3=={version}", f"botocore=={version}"],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        raise CheckError(f"pip could not install boto3 {version}:\n{installed.stderr[-2000:]}")
    extra = _distributions(partial) - RUNTIME_DISTRIBUTIONS
    if extra:
        raise CheckError(f"boto3 {version} brought packages the Lambda runtime lacks: {sorted(extra)}")
    (partial / ".complete").write_text(f"boto3=={version}\n")
    try:
        partial.rename(target)
    except OSError:  # another run finished first: use its copy
        shutil.rmtree(partial, ignore_errors=True)
    return target, version


def function_environment(fn, setup: dict) -> dict[str, str]:
    """What Lambda puts in a function's environment, then the function's own variables; nothing of
    this machine's (a clean environment, as in Lambda)."""
    return {
        "PATH": LAMBDA_PATH, "LANG": "en_US.UTF-8", "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": setup["task"], "LAMBDA_RUNTIME_DIR": setup["runtime_dir"],
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}", "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]lambdacheck",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        # Fake role credentials, as the execution role's would be; moto accepts any.
        "AWS_ACCESS_KEY_ID": "ASIALAMBDACHECK00000", "AWS_SECRET_ACCESS_KEY": "lambda-check",
        "AWS_SESSION_TOKEN": "lambda-check",
        # Not Lambda's: keeps this machine's ~/.aws out of the check.
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL_DYNAMODB": setup["endpoint"], "AWS_ENDPOINT_URL_S3": setup["endpoint"],
        # The function's own variables; a path under /opt (a layer's file) is where the check unzipped the layers.
        **{name: setup["opt_dir"] + value[4:] if value.startswith("/opt/") and fn.layers else value
           for name, value in fn.environment.items()},
    }


def run_runner(python: str, plan: dict, env: dict[str, str], work: Path, label: str) -> dict:
    """One process, as one Lambda execution environment: init once, then the events in order."""
    plan_path, results_path = work / f"{label}.plan.json", work / f"{label}.results.json"
    plan_path.write_text(json.dumps(plan))
    limit_s = 60 + plan.get("timeout_s", 0) * len(plan["invocations"])
    # -I -S: no site-packages, no PYTHON* variables, no user site; -B: no .pyc written, as /var/task is
    # read-only on Lambda (so each cold start compiles the package's modules, and so does this).
    proc = subprocess.run([python, "-I", "-S", "-B", str(RUNNER), str(plan_path), str(results_path)], env=env,
                          cwd=plan["task_root"], capture_output=True, text=True, timeout=limit_s)
    if proc.returncode != 0 or not results_path.exists():
        raise CheckError(f"the runner of {label} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return {**json.loads(results_path.read_text()), "log": proc.stdout + proc.stderr}


def probe(python: str, task_root: Path, runtime_dir: Path, modules: list[str]) -> dict[str, str | None]:
    """Where each module would come from inside the clean interpreter (None: it would not import)."""
    with tempfile.TemporaryDirectory(prefix="lambda-probe-") as work:
        plan = {"task_root": str(task_root), "runtime_path": [str(runtime_dir)], "invocations": [], "probe": modules}
        return run_runner(python, plan, {"PATH": os.defpath}, Path(work), "probe")["probe"]


@contextmanager
def dynamodb(stage: str):
    """moto's server on a free loopback port, with the stage's tables from chalicelib/schema/tables.py
    (the definitions terraform/tables.json is generated from)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from chalicelib.schema.tables import create_tables

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start empty, leave nothing behind.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    try:
        urllib.request.urlopen(reset).close()
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id="lambda-check", aws_secret_access_key="lambda-check")
        create_tables(client, stage)
        yield endpoint, client
    finally:
        urllib.request.urlopen(reset).close()
        server.stop()


def stored_event(client, stage: str, site: str, event_id: str) -> dict | None:
    """The Events table's item of one event, decoded as the app decodes it."""
    from chalicelib.schema.tables import EVENTS, event_key
    from chalicelib.store import from_item

    item = client.get_item(TableName=EVENTS.name(stage), Key={"pk": {"S": event_key(site, event_id)}}).get("Item")
    return from_item(item) if item else None

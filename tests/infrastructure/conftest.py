"""Offline checks of the Terraform: the packaged deployment for prod and dev, parsed and scanned.
No AWS account and no provider download: fmt, get + providers, HCL parsing, checkov."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import hcl2
import pytest

from deploy.package import package
from tests.conftest import PROJECT_DIR

TERRAFORM_DIR = PROJECT_DIR / "terraform"
TERRAFORM_ENV = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


def terraform(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["terraform", *args, "-no-color"] if args[0] != "fmt" else ["terraform", *args],
                          cwd=cwd, env=TERRAFORM_ENV, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """`make package` for prod and dev, into a temporary build directory."""
    build = tmp_path_factory.mktemp("build")
    return {stage: package(stage, build_dir=build) for stage in ("prod", "dev")}


def _unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _normalise(node):
    """python-hcl2 keeps HCL's quotes around names and strings; drop them."""
    if isinstance(node, dict):
        return {_unquote(k): _normalise(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return _unquote(node)


def load_hcl(path: Path) -> dict:
    with open(path) as handle:
        return _normalise(hcl2.load(handle))


def resources(path: Path, kind: str) -> dict[str, dict]:
    found = {}
    for block in load_hcl(path).get("resource", []):
        found.update(block.get(kind, {}))
    return found


def with_prefix(value: str, prefix: str = "LiveInsight-") -> str:
    return value.replace("${var.name_prefix}", prefix)

"""Offline checks of the Terraform: the packaged deployment for prod and dev, parsed and scanned.
No AWS account and no provider download: fmt, get + providers, HCL parsing, checkov."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deploy.hcl import load_hcl  # shared with deploy/verify/schema_check.py (the schema check)
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


def resources(path: Path, kind: str) -> dict[str, dict]:
    found = {}
    for block in load_hcl(path).get("resource", []):
        found.update(block.get(kind, {}))
    return found


def with_prefix(value: str, prefix: str = "LiveInsight-") -> str:
    return value.replace("${var.name_prefix}", prefix)

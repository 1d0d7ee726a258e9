"""A thin wrapper of ours around python-terraform: only its generic `cmd()`, with explicit flags.

python-terraform's own apply()/destroy()/plan() helpers send flags current Terraform rejects or
treats specially (destroy's -force, plan's -detailed-exitcode, a temporary tfvars file on every
call), so each method here spells out the exact command line it runs; the tests assert them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from python_terraform import Terraform


class TerraformFailed(RuntimeError):
    def __init__(self, command: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"terraform {' '.join(command)} failed ({returncode}):\n{stderr.strip()}")
        self.returncode = returncode


class TerraformRunner:
    def __init__(self, working_dir: Path, terraform: Terraform | None = None) -> None:
        self.working_dir = Path(working_dir)
        self._terraform = terraform or Terraform(working_dir=str(working_dir))
        # No ~/.terraformrc warnings, no version checks against the internet, no prompts.
        os.environ.setdefault("TF_IN_AUTOMATION", "1")
        os.environ.setdefault("CHECKPOINT_DISABLE", "1")

    def _run(self, *command: str, capture: bool = True) -> str:
        kwargs = {} if capture else {"capture_output": False}
        returncode, out, err = self._terraform.cmd(*command, **kwargs)
        if returncode != 0:
            raise TerraformFailed(list(command), returncode, err or "")
        return out or ""

    def init(self, backend_config: Path) -> None:
        self._run("init", "-input=false", "-reconfigure", f"-backend-config={backend_config}", "-no-color")

    def plan(self, var_file: Path, plan_file: str = "release.tfplan") -> None:
        self._run("plan", "-input=false", f"-var-file={var_file}", f"-out={plan_file}", "-no-color", capture=False)

    def apply(self, plan_file: str = "release.tfplan") -> None:
        self._run("apply", "-input=false", "-auto-approve", "-no-color", plan_file, capture=False)

    def destroy(self, var_file: Path) -> None:
        self._run("destroy", "-input=false", "-auto-approve", f"-var-file={var_file}", "-no-color", capture=False)

    def outputs(self) -> dict:
        raw = json.loads(self._run("output", "-json", "-no-color") or "{}")
        return {name: value["value"] for name, value in raw.items()}

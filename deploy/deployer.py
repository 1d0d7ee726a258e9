"""plan, deploy, rollback and destroy a stage, step by step, printing progress as it goes."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from . import preflight
from .package import BUILD_DIR, package
from .release import PROJECT_DIR, Release, ReleaseStore
from .smoke import SmokeTestFailed, smoke_test
from .terraform import TerraformRunner

WORK_DIR = PROJECT_DIR / "build" / "work"


class DeployError(RuntimeError):
    pass


class Deployer:
    def __init__(self, stage: str, *, releases: ReleaseStore | None = None,
                 packager: Callable[[str], Path] = package,
                 runner: Callable[[Path], TerraformRunner] = TerraformRunner,
                 smoke: Callable[[str], str] = smoke_test,
                 say: Callable[[str], None] = print,
                 work_dir: Path = WORK_DIR,
                 check: Callable[[str, str, Path], list[str]] = preflight.run,
                 terraform_dir: Path = preflight.TERRAFORM_SOURCE) -> None:
        self.stage = stage
        self.releases = releases or ReleaseStore(stage)
        self._packager = packager
        self._runner = runner
        self._smoke = smoke
        self._say = say
        self._work = work_dir / stage
        self._check = check
        self._terraform_dir = terraform_dir

    def _step(self, number: int, total: int, text: str) -> None:
        self._say(f"[{number}/{total}] {text}")

    def _working_copy(self, source: Path) -> TerraformRunner:
        """Terraform runs in a scratch copy: a release directory is never written to."""
        if self._work.exists():
            shutil.rmtree(self._work)
        shutil.copytree(source, self._work, ignore=shutil.ignore_patterns(".terraform", "release.json"))
        for path in self._work.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        return self._runner(self._work)

    def _environment_file(self, suffix: str) -> Path:
        path = self._work / "environments" / f"{self.stage}{suffix}"
        if not path.exists():
            raise DeployError(f"{path.relative_to(self._work)} is missing: every stage needs "
                              f"terraform/environments/{self.stage}.tfvars and .s3.tfbackend")
        return path

    def _preflight(self, command: str, terraform_dir: Path | None = None) -> None:
        """Before any packaging or Terraform command: every missing piece at once, or nothing runs."""
        findings = self._check(self.stage, command, terraform_dir or self._terraform_dir)
        if findings:
            raise DeployError(preflight.report(self.stage, findings))
        self._say(f"preflight: stage {self.stage} has what a {command} needs")

    def _apply(self, runner: TerraformRunner, first_step: int, total: int) -> str:
        self._step(first_step, total, f"terraform init (state: environments/{self.stage}.s3.tfbackend)")
        runner.init(self._environment_file(".s3.tfbackend"))
        self._step(first_step + 1, total, f"terraform plan (environments/{self.stage}.tfvars)")
        runner.plan(self._environment_file(".tfvars"))
        self._step(first_step + 2, total, "terraform apply")
        runner.apply()
        events_url = runner.outputs()["events_url"]
        self._step(first_step + 3, total, f"smoke test: the operations guide's request to {events_url}")
        try:
            event_id = self._smoke(events_url)
        except SmokeTestFailed as exc:
            raise DeployError(f"smoke test failed: {exc}") from exc
        self._say(f"      stored as event {event_id}")
        return events_url

    def plan(self) -> None:
        self._preflight("plan")
        self._step(1, 3, f"package stage {self.stage}")
        runner = self._working_copy(self._packager(self.stage))
        self._step(2, 3, "terraform init")
        runner.init(self._environment_file(".s3.tfbackend"))
        self._step(3, 3, "terraform plan")
        runner.plan(self._environment_file(".tfvars"))

    def deploy(self) -> Release:
        self._preflight("deploy")
        self._step(1, 6, f"package stage {self.stage} (chalice package + fixed Terraform)")
        package_dir = self._packager(self.stage)
        release = self.releases.create(package_dir)
        self._step(2, 6, f"release {release.release_id} (git {release.git_revision}) kept in {release.directory}")
        self._apply(self._working_copy(release.path), 3, 6)
        self.releases.mark_current(release)
        self._say(f"Deployed release {release.release_id} to {self.stage}.")
        return release

    def rollback(self, release_id: str | None = None) -> Release:
        release = self.releases.get(release_id) if release_id else self.releases.previous()
        self._preflight("rollback", release.path)  # the release's own tfvars, backend and versions.tf
        self._step(1, 5, f"roll back {self.stage} to release {release.release_id} (git {release.git_revision})")
        self._apply(self._working_copy(release.path), 2, 5)
        self.releases.mark_current(release)
        self._say(f"Rolled back {self.stage} to release {release.release_id}.")
        return release

    def destroy(self, confirm: Callable[[str], str] = input) -> bool:
        self._preflight("destroy")  # nothing to confirm when it could not run anyway
        answer = confirm(f"This deletes every LiveInsight resource of stage '{self.stage}' (tables with deletion "
                         f"protection stay until it is turned off). Type the stage name to go on: ")
        if answer.strip() != self.stage:
            self._say("Nothing destroyed.")
            return False
        runner = self._working_copy(self._packager(self.stage))
        self._step(1, 2, "terraform init")
        runner.init(self._environment_file(".s3.tfbackend"))
        self._step(2, 2, "terraform destroy")
        runner.destroy(self._environment_file(".tfvars"))
        self._say(f"Destroyed stage {self.stage}.")
        return True


__all__ = ["BUILD_DIR", "DeployError", "Deployer"]

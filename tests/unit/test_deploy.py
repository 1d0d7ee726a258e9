"""The deploy driver without AWS: the exact Terraform commands it runs, releases, rollback, and the
preflight in front of them all (its real checks, on a complete temporary setup)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from python_terraform import Terraform

from deploy.deployer import Deployer, DeployError
from deploy.release import ReleaseStore
from deploy.smoke import SmokeTestFailed
from deploy.terraform import TerraformFailed, TerraformRunner
from tests.unit.test_preflight import Setup, complete_setup, edit


class RecordingPopen:
    """Stands in for subprocess.Popen under python-terraform: records the command lines."""

    calls: list[list[str]] = []
    returncode = 0
    stdout = b""

    def __init__(self, command, **kwargs):
        RecordingPopen.calls.append(list(command))
        self.returncode = RecordingPopen.returncode

    def communicate(self):
        return RecordingPopen.stdout, b"boom" if self.returncode else b""


@pytest.fixture
def popen(monkeypatch):
    RecordingPopen.calls, RecordingPopen.returncode, RecordingPopen.stdout = [], 0, b""
    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    return RecordingPopen


def test_the_wrapper_runs_exactly_these_commands(popen, tmp_path):
    runner = TerraformRunner(tmp_path, Terraform(working_dir=str(tmp_path)))
    runner.init(Path("environments/prod.s3.tfbackend"))
    runner.plan(Path("environments/prod.tfvars"))
    runner.apply()
    runner.destroy(Path("environments/prod.tfvars"))
    assert popen.calls == [
        ["terraform", "init", "-input=false", "-reconfigure", "-backend-config=environments/prod.s3.tfbackend",
         "-no-color"],
        ["terraform", "plan", "-input=false", "-var-file=environments/prod.tfvars", "-out=release.tfplan", "-no-color"],
        ["terraform", "apply", "-input=false", "-auto-approve", "-no-color", "release.tfplan"],
        ["terraform", "destroy", "-input=false", "-auto-approve", "-var-file=environments/prod.tfvars", "-no-color"],
    ]
    assert not any("-force" in call or "-detailed-exitcode" in call for call in popen.calls)


def test_outputs_are_read_as_json(popen, tmp_path):
    popen.stdout = b'{"events_url": {"value": "https://x.example/prod/events", "type": "string"}}'
    assert TerraformRunner(tmp_path).outputs() == {"events_url": "https://x.example/prod/events"}
    assert popen.calls == [["terraform", "output", "-json", "-no-color"]]


def test_a_failing_command_raises_with_its_error(popen, tmp_path):
    popen.returncode = 1
    with pytest.raises(TerraformFailed, match="boom"):
        TerraformRunner(tmp_path).init(Path("x"))


class FakeRunner:
    log: list[str] = []

    def __init__(self, working_dir):
        self.working_dir = working_dir

    def init(self, backend):
        FakeRunner.log.append(f"init {backend.name}")

    def plan(self, var_file):
        FakeRunner.log.append(f"plan {var_file.name}")

    def apply(self):
        release = (self.working_dir / "marker.txt").read_text()
        FakeRunner.log.append(f"apply {release}")

    def destroy(self, var_file):
        FakeRunner.log.append(f"destroy {var_file.name}")

    def outputs(self):
        return {"events_url": "https://api.example/prod/events"}


def fake_package(tmp_path: Path, setup: Setup, packaged: list[str]):
    def packager(stage: str) -> Path:
        packaged.append(stage)
        directory = tmp_path / f"package-{len(packaged)}"
        shutil.copytree(setup.terraform_dir, directory)  # like make package: terraform/ with environments/
        (directory / "marker.txt").write_text(f"build-{len(packaged)}")
        return directory
    return packager


@pytest.fixture
def deployer(tmp_path):
    FakeRunner.log = []
    setup, packaged = complete_setup(tmp_path / "setup"), []
    said, smoked = [], []
    clock = iter(datetime(2026, 11, 26, 12, m, tzinfo=timezone.utc) for m in range(60))
    releases = ReleaseStore("prod", root=tmp_path / "releases")
    original_create = releases.create
    releases.create = lambda package_dir: original_create(package_dir, now=next(clock))
    instance = Deployer("prod", releases=releases, packager=fake_package(tmp_path, setup, packaged), runner=FakeRunner,
                        smoke=lambda url: smoked.append(url) or "event-1", say=said.append,
                        work_dir=tmp_path / "work", check=setup.run, terraform_dir=setup.terraform_dir)
    instance.said, instance.smoked, instance.setup, instance.packaged = said, smoked, setup, packaged
    return instance


def test_deploy_packages_releases_applies_and_smoke_tests(deployer):
    release = deployer.deploy()
    assert deployer.said[0] == "preflight: stage prod has what a deploy needs"
    assert FakeRunner.log == ["init prod.s3.tfbackend", "plan prod.tfvars", "apply build-1"]
    assert deployer.smoked == ["https://api.example/prod/events"]
    assert deployer.releases.current() == release
    assert (release.path / "release.json").exists() and release.git_revision
    assert [line[:5] for line in deployer.said if line.startswith("[")] == [f"[{i}/6]" for i in range(1, 7)]


def test_a_failed_smoke_test_fails_the_deploy_and_keeps_the_current_release(deployer):
    first = deployer.deploy()

    def failing(url):
        raise SmokeTestFailed("answered 502")
    deployer._smoke = failing
    with pytest.raises(DeployError, match="502"):
        deployer.deploy()
    assert deployer.releases.current() == first


def test_rollback_reapplies_the_previous_release_as_it_was(deployer):
    first = deployer.deploy()
    deployer.deploy()
    FakeRunner.log = []
    assert deployer.rollback() == first
    assert FakeRunner.log[-1] == "apply build-1"  # the first build, not a new package
    assert deployer.releases.current() == first
    with pytest.raises(LookupError, match="before"):
        deployer.rollback()  # nothing older than the first release


def test_rollback_to_a_named_release(deployer):
    first, second = deployer.deploy(), deployer.deploy()
    deployer.deploy()
    assert deployer.rollback(second.release_id) == second
    assert deployer.rollback(first.release_id) == first
    with pytest.raises(LookupError, match="no release"):
        deployer.rollback("20990101T000000Z-nope")


def test_releases_are_read_only_and_terraform_runs_in_a_copy(deployer):
    release = deployer.deploy()
    files = [p for p in release.path.rglob("*") if p.is_file()]
    assert files and all(not p.stat().st_mode & 0o222 for p in files)  # no write bit anywhere
    assert not (release.path / ".terraform").exists()


def test_destroy_asks_first(deployer):
    assert deployer.destroy(confirm=lambda prompt: "no") is False
    assert FakeRunner.log == []
    assert deployer.destroy(confirm=lambda prompt: "prod") is True
    assert FakeRunner.log == ["init prod.s3.tfbackend", "destroy prod.tfvars"]


def test_plan_runs_after_the_preflight(deployer):
    deployer.plan()
    assert deployer.packaged == ["prod"] and FakeRunner.log == ["init prod.s3.tfbackend", "plan prod.tfvars"]


@pytest.mark.parametrize("command", ["plan", "deploy", "destroy"])
def test_a_failed_preflight_stops_everything_and_lists_every_problem(deployer, command):
    deployer.setup.environ.pop("TF_VAR_api_token")
    edit(deployer.setup, "prod.s3.tfbackend", "123456789012-eu-west-1", "CHANGE-ME")
    asked = []
    with pytest.raises(DeployError) as failure:
        getattr(deployer, command)(*([asked.append] if command == "destroy" else []))
    message = str(failure.value)
    assert message.startswith("preflight of stage prod: 2 problem(s), nothing was packaged or run:")
    assert "TF_VAR_api_token" in message and "CHANGE-ME" in message
    assert FakeRunner.log == [] and deployer.packaged == [] and deployer.releases.all() == [] and asked == []


def test_rollback_checks_the_release_it_reapplies(deployer):
    first = deployer.deploy()
    deployer.deploy()
    # The checkout's files may have moved on: the release's own (as deployed) are what rollback applies.
    edit(deployer.setup, "prod.tfvars", "blog.acme-analytics.dev", "www.example.com")
    assert deployer.rollback() == first
    deployer.setup.environ.pop("TF_VAR_api_token")  # the environment must still be complete
    FakeRunner.log = []
    with pytest.raises(DeployError, match="TF_VAR_api_token"):
        deployer.rollback(first.release_id)
    assert FakeRunner.log == []


def test_releases_go_to_s3_when_configured(tmp_path):
    uploads = []

    class S3:
        def upload_file(self, filename, bucket, key):
            uploads.append((Path(filename).suffixes, bucket, key))

    package_dir = tmp_path / "pkg"
    package_dir.mkdir()
    (package_dir / "chalice.tf.json").write_text("{}")
    store = ReleaseStore("prod", root=tmp_path / "releases", s3_client=S3(), bucket="my-releases")
    release = store.create(package_dir, now=datetime(2026, 11, 26, tzinfo=timezone.utc))
    assert uploads == [([".tar", ".gz"], "my-releases", f"liveinsight/releases/prod/{release.release_id}.tar.gz")]

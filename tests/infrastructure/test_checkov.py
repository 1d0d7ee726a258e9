"""checkov over the packaged Terraform, the generated file included: zero failed checks."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.conftest import PROJECT_DIR

CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"


def test_checkov_finds_nothing_to_fix(packaged, tmp_path):
    assert CHECKOV.exists(), "checkov is missing: `make test` installs it into .venv-checkov"
    for stage, directory in packaged.items():
        scanned = tmp_path / stage
        shutil.copytree(directory, scanned, ignore=shutil.ignore_patterns(".terraform", "deployment.zip"))
        result = subprocess.run([str(CHECKOV), "-d", str(scanned), "--config-file", str(PROJECT_DIR / ".checkov.yaml"),
                                 "-o", "json"], capture_output=True, text=True, timeout=600)
        reports = json.loads(result.stdout)
        reports = reports if isinstance(reports, list) else [reports]
        summaries = {r["check_type"]: r["summary"] for r in reports}
        assert set(summaries) == {"terraform", "terraform_json"}, summaries  # the generated file was scanned too
        failed = [c["check_id"] + " " + c["resource"] for r in reports for c in r["results"].get("failed_checks", [])]
        assert failed == [] and result.returncode == 0, failed
        assert summaries["terraform"]["passed"] > 50 and summaries["terraform_json"]["passed"] > 10


def test_checkov_passes_the_state_bootstrap():
    result = subprocess.run([str(CHECKOV), "-d", str(PROJECT_DIR / "terraform" / "bootstrap"),
                             "--config-file", str(PROJECT_DIR / ".checkov.yaml"), "-o", "json"],
                            capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] > 10, report["summary"]

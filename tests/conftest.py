"""Shared test set-up. In CI (CI=true) a skipped test fails the run: a missing tool must never
pass for a green build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _moto_transactions_independent_of_table_size():
    from scripts.moto_transactions import install

    install()


def stage_environment(stage: str) -> dict[str, str]:
    """The environment .chalice/config.json gives a stage (top level, then the stage's own)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}),
            **config["stages"][stage].get("environment_variables", {})}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed: {report.longrepr}"

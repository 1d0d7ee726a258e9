"""The preflight: every missing piece of a first deploy is one line of one list, and nothing it does
reaches the network (botocore's credential chain runs against temporary files only)."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from deploy import preflight
from deploy.preflight import AwsFacts, Tools
from tests.conftest import PROJECT_DIR

TOKEN = "9f2c4e7a1b3d5f6081a2c3e4b5d6f708192a3b4c5d6e7f80"
TFVARS = """region       = "eu-west-1"
sites_json   = "{\\"blog\\": {\\"origins\\": [\\"https://blog.acme-analytics.dev\\"]}, \\"shop\\": {\\"origins\\": [\\"https://shop.acme-analytics.dev:8443\\"]}}"
default_site = "blog"
alarm_emails = ["oncall@acme-analytics.dev"]
billing_mode = "PAY_PER_REQUEST"
"""
BACKEND = """bucket       = "liveinsight-terraform-state-123456789012-eu-west-1"
key          = "liveinsight/prod/terraform.tfstate"
region       = "eu-west-1"
use_lockfile = true
"""
VARIABLES = ["stage", "name_prefix", "region", "api_token", "sites_json", "default_site", "billing_mode",
             "alarm_emails", "deletion_protection", "log_retention_days", "expect_traffic"]


@dataclass
class Setup:
    """A complete first deploy: files in a temporary terraform/ and project, an environment, and
    what the (faked) credential chain and tools answer. Tests break one piece at a time."""
    terraform_dir: Path
    project_dir: Path
    environ: dict = field(default_factory=lambda: {"TF_VAR_api_token": TOKEN, "AWS_DEFAULT_REGION": "eu-west-1"})
    facts: AwsFacts = AwsFacts("shared-credentials-file", region="eu-west-1")
    tools: Tools = Tools("1.11.4", "3.13.1", "1.34.0")

    def write(self, name: str, text: str) -> None:
        (self.terraform_dir / "environments" / name).write_text(text)

    def run(self, stage: str = "prod", command: str = "deploy", terraform_dir: Path | None = None) -> list[str]:
        return preflight.run(stage, command, terraform_dir or self.terraform_dir, environ=self.environ,
                             aws=lambda env: self.facts, tools=lambda env: self.tools, project_dir=self.project_dir)


def complete_setup(root: Path) -> Setup:
    terraform_dir, project_dir = root / "terraform", root / "project"
    (terraform_dir / "environments").mkdir(parents=True)
    project_dir.mkdir()
    (project_dir / ".python-version").write_text("3.13\n")
    (project_dir / "requirements-dev.txt").write_text("-r requirements.txt\nchalice==1.34.0\nboto3==1.44.5\n")
    (terraform_dir / "versions.tf").write_text('terraform {\n  required_version = ">= 1.5"\n}\n')
    (terraform_dir / "variables.tf").write_text("".join(f'variable "{name}" {{}}\n' for name in VARIABLES))
    setup = Setup(terraform_dir, project_dir)
    for stage in ("prod", "dev"):
        setup.write(f"{stage}.tfvars", TFVARS)
        setup.write(f"{stage}.s3.tfbackend", BACKEND.replace("/prod/", f"/{stage}/"))
    return setup


@pytest.fixture
def setup(tmp_path) -> Setup:
    return complete_setup(tmp_path)


def test_a_complete_setup_passes(setup):
    assert setup.run() == []
    assert setup.run("dev") == [] and setup.run(command="rollback") == [] and setup.run(command="destroy") == []


def edit(setup: Setup, name: str, old: str, new: str) -> None:
    path = setup.terraform_dir / "environments" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


BROKEN = {
    "no credentials": (lambda s: setattr(s, "facts", AwsFacts(None)), "AWS credentials: none found"),
    "broken profile": (lambda s: setattr(s, "facts", AwsFacts(None, "The config profile (ops) could not be found",
                                                              profile="ops")), "profile 'ops'"),
    "no CLI region": (lambda s: (s.environ.pop("AWS_DEFAULT_REGION"), setattr(s, "facts", AwsFacts("env"))),
                      "export AWS_DEFAULT_REGION=eu-west-1"),
    "CLI elsewhere": (lambda s: s.environ.update(AWS_REGION="us-east-1"), "AWS_REGION is us-east-1"),
    "regions differ": (lambda s: edit(s, "prod.s3.tfbackend", 'region       = "eu-west-1"', 'region = "us-east-1"'),
                       "make them the same"),
    "bad region": (lambda s: edit(s, "prod.tfvars", '"eu-west-1"', '"Europe"'), "not an AWS region"),
    "bucket placeholder": (lambda s: edit(s, "prod.s3.tfbackend", "123456789012-eu-west-1", "CHANGE-ME"),
                           "bucket is the placeholder 'liveinsight-terraform-state-CHANGE-ME'"),
    "bucket name": (lambda s: edit(s, "prod.s3.tfbackend", "liveinsight-terraform", "LiveInsight_terraform"),
                    "not a valid S3 bucket name"),
    "no bucket": (lambda s: edit(s, "prod.s3.tfbackend", "bucket", "# bucket"), "bucket is missing"),
    "no backend": (lambda s: (s.terraform_dir / "environments" / "prod.s3.tfbackend").unlink(),
                   "prod.s3.tfbackend is missing"),
    "no token": (lambda s: s.environ.pop("TF_VAR_api_token"), "TF_VAR_api_token (the read API's bearer token) is "
                 "not set; fix: export TF_VAR_api_token=$(openssl rand -hex 24)"),
    "short token": (lambda s: s.environ.update(TF_VAR_api_token="a1b2c3d4e5f6"), "is 12 characters"),
    "placeholder token": (lambda s: s.environ.update(TF_VAR_api_token="change-me-change-me-change-me"),
                          "looks like a placeholder"),
    "token in a file": (lambda s: edit(s, "prod.tfvars", "billing_mode", 'api_token = "secret"\nbilling_mode'),
                        "sets api_token"),
    "sites not JSON": (lambda s: edit(s, "prod.tfvars", '{\\"blog', '{blog'), "sites_json is missing or not JSON"),
    "example origin": (lambda s: edit(s, "prod.tfvars", "blog.acme-analytics.dev", "www.example.com"),
                       "site 'blog': https://www.example.com is a placeholder domain"),
    "local origin": (lambda s: edit(s, "prod.tfvars", "https://blog.acme-analytics.dev", "http://localhost:8000"),
                     "http://localhost:8000 is a local address"),
    "http origin": (lambda s: edit(s, "prod.tfvars", "https://blog", "http://blog"), "is not https://"),
    "origin with a path": (lambda s: edit(s, "prod.tfvars", 'analytics.dev\\"]}, ', 'analytics.dev/x\\"]}, '),
                           "'https://blog.acme-analytics.dev/x' is not an origin"),
    "no origins": (lambda s: edit(s, "prod.tfvars", '\\"https://blog.acme-analytics.dev\\"', ""), "has no origins"),
    "bad site id": (lambda s: edit(s, "prod.tfvars", '\\"shop\\"', '\\"Shop!\\"'), "site id 'Shop!'"),
    "default not a site": (lambda s: edit(s, "prod.tfvars", '"blog"', '"default"'), "default_site is 'default'"),
    "alarm placeholder": (lambda s: edit(s, "prod.tfvars", "oncall@acme-analytics.dev", "alarms@example.com"),
                          "alarm_emails has 'alarms@example.com', a placeholder address"),
    "alarm not an address": (lambda s: edit(s, "prod.tfvars", "oncall@acme-analytics.dev", "oncall"),
                             "'oncall', not an e-mail address"),
    "alarms missing": (lambda s: edit(s, "prod.tfvars", "alarm_emails", "# alarm_emails"),
                       "alarm_emails is missing, so nobody would hear of an alarm"),
    "typo key": (lambda s: edit(s, "prod.tfvars", "billing_mode", "biling_mode"), "biling_mode is not a variable"),
    "no terraform": (lambda s: setattr(s, "tools", replace(s.tools, terraform=None)), "terraform is not on PATH"),
    "old terraform": (lambda s: setattr(s, "tools", replace(s.tools, terraform="1.9.8")),
                      "terraform is 1.9.8, this deployment needs >= 1.5, >= 1.10"),
    "wrong python": (lambda s: setattr(s, "tools", replace(s.tools, python="3.11.7")),
                     "the packaging Python is 3.11.7, the Lambda runtime is 3.13"),
    "no chalice": (lambda s: setattr(s, "tools", replace(s.tools, chalice=None)), "chalice is missing"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_each_missing_piece_is_one_line_saying_what_and_how(setup, case):
    breaks, expected = BROKEN[case]
    breaks(setup)
    [finding] = setup.run()
    assert expected in finding and "; fix: " in finding


def test_every_problem_comes_at_once(setup):
    for case in ("no credentials", "bucket placeholder", "no token", "example origin", "alarm placeholder",
                 "old terraform", "no chalice"):
        BROKEN[case][0](setup)
    findings = setup.run()
    assert len(findings) == 7
    report = preflight.report("prod", findings)
    assert report.startswith("preflight of stage prod: 7 problem(s), nothing was packaged or run:\n  1. ")


def test_the_shipped_files_fail_on_their_placeholders_only(setup):
    """With a complete environment, the repository's prod files fail on exactly what an operator must
    fill in; dev keeps its localhost origin and explicit `alarm_emails = []`, and needs only the bucket."""
    setup.facts = AwsFacts("env", region="us-east-1")
    setup.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    shipped = PROJECT_DIR / "terraform"
    prod = setup.run("prod", terraform_dir=shipped)
    assert [line.split(":")[0] for line in prod] == ["terraform/environments/prod.s3.tfbackend"] + [
        "terraform/environments/prod.tfvars"] * 2
    assert "placeholder 'liveinsight-terraform-state-CHANGE-ME'" in prod[0]
    assert "https://www.example.com is a placeholder domain" in prod[1] and "alarms@example.com" in prod[2]
    [dev] = setup.run("dev", terraform_dir=shipped)
    assert dev.startswith("terraform/environments/dev.s3.tfbackend: bucket is the placeholder")


def test_rollback_skips_packaging_and_destroy_skips_the_sites(setup):
    setup.tools = replace(setup.tools, chalice=None)
    BROKEN["example origin"][0](setup)
    [rollback] = setup.run(command="rollback")  # the site, not chalice
    [destroy] = setup.run(command="destroy")
    assert "site 'blog'" in rollback and destroy.startswith("chalice is missing")


@pytest.mark.parametrize(("version", "constraints", "ok"), [
    ("1.11.4", ">= 1.10", True), ("1.9.8", ">= 1.10", False), ("1.10.0", ">= 1.5, < 2.0", True),
    ("2.0.0", ">= 1.5, < 2.0", False), ("1.14.2", "~> 1.10", True), ("1.10.9", "~> 1.10.2", True),
    ("1.11.0", "~> 1.10.2", False), ("1.11.4", "= 1.11.4", True), ("1.11.4", "!= 1.11.4", False)])
def test_terraform_version_constraints(version, constraints, ok):
    assert preflight.satisfies(version, constraints) is ok


def test_the_tools_probe_runs_terraform_locally_without_its_update_check(tmp_path):
    fake = tmp_path / "terraform"
    fake.write_text('#!/bin/sh\necho "{\\"terraform_version\\": \\"1.10.$CHECKPOINT_DISABLE\\"}"\n')
    fake.chmod(0o755)
    assert preflight.local_tools({"PATH": str(tmp_path)}).terraform == "1.10.1"
    assert preflight.local_tools({"PATH": str(tmp_path / "nothing")}).terraform is None


# botocore's credential chain, for real, against temporary files.

@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No connection and no program may be started: each attempt fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"the preflight tried to connect or run something: {args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield {"HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
           "AWS_CONFIG_FILE": str(tmp_path / "config")}
    assert attempts == []  # and botocore's view of the environment is undone:
    assert {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} == before


def test_no_credentials_anywhere(offline):
    assert preflight.aws_facts(offline) == AwsFacts(None, None, None, "default")


def test_credentials_from_the_environment(offline):
    env = {**offline, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    assert preflight.aws_facts(env).credentials == "env"
    partial = preflight.aws_facts({**offline, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"})
    assert partial.credentials is None and "AWS_SECRET_ACCESS_KEY" in partial.problem


def test_credentials_and_region_from_the_shared_files(offline):
    Path(offline["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[deployer]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n")
    Path(offline["AWS_CONFIG_FILE"]).write_text("[profile deployer]\nregion = eu-west-1\n")
    assert preflight.aws_facts({**offline, "AWS_PROFILE": "deployer"}) == AwsFacts(
        "shared-credentials-file", None, "eu-west-1", "deployer")
    missing = preflight.aws_facts({**offline, "AWS_PROFILE": "nobody"})
    assert missing.credentials is None and "nobody" in missing.problem


def test_sso_and_roles_count_as_configured_without_being_asked(offline, tmp_path):
    ran = tmp_path / "ran"  # botocore's ProcessProvider holds its own Popen: this proves it never ran
    program = tmp_path / "fetch-credentials"
    program.write_text(f"#!/bin/sh\ntouch {ran}\n"
                       """echo '{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b"}'\n""")
    program.chmod(0o755)
    Path(offline["AWS_CONFIG_FILE"]).write_text(
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deploy\nregion = eu-west-1\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/Deploy\ncredential_source = Ec2InstanceMetadata\n"
        f"[profile process]\ncredential_process = {program}\n")
    assert preflight.aws_facts({**offline, "AWS_PROFILE": "sso"}).credentials == "sso"
    assert preflight.aws_facts({**offline, "AWS_PROFILE": "role"}).credentials == "assume-role"
    assert preflight.aws_facts({**offline, "AWS_PROFILE": "process"}).credentials == "custom-process"
    assert not ran.exists()
    container = {**offline, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}
    assert preflight.aws_facts(container).credentials == "container-role"


def test_the_check_reads_the_real_chain_through_its_environment(offline, setup):
    Path(offline["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n")
    env = {**offline, "TF_VAR_api_token": TOKEN, "AWS_DEFAULT_REGION": "eu-west-1"}
    assert preflight.run("prod", terraform_dir=setup.terraform_dir, environ=env, tools=lambda env: setup.tools,
                         project_dir=setup.project_dir) == []
    Path(offline["AWS_SHARED_CREDENTIALS_FILE"]).unlink()
    [finding] = preflight.run("prod", terraform_dir=setup.terraform_dir, environ=env, tools=lambda env: setup.tools,
                              project_dir=setup.project_dir)
    assert finding.startswith("AWS credentials: none found") and offline["AWS_SHARED_CREDENTIALS_FILE"] in finding


def test_python_m_deploy_preflight_prints_the_list_and_fails(monkeypatch, capsys):
    from deploy.__main__ import main

    monkeypatch.setattr(preflight, "run", lambda stage, command: [f"{stage} {command}: one", "two"])
    assert main(["preflight", "--stage", "dev"]) == 1
    assert capsys.readouterr().err == ("preflight of stage dev: 2 problem(s), nothing was packaged or run:\n"
                                       "  1. dev deploy: one\n  2. two\n")
    monkeypatch.setattr(preflight, "run", lambda stage, command: [])
    assert main(["preflight"]) == 0 and capsys.readouterr().out == "preflight of stage prod: ready to deploy\n"

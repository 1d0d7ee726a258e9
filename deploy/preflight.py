"""The preflight: what a first deploy needs, checked before any packaging or Terraform command and
reported as one list, each line saying what is wrong and how to fix it. Nothing here uses the network."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import hcl2
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError

from chalicelib.core.settings import ANY_ORIGIN, ORIGIN_PATTERN, SITE_ID_PATTERN
from chalicelib.schema.tables import PRODUCTION_STAGE

from .local_facts import AwsFacts, Tools, aws_facts, local_tools

PROJECT_DIR = Path(__file__).resolve().parent.parent
TERRAFORM_SOURCE = PROJECT_DIR / "terraform"
MIN_TOKEN_LENGTH = 24  # terraform/variables.tf's validation of api_token
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
BUCKET = re.compile(r"^(?!xn--|\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PLACEHOLDER = re.compile(r"change-?me|placeholder|replace-?me|your-|^x+$", re.I)
EMAIL = re.compile(r"^[^@\s]+@([a-z0-9-]+\.)+[a-z]{2,}$", re.I)
# RFC 2606/6761 names, which never serve a real site: a value on them is a placeholder.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost")
# Beyond credentials, region, state, token and Terraform: rollback builds no package (it re-applies a
# release, whose own files are checked), destroy does not care what the sites are.
EXTRA_CHECKS = {"plan": {"packaging", "settings"}, "deploy": {"packaging", "settings"},
                "rollback": {"settings"}, "destroy": {"packaging"}}


def _where(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR)) if path.is_relative_to(PROJECT_DIR) else str(path)


def read_hcl(path: Path) -> tuple[dict, list[str]]:
    """A .tfvars/.tfbackend/.tf file's top-level values (strings unquoted), or why it cannot be read."""
    if not path.exists():
        return {}, [f"{_where(path)} is missing; fix: create it (the shipped prod and dev files show every key)"]
    try:
        options = SerializationOptions(strip_string_quotes=True, with_comments=False, preserve_heredocs=False)
        return hcl2.loads(path.read_text(), serialization_options=options), []
    except (LarkError, ValueError) as exc:
        return {}, [f"{_where(path)} does not parse ({str(exc).splitlines()[0]}); fix: correct its syntax"]


def aws_findings(facts: AwsFacts, env: Mapping[str, str], region: str | None) -> list[str]:
    """region: the stage's, when its tfvars names a valid one (else region_findings says so)."""
    files = " and ".join(env.get(name, default) for name, default in (
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), ("AWS_CONFIG_FILE", "~/.aws/config")))
    findings = [f"AWS credentials: {facts.problem}; fix: complete or remove that setting (the AWS_* variables, or "
                f"profile {facts.profile!r} in {files}: aws configure, aws sso login)"] if facts.problem else []
    if facts.credentials is None and not facts.problem:
        findings.append(f"AWS credentials: none found (environment, profile {facts.profile!r} in {files}, SSO, "
                        "web identity, container; the EC2 metadata endpoint is not asked); fix: export "
                        "AWS_PROFILE=<profile> (after aws configure or aws sso login), or export AWS_ACCESS_KEY_ID "
                        "and AWS_SECRET_ACCESS_KEY")
    cli = {name: env[name] for name in ("AWS_REGION", "AWS_DEFAULT_REGION") if env.get(name)}
    cli = cli or ({f"the region of profile {facts.profile!r}": facts.region} if facts.region else {})
    findings += [f"{name} is {value} but the stage deploys to {region}: the AWS CLI and make ops-check would look "
                 f"in the wrong region; fix: export AWS_DEFAULT_REGION={region} (and AWS_REGION, if set)"
                 for name, value in cli.items() if region and value != region]
    if not cli and not facts.problem:
        findings.append("no region for the AWS CLI and boto3 (make ops-check, the operations guide's aws commands); "
                        f"fix: export AWS_DEFAULT_REGION={region or '<the region in the stage tfvars>'}")
    return findings


def region_findings(files: dict[Path, dict]) -> list[str]:
    """files: the stage's tfvars and backend file, if they were read."""
    bad = [f"{_where(path)}: region is {values.get('region', 'missing')!r}, not an AWS region; "
           "fix: region = \"us-east-1\" (or your region)" for path, values in files.items()
           if values and not REGION.match(str(values.get("region", "")))]
    regions = {path: values["region"] for path, values in files.items() if values and "region" in values}
    if not bad and len(set(regions.values())) > 1:
        bad.append(" but ".join(f"{_where(path)} says region {region}" for path, region in regions.items())
                   + "; fix: make them the same (the stage's region, where bootstrap created the state bucket)")
    return bad


def state_findings(backend: dict, path: Path) -> list[str]:
    bucket = str(backend.get("bucket", ""))
    problem = ("is missing" if not bucket else
               f"is the placeholder {bucket!r}" if PLACEHOLDER.search(bucket) else
               None if BUCKET.match(bucket) else f"{bucket!r} is not a valid S3 bucket name")
    findings = [f"{_where(path)}: bucket {problem}; fix: create the state bucket once (terraform/bootstrap/"
                "README.md) and write its `terraform output state_bucket` here as bucket = \"...\""
                ] if backend and problem else []
    if backend and not backend.get("key"):
        findings.append(f"{_where(path)}: key is missing; fix: key = \"liveinsight/<stage>/terraform.tfstate\"")
    return findings


def _token_problem(token: str) -> str | None:
    if not token:
        return "is not set"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"is {len(token)} characters, Terraform requires at least {MIN_TOKEN_LENGTH}"
    if token != token.strip():
        return "has spaces around it"
    return "looks like a placeholder" if PLACEHOLDER.search(token) or len(set(token)) < 8 else None


def token_findings(env: Mapping[str, str], tfvars: dict, tfvars_path: Path) -> list[str]:
    problem = _token_problem(env.get("TF_VAR_api_token", ""))
    findings = [f"TF_VAR_api_token (the read API's bearer token) {problem}; fix: export "
                "TF_VAR_api_token=$(openssl rand -hex 24) and keep it in your password manager"] if problem else []
    if "api_token" in tfvars:
        findings.append(f"{_where(tfvars_path)} sets api_token: a secret in a file, and it overrides "
                        "TF_VAR_api_token; fix: delete that line")
    return findings


def _reserved(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in RESERVED_DOMAINS)


def _is_local(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
        return address.is_loopback or address.is_private or address.is_unspecified
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def origin_problem(origin: object, stage: str) -> str | None:
    if origin == ANY_ORIGIN:  # the app's explicit "any website": a choice, not a placeholder
        return None
    if not isinstance(origin, str) or not ORIGIN_PATTERN.match(origin) or re.search(r"[?#@]", origin):
        return f"{origin!r} is not an origin (scheme://host[:port], no path, no trailing slash)"
    parts = urlsplit(origin)
    host = (parts.hostname or "").rstrip(".")
    if _is_local(host):  # dev may point at a local page; prod has visitors
        return f"{origin} is a local address, which no visitor's page has" if stage == PRODUCTION_STAGE else None
    if _reserved(host):
        return f"{origin} is a placeholder domain"
    return None if parts.scheme == "https" else f"{origin} is not https://"


def site_findings(tfvars: dict, stage: str, path: Path) -> list[str]:
    where, fix = _where(path), "fix: in sites_json, list the origins of your pages, e.g. \"https://www.your-site.com\""
    try:
        sites, error = json.loads(tfvars["sites_json"]), "not a JSON object of sites"
    except (KeyError, TypeError, ValueError) as exc:
        sites, error = None, f"missing or not JSON: {exc}"
    if not isinstance(sites, dict) or not sites:
        return [f"{where}: sites_json is {error}; fix: sites_json = "
                "\"{\\\"<site-id>\\\": {\\\"origins\\\": [\\\"https://<your site>\\\"]}}\""]
    findings = [f"{where}: site id {site_id!r} is not 1-64 lower-case letters, digits, '_' or '-'; fix: rename it"
                for site_id in sites if not SITE_ID_PATTERN.match(site_id)]
    for site_id, conf in sites.items():
        origins = conf.get("origins") if isinstance(conf, dict) else None
        problems = [origin_problem(origin, stage) for origin in origins or []] if isinstance(origins, list) else []
        if not isinstance(origins, list) or not origins:
            problems = ["has no origins, so no browser could send its events"]
        findings += [f"{where}: site {site_id!r}: {problem}; {fix}" for problem in problems if problem]
    if tfvars.get("default_site") not in sites:
        findings.append(f"{where}: default_site is {tfvars.get('default_site', 'missing')!r}, not one of the sites "
                        f"({', '.join(map(str, sites))}); fix: default_site = \"<one of them>\"")
    return findings


def alarm_findings(tfvars: dict, path: Path) -> list[str]:
    fix = "fix: alarm_emails = [\"you@your-company.com\"], or alarm_emails = [] for no alarm e-mails"
    if "alarm_emails" not in tfvars:  # Terraform's default [] would mean "no e-mails" by omission
        return [f"{_where(path)}: alarm_emails is missing, so nobody would hear of an alarm; {fix}"]
    emails = tfvars["alarm_emails"]
    if not isinstance(emails, list):
        return [f"{_where(path)}: alarm_emails is not a list; {fix}"]
    problems = {email: "not an e-mail address" if not EMAIL.match(str(email)) else "a placeholder address"
                for email in emails if not EMAIL.match(str(email)) or _reserved(str(email).rpartition("@")[2].lower())}
    return [f"{_where(path)}: alarm_emails has {email!r}, {problem}; {fix}" for email, problem in problems.items()]


def key_findings(tfvars: dict, variables: dict, path: Path) -> list[str]:
    declared = {name for block in variables.get("variable", []) for name in block}
    generated = {"stage", "name_prefix"}  # make package writes them; a value in the tfvars would win
    return [f"{_where(path)}: {key} " + ("is set by make package" if key in generated else "is not a variable of "
            "terraform/variables.tf (a typo?)") + f"; fix: delete or correct the {key} line"
            for key in tfvars if key != "api_token" and (key in generated or key not in declared)]


def satisfies(version: str, constraints: str) -> bool:
    """Terraform's version constraints (">= 1.10, < 2.0", "~> 1.10"), enough for required_version."""
    have = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    for op, raw in re.findall(r"(>=|<=|~>|!=|>|<|=)?\s*v?(\d+(?:\.\d+)*)", constraints):
        want = tuple(int(n) for n in raw.split("."))
        full, kept = want + (0,) * (3 - len(want)), max(len(want) - 1, 1)
        if not {">=": have >= full, ">": have > full, "<=": have <= full, "<": have < full, "!=": have != full,
                "~>": have >= full and have[:kept] == want[:kept]}.get(op, have == full):
            return False
    return True


def tool_findings(tools: Tools, required: str, project_dir: Path, packaging: bool) -> list[str]:
    findings = []
    if not tools.terraform or not satisfies(tools.terraform, required):
        found = "not on PATH" if tools.terraform is None else tools.terraform or "not answering its version"
        findings.append(f"terraform is {found}, this deployment needs {required}; fix: install Terraform {required} "
                        "(https://developer.hashicorp.com/terraform/install) on PATH")
    runtime = (project_dir / ".python-version").read_text().strip()
    if packaging and not tools.python.startswith(runtime + "."):
        findings.append(f"the packaging Python is {tools.python}, the Lambda runtime is {runtime} (.python-version); "
                        f"fix: run it through the Makefile (make deploy), whose .venv has Python {runtime}")
    pin = re.search(r"^chalice==(\S+)", (project_dir / "requirements-dev.txt").read_text(), re.M)
    if packaging and (tools.chalice is None or (pin and tools.chalice != pin.group(1))):
        findings.append(f"chalice is {tools.chalice or 'missing'} beside {sys.executable}, requirements-dev.txt "
                        f"pins {pin.group(1) if pin else 'it'}; fix: make venv")
    return findings


def run(stage: str, command: str = "deploy", terraform_dir: Path = TERRAFORM_SOURCE, *,
        environ: Mapping[str, str] | None = None, aws: Callable[[Mapping[str, str]], AwsFacts] = aws_facts,
        tools: Callable[[Mapping[str, str]], Tools] = local_tools, project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every problem at once (empty: ready). terraform_dir holds versions.tf, variables.tf and environments/."""
    env, extra = dict(os.environ if environ is None else environ), EXTRA_CHECKS.get(command, EXTRA_CHECKS["deploy"])
    tfvars_path = terraform_dir / "environments" / f"{stage}.tfvars"
    backend_path = terraform_dir / "environments" / f"{stage}.s3.tfbackend"
    (tfvars, findings), (backend, unread) = read_hcl(tfvars_path), read_hcl(backend_path)
    findings += unread + region_findings({tfvars_path: tfvars, backend_path: backend})
    region = tfvars.get("region") if REGION.match(str(tfvars.get("region"))) else None
    findings += aws_findings(aws(env), env, region)
    findings += state_findings(backend, backend_path) + token_findings(env, tfvars, tfvars_path)
    variables, versions = read_hcl(terraform_dir / "variables.tf")[0], read_hcl(terraform_dir / "versions.tf")[0]
    findings += key_findings(tfvars, variables, tfvars_path) if variables else []
    if "settings" in extra and tfvars:
        findings += site_findings(tfvars, stage, tfvars_path) + alarm_findings(tfvars, tfvars_path)
    required = [block.get("required_version") for block in versions.get("terraform", [])]
    required += [">= 1.10"] if backend.get("use_lockfile") else []  # Terraform's own S3 lock file
    return findings + tool_findings(tools(env), ", ".join(filter(None, required)) or ">= 1.10", project_dir,
                                    "packaging" in extra)


def report(stage: str, findings: list[str]) -> str:
    return (f"preflight of stage {stage}: {len(findings)} problem(s), nothing was packaged or run:\n"
            + "\n".join(f"  {number}. {finding}" for number, finding in enumerate(findings, 1)))

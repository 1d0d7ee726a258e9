"""What this machine would deploy with, found without the network: the AWS credentials and region
boto3 and Terraform would use, and the local tools (Terraform, the packaging Python, chalice)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CONTAINER_VARIABLES = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass(frozen=True)
class AwsFacts:
    """What boto3 and Terraform would use, found without sending a request or running a program."""
    credentials: str | None  # botocore's name of the provider that has them; None: none found
    problem: str | None = None  # a broken configuration, in botocore's words
    region: str | None = None  # the CLI's and boto3's region: AWS_DEFAULT_REGION or the profile's
    profile: str = "default"


@dataclass(frozen=True)
class Tools:
    terraform: str | None  # `terraform version -json`; None: not on PATH, "": it did not answer
    python: str  # the Python that packages: Chalice builds for its minor version
    chalice: str | None  # the chalice beside that Python; None: missing


@contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    """botocore reads os.environ itself, in many places: let it see exactly `env` meanwhile."""
    wanted, saved = dict(env), dict(os.environ)
    os.environ.clear()
    os.environ.update(wanted)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _configured_only(env: Mapping[str, str], profile: Mapping[str, str]) -> dict[str, bool]:
    """Providers that would send a request (instance metadata, the container endpoint, STS for a
    role's source credentials) or run a program (credential_process): judged by their settings."""
    return {"iam-role": False,  # the EC2 instance metadata endpoint is never asked
            "container-role": any(env.get(name) for name in CONTAINER_VARIABLES),
            "custom-process": bool(profile.get("credential_process")),
            "assume-role": "role_arn" in profile and "web_identity_token_file" not in profile}


def aws_facts(env: Mapping[str, str]) -> AwsFacts:
    """botocore's own credential chain, in its order, loading only the providers that read files and
    variables (SSO and web identity are loaded lazily: their token exchange waits for first use)."""
    from botocore.credentials import create_credential_resolver
    from botocore.exceptions import BotoCoreError
    from botocore.session import Session

    with _environ({**env, "AWS_EC2_METADATA_DISABLED": "true"}):
        session = Session()
        profile = session.get_config_variable("profile") or "default"
        try:
            region = session.get_config_variable("region")
            skip = _configured_only(env, session.get_scoped_config())
            for provider in create_credential_resolver(session).providers:
                if skip[provider.METHOD] if provider.METHOD in skip else provider.load() is not None:
                    return AwsFacts(provider.METHOD, None, region, profile)
            return AwsFacts(None, None, region, profile)
        except BotoCoreError as exc:
            return AwsFacts(None, str(exc), None, profile)


def local_tools(env: Mapping[str, str]) -> Tools:
    terraform, version = shutil.which("terraform", path=env.get("PATH")), None
    if terraform:  # CHECKPOINT_DISABLE: else `terraform version` asks HashiCorp about newer releases
        result = subprocess.run([terraform, "version", "-json"], env={**env, "CHECKPOINT_DISABLE": "1"},
                                capture_output=True, text=True, timeout=60)
        try:
            version = json.loads(result.stdout)["terraform_version"]
        except (ValueError, KeyError):
            version = ""
    chalice = Path(sys.executable).with_name("chalice")  # what deploy/package.py runs
    return Tools(version, "{}.{}.{}".format(*sys.version_info[:3]),
                 metadata.version("chalice") if chalice.exists() else None)

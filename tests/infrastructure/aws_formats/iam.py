"""IAM policy grammar ("IAM JSON policy element reference") and sizes ("IAM and AWS STS quotas")."""

from __future__ import annotations

import json
import re

POLICY_VERSIONS = {"2012-10-17", "2008-10-17"}
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"}
ACTION = re.compile(r"^(\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$")
ARN = re.compile(r"^(\*|arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:[a-z0-9-]*:(\d{12}|\*|aws)?:.+)$")
PRINCIPAL_KINDS = {"AWS", "Service", "Federated", "CanonicalUser"}
CONDITION_OPERATOR = re.compile(
    r"^(ForAllValues:|ForAnyValue:)?(String(Not)?Equals(IgnoreCase)?|String(Not)?Like|Numeric(Not)?Equals"
    r"|Numeric(Less|Greater)Than(Equals)?|Date(Not)?Equals|Date(Less|Greater)Than(Equals)?|Bool|BinaryEquals"
    r"|(Not)?IpAddress|Arn(Not)?(Equals|Like))(IfExists)?$|^Null$")
# Characters, whitespace excluded: managed policies 6,144; role trust policies 2,048 (default
# quota); key policies 32,768.
SIZE_LIMITS = {"identity": 6144, "trust": 2048, "key": 32768, "resource": 20480}  # resource: an S3 bucket policy


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _principal_problems(principal, where: str) -> list[str]:
    if principal == "*":
        return []
    if not isinstance(principal, dict) or not principal or set(principal) - PRINCIPAL_KINDS:
        return [f"{where}: Principal must be \"*\" or an object of {sorted(PRINCIPAL_KINDS)}"]
    problems = []
    for service in _as_list(principal.get("Service", [])):
        if not re.match(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$", str(service)):
            problems.append(f"{where}: {service!r} is not a service principal")
    for arn in _as_list(principal.get("AWS", [])):
        if not (ARN.match(str(arn)) or re.match(r"^\d{12}$", str(arn))):
            problems.append(f"{where}: {arn!r} is not an account or ARN")
    return problems


def _condition_problems(condition, where: str) -> list[str]:
    if not isinstance(condition, dict):
        return [f"{where}: Condition must be an object"]
    problems = []
    for operator, tests in condition.items():
        if not CONDITION_OPERATOR.match(operator):
            problems.append(f"{where}: unknown condition operator {operator!r}")
        if not isinstance(tests, dict) or not tests:
            problems.append(f"{where}: {operator} must map condition keys to values")
    return problems


def _action_problems(statement: dict, where: str) -> list[str]:
    problems = []
    if ("Action" in statement) == ("NotAction" in statement):
        problems.append(f"{where}: exactly one of Action and NotAction")
    for action in _as_list(statement.get("Action", statement.get("NotAction", []))):
        if not ACTION.match(str(action)):
            problems.append(f"{where}: {action!r} is not service:Action")
    return problems


def _resource_problems(statement: dict, where: str, kind: str) -> list[str]:
    problems = []
    has_resource = "Resource" in statement or "NotResource" in statement
    if kind == "trust" and has_resource:
        problems.append(f"{where}: a trust policy names no Resource")
    if kind != "trust" and ("Resource" in statement) == ("NotResource" in statement):
        problems.append(f"{where}: exactly one of Resource and NotResource")
    for resource in _as_list(statement.get("Resource", statement.get("NotResource", []))):
        if not ARN.match(str(resource)):
            problems.append(f"{where}: {resource!r} is not \"*\" or an ARN")
    return problems


def _statement_principal_problems(statement: dict, where: str, kind: str) -> list[str]:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    if kind == "identity":
        return [f"{where}: an identity policy names no Principal"] if has_principal else []
    if not has_principal:
        return [f"{where}: a {kind} policy needs a Principal"]
    return _principal_problems(statement.get("Principal"), where)


def _statement_problems(statement, where: str, kind: str) -> list[str]:
    if not isinstance(statement, dict):
        return [f"{where}: a statement must be an object"]
    problems = [f"{where}: unknown element {key!r}" for key in set(statement) - STATEMENT_KEYS]
    if statement.get("Effect") not in ("Allow", "Deny"):
        problems.append(f"{where}: Effect must be Allow or Deny, not {statement.get('Effect')!r}")
    problems += _action_problems(statement, where) + _resource_problems(statement, where, kind)
    problems += _statement_principal_problems(statement, where, kind)
    if "Condition" in statement:
        problems += _condition_problems(statement["Condition"], where)
    if "Sid" in statement and kind == "identity" and not re.match(r"^[A-Za-z0-9]*$", str(statement["Sid"])):
        problems.append(f"{where}: an identity policy's Sid is letters and digits only")
    return problems


def iam_policy_problems(policy_json: str, kind: str) -> list[str]:
    """kind: identity (a managed policy), trust (a role's assume-role policy), key (a KMS key policy) or
    resource (an S3 bucket policy)."""
    policy = json.loads(policy_json)
    if not isinstance(policy, dict):
        return ["a policy must be an object"]
    problems = [f"unknown top-level element {key!r}" for key in set(policy) - {"Version", "Id", "Statement"}]
    if policy.get("Version") not in POLICY_VERSIONS:
        problems.append(f"Version must be one of {sorted(POLICY_VERSIONS)}, not {policy.get('Version')!r}")
    statements = _as_list(policy.get("Statement", []))
    if not statements:
        problems.append("a policy needs at least one Statement")
    for index, statement in enumerate(statements):
        problems += _statement_problems(statement, f"Statement[{index}]", kind)
    sids = [s.get("Sid") for s in statements if isinstance(s, dict) and s.get("Sid")]
    if len(sids) != len(set(sids)):
        problems.append(f"Sids must be unique: {sids}")
    size = len(re.sub(r"\s", "", policy_json))
    if size > SIZE_LIMITS[kind]:
        problems.append(f"{size} characters: a {kind} policy takes at most {SIZE_LIMITS[kind]}")
    return problems

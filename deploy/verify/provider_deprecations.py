"""Which AWS provider arguments are deprecated: read from Pulumi's AWS package (npm `@pulumi/aws` 6.x,
bridged from terraform-provider-aws 5.x), because the cdktf bindings carry no deprecation at all.

Pulumi keeps the provider's deprecation messages as `@deprecated` on its TypeScript inputs, but names things
its own way: `aws:apigateway/deployment:Deployment` for aws_api_gateway_deployment, camelCase and often
plural property names (`globalSecondaryIndexes`), a few renames (`restApi` for rest_api_id). So a Pulumi type
is used for a Terraform type only when their names agree and most of its inputs are that type's arguments,
and a nested input type (types/input.d.ts) for the block its property maps to. What is not covered is
listed, never guessed.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

PACKAGE = "@pulumi/aws"
# The last 6.x, bridged from the last 5.x provider releases (the package does not name its exact upstream
# version; a deprecation Pulumi saw later than 5.100.0 cannot exist: 6.x of the provider is Pulumi 7.x).
VERSION = "6.83.2"
INTEGRITY = "sha512-FggAx+LxANUwD9KPlKy4U8uvVjhR8B6vw+doDq7zP3bRWz7CCCd4sXZT2k/ou0erZN78MTzOXYa1nsN0TBEDJg=="
# Pulumi's own deprecations, not the provider's: of every tagsAll input (tags_all stays an argument),
# of its renamed types and properties, and its advice against security_groups on instances.
PULUMI_ONLY = re.compile(r"^Please use `tags` instead\.$|has been deprecated in favor of aws\.|"
                         r"^This property has been deprecated\. Please use '\w+' instead\.$|is discouraged")
# Terraform types whose Pulumi name is not theirs (module + name, normalised), checked by hand.
PULUMI_NAMES = {"aws_api_gateway_gateway_response": "apigatewayresponse"}
AGREEMENT = 0.75  # share of a Pulumi type's inputs that must be arguments of the Terraform type

_TOKEN = re.compile(r"""(?:__pulumiType = '|invoke\(")aws:(\w+)/(\w+):\w+['"]""")
_ARGS = re.compile(r"^export interface (\w+Args) \{\n(.*?)^\}", re.M | re.S)
_INPUT = re.compile(r"(?:/\*\*((?:(?!\*/).)*?)\*/\s*)?^( +)(\w+)\??: (.*?);$", re.M | re.S)
_INPUT_TYPE = re.compile(r"^(?:export declare namespace (\w+) \{|( *)(?:export )?interface (\w+) \{\n(.*?)^\2\})",
                         re.M | re.S)
_DEPRECATED = re.compile(r"@deprecated\s+(.*?)\s*(?:\n\s*\*\s*(?:@|$)|\Z)", re.S)
_DECLARATION = re.compile(r"/\*\*((?:(?!\*/).)*?)\*/\s*export declare (?:class|function) (\w+)", re.S)


def _normal(name: str) -> str:
    return name.replace("_", "").lower()


def _same_argument(pulumi_name: str, tf_names: dict[str, str]) -> str | None:
    """The Terraform argument a Pulumi input stands for: the same name, or its plural (lists of blocks)."""
    name = _normal(pulumi_name)
    for candidate in (name, name[:-1], name[:-2], name[:-3] + "y" if name.endswith("ies") else None):
        if candidate in tf_names:
            return tf_names[candidate]
    return None


def _message(doc: str) -> str | None:
    found = _DEPRECATED.search(doc or "")
    if not found:
        return None
    message = " ".join(line.strip().lstrip("*").strip() for line in found.group(1).splitlines()).strip()
    return None if PULUMI_ONLY.search(message) else (message or "deprecated")


def _inputs(body: str) -> dict[str, dict]:
    """An interface's inputs (at its own indentation): deprecation message and nested input type."""
    found = _INPUT.findall(body)
    indent = min((len(spaces) for _, spaces, _, _ in found), default=0)
    return {name: {"deprecated": _message(doc), "type": (re.findall(r"inputs\.([\w.]+)", type_text) or [None])[0]}
            for doc, spaces, name, type_text in found if len(spaces) == indent}


def _input_types(text: str) -> dict[str, str]:
    """types/input.d.ts: each nested input interface's body by its reference name (`s3.BucketRule`)."""
    bodies, namespace = {}, ""
    for match in _INPUT_TYPE.finditer(text):
        if match.group(1):
            namespace = match.group(1) + "."
        else:
            bodies[(namespace if match.group(2) else "") + match.group(3)] = match.group(4)
    return bodies


def _pulumi_types(texts: dict[str, str]) -> dict[tuple[str, str], dict]:
    """Per (kind, normal name): the Pulumi type's inputs and their deprecation messages, and its own."""
    found = {}
    for stem, js in ((stem, text) for stem, text in texts.items() if stem.endswith(".js")):
        token = _TOKEN.search(js)
        declarations = texts.get(stem[:-3] + ".d.ts", "")
        if not token or not declarations:
            continue
        module, name = token.groups()
        kind = "data_sources" if "invoke(" in token.group(0) else "resources"
        bare = re.sub(r"^get", "", name) if kind == "data_sources" else name
        key = (kind, _normal(("" if module == "index" else module) + bare))
        args = {match.group(1): match.group(2) for match in _ARGS.finditer(declarations)}
        wanted = [body for interface, body in args.items()
                  if interface.lower() in (name.lower() + "args", "get" + bare.lower() + "args")]
        inputs = _inputs(wanted[0]) if wanted else {}
        whole = next((_message(doc) for doc, declared in _DECLARATION.findall(declarations)
                      if declared.lower() == name.lower()), None)
        found.setdefault(key, []).append({"token": f"aws:{module}/{name}", "inputs": inputs, "deprecated": whole})
    return found


def _read_texts(tarball: Path) -> dict[str, str]:
    texts = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith((".js", ".d.ts")) and (
                    "/types/" not in member.name or member.name == "package/types/input.d.ts"):
                texts[member.name] = archive.extractfile(member).read().decode()
    return texts


def _match(tf_type: str, arguments: dict, candidates: dict) -> dict | None:
    """The Pulumi type for a Terraform type: its `V2` name (Pulumi 6 kept legacy S3 types under the plain
    name) or its name, whose inputs agree with the Terraform arguments."""
    tf_names = {_normal(name): name for name in arguments}
    for suffix in ("v2", ""):
        options = candidates.get(PULUMI_NAMES.get(tf_type, _normal(tf_type[len("aws_"):])) + suffix, [])
        if suffix:  # BucketV2 is aws_s3_bucket, but BucketObjectv2 is aws_s3_object, not aws_s3_bucket_object
            options = [option for option in options if option["token"].endswith("V2")]
        for option in options if len(options) == 1 else []:
            inputs = option["inputs"]
            agreeing = sum(1 for name in inputs if _same_argument(name, tf_names))
            if inputs and agreeing / len(inputs) >= AGREEMENT:
                return option
    return None


def _mark(arguments: dict, inputs: dict, input_types: dict[str, str]) -> None:
    tf_names = {_normal(name): name for name in arguments}
    for input_name, found in inputs.items():
        argument = _same_argument(input_name, tf_names)
        if argument is None:
            continue
        if found["deprecated"]:
            arguments[argument]["deprecated"] = found["deprecated"]
        nested = arguments[argument].get("arguments")
        if nested and found["type"] in input_types:
            _mark(nested, _inputs(input_types[found["type"]]), input_types)


def add_deprecations(schema: dict, tarball: Path) -> None:
    """Marks the schema's deprecated types and arguments, nested ones too, and records what is covered."""
    texts = _read_texts(tarball)
    input_types = _input_types(texts.pop("package/types/input.d.ts"))
    pulumi = _pulumi_types(texts)
    coverage = {"package": PACKAGE, "version": VERSION, "scope": "types, their arguments and nested blocks"}
    for kind in ("resources", "data_sources"):
        candidates = {name: options for (found_kind, name), options in pulumi.items() if found_kind == kind}
        uncovered = []
        for tf_type, entry in schema[kind].items():
            option = _match(tf_type, entry["arguments"], candidates)
            if option is None:
                uncovered.append(tf_type)
                continue
            entry["deprecation_source"] = option["token"]
            if option["deprecated"]:
                entry["deprecated"] = option["deprecated"]
            _mark(entry["arguments"], option["inputs"], input_types)
        coverage[f"{kind}_without_deprecation_data"] = sorted(uncovered)
    schema["deprecations"] = coverage

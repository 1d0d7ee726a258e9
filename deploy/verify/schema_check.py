"""Checks every `resource` and `data` block of a Terraform directory (its *.tf and *.tf.json files, modules
included) against the AWS provider's schema (deploy/verify/provider_schema.py): types, arguments, blocks, required."""

from __future__ import annotations

import difflib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from deploy.hcl import BLOCK_MARKER, is_block, load_hcl

# Terraform's own arguments, allowed on every resource and data source whatever the provider says.
META_ARGUMENTS = {"count", "for_each", "provider", "depends_on", "lifecycle", "provisioner", "connection",
                  "timeouts"}
BUILT_IN_TYPES = {("resources", "terraform_data"), ("data_sources", "terraform_remote_state")}
KINDS = {"resource": "resources", "data": "data_sources"}


@dataclass(frozen=True)
class Finding:
    file: str
    address: str
    argument: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.address}: {self.argument}: {self.problem}"


@dataclass
class Report:
    """Findings of one directory, and how much was checked."""
    directory: str
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    resources: int = 0
    data_sources: int = 0
    arguments: int = 0
    # Types the deprecation source could not be matched to: their deprecated arguments go unreported.
    without_deprecation_data: set[str] = field(default_factory=set)


def terraform_files(directory: Path) -> list[Path]:
    """The *.tf and *.tf.json files of a directory and its subdirectories (modules/*), not .terraform/."""
    found = [path for pattern in ("*.tf", "*.tf.json") for path in directory.rglob(pattern)]
    return sorted(path for path in found if not any(part.startswith(".") for part in path.relative_to(directory).parts))


def _objects(value):
    """Terraform's JSON syntax allows an object or an array of objects wherever blocks are given."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            yield item


def _blocks(path: Path):
    """(kind, type, name, body, syntax) of each resource and data block in one file."""
    if path.name.endswith(".tf.json"):
        document, syntax = json.loads(path.read_text()), "json"
    else:
        document, syntax = load_hcl(path, keep_block_markers=True, comments=False), "hcl"
    for kind in KINDS:
        for by_type in _objects(document.get(kind, [])):
            for tf_type, by_name in by_type.items():
                for named in _objects(by_name):
                    for name, bodies in named.items():
                        for body in _objects(bodies):
                            yield kind, tf_type, name, body, syntax


class _BodyChecker:
    """Walks one resource's body beside its schema, recording findings and counting arguments."""

    def __init__(self, report: Report, file: str, address: str, syntax: str) -> None:
        self.report, self.file, self.address, self.syntax = report, file, address, syntax

    def finding(self, argument: str, problem: str) -> None:
        self.report.findings.append(Finding(self.file, self.address, argument, problem))

    def check(self, body: dict, schema: dict, path: str = "", top: bool = False) -> None:
        present = set()
        for key, value in body.items():
            if key == BLOCK_MARKER or (self.syntax == "json" and key == "//"):
                continue
            self.report.arguments += 1
            if key == "dynamic" and "dynamic" not in schema:
                present |= self._dynamic(value, schema, path)
            elif top and key in META_ARGUMENTS and key not in schema:
                present.add(key)
            elif key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1)
                self.finding(path + key, "unknown argument" + (f" (did you mean {close[0]}?)" if close else ""))
            else:
                present.add(key)
                self._argument(key, value, schema[key], path)
        for key, spec in schema.items():
            if spec["required"] and key not in present:
                what = "block" if spec["kind"] == "block" else "argument"
                self.finding(path + key, f"missing required {what}")

    def _argument(self, key: str, value, spec: dict, path: str) -> None:
        if spec.get("deprecated"):
            self.finding(path + key, f"deprecated argument: {spec['deprecated']}")
        written_as_block = is_block(value) if self.syntax == "hcl" else isinstance(value, (dict, list))
        if spec["kind"] == "block" and not written_as_block:
            self.finding(path + key, f"a block written as an attribute: write `{key} {{ ... }}`")
            return
        if spec["kind"] == "attribute" and self.syntax == "hcl" and written_as_block:
            self.finding(path + key, f"an attribute written as a block: write `{key} = ...`")
            return
        if spec["kind"] != "attribute" and spec.get("arguments") is not None:
            # Nested contents are checked where they are written out (not an expression).
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    self.check(item, spec["arguments"], f"{path}{key}.")

    def _dynamic(self, value, schema: dict, path: str) -> set[str]:
        """`dynamic "x" { content { ... } }` stands for the blocks x: checked as they would be."""
        labels = set()
        for generator in _objects(value):
            for label, bodies in generator.items():
                if label == BLOCK_MARKER:
                    continue
                labels.add(label)
                spec = schema.get(label)
                if spec is None or spec["kind"] == "attribute":
                    self.finding(path + label, "dynamic block of " + ("an attribute" if spec else "an unknown block"))
                    continue
                for body in _objects(bodies):
                    for content in _objects(body.get("content", [])):
                        if spec.get("arguments") is not None:
                            self.check(content, spec["arguments"], f"{path}{label}.")
        return labels


def check_file(path: Path, schema: dict, report: Report, root: Path) -> None:
    file = str(path.relative_to(root.parent))
    try:
        blocks = list(_blocks(path))
    except Exception as exc:  # any parse error is a finding about that file, not a crash of the check
        report.findings.append(Finding(file, "-", "-", f"cannot be parsed: {exc}"))
        return
    for kind, tf_type, name, body, syntax in blocks:
        kinds = KINDS[kind]
        address = f"{'data.' if kind == 'data' else ''}{tf_type}.{name}"
        setattr(report, kinds, getattr(report, kinds) + 1)
        if (kinds, tf_type) in BUILT_IN_TYPES:
            continue
        known = schema[kinds].get(tf_type)
        if known is None:
            if not tf_type.startswith("aws_"):
                problem = "a type of another provider: not checked against any schema"
            else:
                close = difflib.get_close_matches(tf_type, list(schema[kinds]), n=1)
                problem = f"unknown {kind} type" + (f" (did you mean {close[0]}?)" if close else "")
            report.findings.append(Finding(file, address, "-", problem))
            continue
        if "deprecation_source" not in known:
            report.without_deprecation_data.add(tf_type)
        if known.get("deprecated"):
            report.findings.append(Finding(file, address, "-", f"deprecated {kind} type: {known['deprecated']}"))
        _BodyChecker(report, file, address, syntax).check(body, known["arguments"], top=True)


def check_directory(directory: Path, schema: dict) -> Report:
    directory = Path(directory).resolve()
    report = Report(directory.name)
    for path in terraform_files(directory):
        report.files += 1
        check_file(path, schema, report, directory)
    return report


def main(argv: list[str]) -> int:
    """python -m deploy.verify.provider_schema DIR...: prints each finding; exit 1 when there is any."""
    from deploy.verify.provider_schema import PACKAGE, PROVIDER_VERSION, VERSION, SchemaError, load_schema

    if not argv or argv[0].startswith("-"):
        print("usage: python -m deploy.verify.provider_schema TERRAFORM_DIR...", file=sys.stderr)
        return 2
    empty = [d for d in argv if not any(Path(d).rglob("*.tf")) and not any(Path(d).rglob("*.tf.json"))]
    if empty:  # a mistyped or not yet packaged directory must not pass as "0 findings"
        print(f"provider schema: no Terraform files in {', '.join(empty)} (run make package first?)", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        schema = load_schema()
    except SchemaError as exc:
        print(f"provider schema: {exc}", file=sys.stderr)
        return 2
    source = schema["deprecations"]
    print(f"AWS provider {PROVIDER_VERSION} schema ({PACKAGE} {VERSION}; deprecations from {source['package']} "
          f"{source['version']}), loaded in {time.monotonic() - started:.1f} s")
    total = 0
    for directory in argv:
        report = check_directory(Path(directory), schema)
        for finding in report.findings:
            print(finding)
        total += len(report.findings)
        if report.without_deprecation_data:
            print(f"{directory}: no deprecation data for {', '.join(sorted(report.without_deprecation_data))}")
        print(f"{directory}: {report.files} files, {report.resources} resources, {report.data_sources} data "
              f"sources, {report.arguments} arguments checked: {len(report.findings)} findings")
    print(f"{total} findings in {time.monotonic() - started:.1f} s")
    return 1 if total else 0

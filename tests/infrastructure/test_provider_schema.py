"""Every resource and data block of our Terraform, hand-written and packaged (Chalice's chalice.tf.json
included), holds to the AWS provider's schema; and the check finds what it is for when we break a copy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from deploy.verify.provider_schema import PROVIDER_VERSION, load_schema, main
from deploy.verify.schema_check import Finding, check_directory
from tests.infrastructure.conftest import TERRAFORM_DIR

# Findings we accept, as (file suffix, address, argument): only quirks of the provider's published schema,
# never a real problem of ours. Empty: nothing in our Terraform needs one.
ALLOWED: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="session")
def schema() -> dict:
    return load_schema()  # npm pack on first use (build/provider-schema/ caches it): never skipped


def real_findings(findings: list[Finding]) -> list[str]:
    return [str(finding) for finding in findings if not any(
        finding.file.endswith(file) and (finding.address, finding.argument) == (address, argument)
        for file, address, argument in ALLOWED)]


def problems(directory: Path, schema: dict) -> list[str]:
    return [str(finding) for finding in check_directory(directory, schema).findings]


def copy_of(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def edit(path: Path, pattern: str, replacement: str, count: int = 1) -> None:
    """Replaces the first `count` matches of a pattern, and fails if the file no longer has them."""
    text, made = re.subn(pattern, replacement, path.read_text(), count=count, flags=re.M)
    assert made == count, f"{path} no longer has {pattern!r}: update this test"
    path.write_text(text)


def test_the_schema_is_the_providers(schema):
    assert schema["provider_version"] == PROVIDER_VERSION and PROVIDER_VERSION.startswith("5.")
    assert len(schema["resources"]) > 1400 and len(schema["data_sources"]) > 550
    table = schema["resources"]["aws_dynamodb_table"]["arguments"]
    assert table["name"]["required"] and not table["hash_key"]["required"]
    assert table["attribute"]["kind"] == table["global_secondary_index"]["kind"] == "block"
    index = table["global_secondary_index"]["arguments"]
    assert {name for name, spec in index.items() if spec["required"]} == {"name", "hash_key", "projection_type"}
    assert "arn" not in table and "stream_arn" not in table  # computed-only attributes are no arguments
    function = schema["resources"]["aws_lambda_function"]["arguments"]
    assert {name for name, spec in function.items() if spec["required"]} == {"function_name", "role"}
    assert function["tracing_config"]["kind"] == "block" and function["environment"]["kind"] == "block"
    assert schema["resources"]["aws_s3_bucket_versioning"]["arguments"]["versioning_configuration"]["required"]
    assert schema["data_sources"]["aws_iam_policy_document"]["arguments"]["statement"]["kind"] == "block"
    # SDK v2's attributes-as-blocks and framework nested attributes are objects: either syntax is accepted.
    assert schema["resources"]["aws_security_group"]["arguments"]["ingress"]["kind"] == "object"


def test_deprecations_are_the_providers(schema):
    deployment = schema["resources"]["aws_api_gateway_deployment"]["arguments"]
    assert "deprecated" in deployment["stage_name"] and "deprecated" not in deployment["rest_api_id"]
    assert "deprecated" in schema["resources"]["aws_s3_bucket"]["arguments"]["acl"]
    lifecycle = schema["resources"]["aws_s3_bucket_lifecycle_configuration"]["arguments"]
    assert "deprecated" in lifecycle["rule"]["arguments"]["prefix"]  # nested arguments too
    # In 5.x aws_region's name is not deprecated yet (6.0 deprecates it for `region`).
    assert "deprecated" not in schema["data_sources"]["aws_region"]["arguments"]["name"]
    # Pulumi's own deprecation of tags_all is not the provider's.
    assert "deprecated" not in schema["resources"]["aws_lambda_function"]["arguments"]["tags_all"]


def test_the_hand_written_terraform_matches_the_schema(schema):
    report = check_directory(TERRAFORM_DIR, schema)  # modules/* and bootstrap/ included
    assert real_findings(report.findings) == []
    assert report.resources >= 30 and report.data_sources >= 1 and report.arguments >= 200
    assert report.without_deprecation_data == set()  # a deprecated argument of ours would be reported


def test_the_packaged_terraform_matches_the_schema(schema, packaged):
    for stage, directory in packaged.items():
        report = check_directory(directory, schema)
        assert real_findings(report.findings) == [], stage
        chalice = json.loads((directory / "chalice.tf.json").read_text())
        assert report.resources >= sum(len(named) for named in chalice["resource"].values()) + 30
        assert report.without_deprecation_data == set()


def test_a_misspelled_argument_is_found(schema, tmp_path):
    logs = copy_of(TERRAFORM_DIR / "modules" / "logs", tmp_path)
    edit(logs / "main.tf", r"^(\s*)retention_in_days(\s*)=", r"\1retention_days\2   =")
    assert problems(logs, schema) == ["logs/main.tf: aws_cloudwatch_log_group.function: retention_days: "
                                      "unknown argument (did you mean retention_in_days?)"]


def test_a_misspelled_argument_in_a_dynamic_block_is_found(schema, tmp_path):
    tables = copy_of(TERRAFORM_DIR / "modules" / "tables", tmp_path)
    edit(tables / "main.tf", r"^(\s*)projection_type(\s*)=", r"\1projection\2=")
    assert problems(tables, schema) == [
        "tables/main.tf: aws_dynamodb_table.this: global_secondary_index.projection: unknown argument "
        "(did you mean projection_type?)",
        "tables/main.tf: aws_dynamodb_table.this: global_secondary_index.projection_type: missing required argument"]


def test_a_missing_required_argument_is_found(schema, tmp_path):
    alarms = copy_of(TERRAFORM_DIR / "modules" / "alarms", tmp_path)
    edit(alarms / "main.tf", r"^\s*comparison_operator\s*=.*\n", "")
    [finding] = problems(alarms, schema)
    assert finding.endswith(": comparison_operator: missing required argument")
    assert "aws_cloudwatch_metric_alarm." in finding


def test_a_block_written_as_an_attribute_is_found(schema, tmp_path):
    tables = copy_of(TERRAFORM_DIR / "modules" / "tables", tmp_path)
    edit(tables / "main.tf", r"^(\s*)point_in_time_recovery \{", r"\1point_in_time_recovery = {")
    assert problems(tables, schema) == ["tables/main.tf: aws_dynamodb_table.this: point_in_time_recovery: "
                                        "a block written as an attribute: write `point_in_time_recovery { ... }`"]


def test_an_attribute_written_as_a_block_is_found(schema, tmp_path):
    alarms = copy_of(TERRAFORM_DIR / "modules" / "alarms", tmp_path)
    edit(alarms / "main.tf", r"^(\s*)dimensions(\s*)= \{", r"\1dimensions {")
    [finding] = problems(alarms, schema)
    assert finding.endswith(": dimensions: an attribute written as a block: write `dimensions = ...`")


def test_an_unknown_resource_type_is_found(schema, tmp_path):
    logs = copy_of(TERRAFORM_DIR / "modules" / "logs", tmp_path)
    edit(logs / "main.tf", r'resource "aws_cloudwatch_log_group"', 'resource "aws_cloudwatch_loggroup"')
    assert problems(logs, schema) == ["logs/main.tf: aws_cloudwatch_loggroup.function: -: "
                                      "unknown resource type (did you mean aws_cloudwatch_log_group?)"]


def test_a_deprecated_argument_is_found(schema, tmp_path):
    bootstrap = copy_of(TERRAFORM_DIR / "bootstrap", tmp_path)
    edit(bootstrap / "main.tf", r'^(resource "aws_s3_bucket" "state" \{\n)', r'\1  acl = "private"\n')
    [finding] = problems(bootstrap, schema)
    assert finding.startswith("bootstrap/main.tf: aws_s3_bucket.state: acl: deprecated argument: acl is deprecated")


def test_the_generated_json_is_checked_too(schema, packaged, tmp_path):
    prod = copy_of(packaged["prod"], tmp_path)
    doc = json.loads((prod / "chalice.tf.json").read_text())
    [deployment] = doc["resource"]["aws_api_gateway_deployment"].values()
    deployment["stage_name"] = "api"  # what `make package` takes out of Chalice's output
    api = doc["resource"]["aws_lambda_function"]["api_handler"]
    api["memory"] = api.pop("memory_size")
    api["tracing_config"] = "Active"
    (prod / "chalice.tf.json").write_text(json.dumps(doc))
    assert sorted(problems(prod, schema)) == [
        "prod/chalice.tf.json: aws_api_gateway_deployment.rest_api: stage_name: deprecated argument: "
        "stage_name is deprecated. Use the aws.apigateway.Stage resource instead.",
        "prod/chalice.tf.json: aws_lambda_function.api_handler: memory: unknown argument (did you mean memory_size?)",
        "prod/chalice.tf.json: aws_lambda_function.api_handler: tracing_config: a block written as an attribute: "
        "write `tracing_config { ... }`"]


def test_the_command_prints_findings_and_fails_on_them(schema, tmp_path, capsys):
    logs = copy_of(TERRAFORM_DIR / "modules" / "logs", tmp_path)
    assert main([str(logs)]) == 0
    edit(logs / "main.tf", r"^(\s*)kms_key_id(\s*)=", r"\1kms_key\2=")
    assert main([str(logs)]) == 1
    out = capsys.readouterr().out
    assert "aws_cloudwatch_log_group.function: kms_key: unknown argument" in out and "1 findings" in out


def test_the_command_refuses_a_directory_without_terraform(tmp_path, capsys):
    assert main([str(tmp_path / "not-packaged")]) == 2
    assert "no Terraform files" in capsys.readouterr().err

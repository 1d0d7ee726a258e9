"""Every JSON document the Terraform builds, rendered by Terraform itself (no provider needed) with
prod's values, and checked against the format AWS accepts: the dashboard body (PutDashboard), the
policy documents (IAM, the KMS key policy), the 5xx alarm's metric math and the access log
format. A document that is broken here would fail the first `terraform apply`."""

from __future__ import annotations

import json
import shutil

import pytest
from moto.iam.policy_validation import IAMPolicyDocumentValidator, IAMTrustPolicyDocumentValidator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.infrastructure.aws_formats import dashboard_body_problems, iam_policy_problems, metric_math_problems
from tests.infrastructure.render import (
    ACCOUNT,
    INPUTS,
    INVOKE_ARN,
    KEY_ARN,
    MODULES,
    REGION,
    STUBS,
    TABLES,
    RenderError,
    document_locals,
    render_chalice_swagger,
    render_documents,
    render_prod,
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    return {module: render_prod(module) for module in INPUTS}


def test_every_module_with_a_json_document_keeps_it_in_documents_tf():
    for main in MODULES.glob("*/main.tf"):
        text = main.read_text()
        assert "jsonencode(" not in text and "aws_iam_policy_document" not in text, (
            f"{main}: build JSON documents in documents.tf, where the tests render them")
    assert {p.parent.name for p in MODULES.glob("*/documents.tf")} == set(INPUTS)


def test_the_dashboard_body_is_what_put_dashboard_accepts(rendered):
    body = rendered["dashboard"]["dashboard_body"]
    assert dashboard_body_problems(body) == []
    widgets = {w["properties"]["title"]: w["properties"]["metrics"] for w in json.loads(body)["widgets"]}
    throttles = widgets["DynamoDB throttled requests"]
    assert len(throttles) == 2 * len(TABLES) + 1  # one array per table and metric, and the alarm's
    assert ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", "LiveInsight-Events"] in throttles
    assert throttles[-1][:4] == ["LiveInsight", "DynamoDBThrottles", "Environment", "Production"]


def test_the_policies_follow_iams_grammar(rendered):
    documents = {
        "iam assume_role_policy": (rendered["iam"]["assume_role_policy"], "trust"),
        "iam dynamodb_policy": (rendered["iam"]["dynamodb_policy"], "identity"),
        "iam cloudwatch_policy": (rendered["iam"]["cloudwatch_policy"], "identity"),
        "api apigateway_assume_role_policy": (rendered["api"]["apigateway_assume_role_policy"], "trust"),
        "encryption key_policy": (rendered["encryption"]["key_policy"], "key"),
        **{f"iam {name}": (rendered["iam"][name], "identity") for name in (
            "lake_writer_policy", "lake_compaction_policy", "lake_query_policy", "lake_erasure_policy",
            "stats_aggregator_policy", "invoke_lake_policy")},
        "lake lake_bucket_policy": (rendered["lake"]["lake_bucket_policy"], "resource"),
        "lake results_bucket_policy": (rendered["lake"]["results_bucket_policy"], "resource"),
    }
    for name, (document, kind) in documents.items():
        assert iam_policy_problems(document, kind) == [], name
        if kind == "identity":  # and a second opinion nobody here wrote: moto's copy of IAM's checks
            IAMPolicyDocumentValidator(document).validate()
        elif kind == "trust":
            IAMTrustPolicyDocumentValidator(document).validate()


KEYED_POLICIES = ("dynamodb_policy", "lake_writer_policy", "lake_compaction_policy", "lake_query_policy",
                  "lake_erasure_policy", "stats_aggregator_policy")


def test_the_customer_managed_key_is_granted_only_when_there_is_one(rendered):
    """customer_managed_key (off by default): each policy that touches encrypted data may use the key;
    without it the data is under AWS managed keys, whose key policies grant their services' callers."""
    for name in KEYED_POLICIES:
        keyed = [s for s in json.loads(rendered["iam"][name])["Statement"] if "kms:Decrypt" in s["Action"]]
        assert [s["Resource"] for s in keyed] == [[KEY_ARN]], name
    keyless = render_documents(MODULES / "iam", {**INPUTS["iam"], "kms_key_arn": None}, STUBS.get("iam"))
    for name in (*KEYED_POLICIES, "cloudwatch_policy", "invoke_lake_policy"):
        assert "kms:" not in keyless[name], name
        assert iam_policy_problems(keyless[name], "identity") == [], name
        IAMPolicyDocumentValidator(keyless[name]).validate()
    keyed_statements = {name: len(json.loads(rendered["iam"][name])["Statement"]) for name in KEYED_POLICIES}
    assert {name: len(json.loads(keyless[name])["Statement"]) + 1 for name in KEYED_POLICIES} == keyed_statements


def test_the_policies_grant_what_the_functions_use(rendered):
    dynamodb = json.loads(rendered["iam"]["dynamodb_policy"])["Statement"][0]
    table_arns = [arn for base, arn in INPUTS["iam"]["table_arns"].items() if base != "Access"]  # own statement
    assert set(dynamodb["Resource"]) == {*table_arns, *(f"{arn}/index/*" for arn in table_arns)}
    key = json.loads(rendered["encryption"]["key_policy"])["Statement"]
    logs = next(s for s in key if s["Principal"].get("Service") == f"logs.{REGION}.amazonaws.com")
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*")


def test_the_5xx_alarm_reads_exactly_its_queries(rendered):
    alarms = rendered["alarms"]
    assert alarms["api_5xx_expression"] == "MAX([collector, rest])"
    assert metric_math_problems(alarms["api_5xx_expression"], alarms["api_5xx_metric_ids"], "worst") == []


def test_the_access_log_format_is_one_json_object_of_context_variables(rendered):
    fields = json.loads(rendered["api"]["access_log_format"])
    assert fields["requestId"] == "$context.requestId"
    assert all(value.startswith("$context.") for value in fields.values())


# The $context variables an HTTP API's access log may use, from the API Gateway Developer Guide,
# "Customize HTTP API access logs"
# (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html).
HTTP_API_LOG_VARIABLES = {
    "$context.requestId", "$context.requestTime", "$context.httpMethod", "$context.routeKey", "$context.status",
    "$context.responseLength", "$context.integrationLatency", "$context.responseLatency",
    "$context.integrationStatus", "$context.integrationErrorMessage", "$context.path", "$context.protocol",
    "$context.stage", "$context.domainName", "$context.apiId", "$context.requestTimeEpoch",
    "$context.integration.status", "$context.integration.latency", "$context.integration.error",
    "$context.error.message", "$context.error.responseType", "$context.extendedRequestId"}


def test_the_collectors_access_log_uses_only_http_api_variables(rendered):
    fields = json.loads(rendered["collector"]["access_log_format"])
    assert fields["requestId"] == "$context.requestId" and fields["routeKey"] == "$context.routeKey"
    assert set(fields.values()) <= HTTP_API_LOG_VARIABLES, set(fields.values()) - HTTP_API_LOG_VARIABLES
    assert "$context.identity.sourceIp" not in fields.values()  # visitors' addresses are not logged


def test_api_gateways_own_errors_echo_the_origin(rendered):
    """Gateway response parameters map from the method request or take a quoted static value."""
    responses = rendered["api"]["gateway_responses"]
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for parameters in responses.values():
        assert parameters["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.origin"
        for name, value in parameters.items():
            assert name.startswith("gatewayresponse.header.")
            assert value.startswith("method.request.") or (value.startswith("'") and value.endswith("'"))


def test_the_api_document_is_valid_openapi_with_every_route_behind_the_function(packaged):
    from app import app

    for stage, directory in packaged.items():
        swagger = json.loads(render_chalice_swagger(directory))
        validate_openapi(swagger)  # Swagger 2.0, as API Gateway imports it
        routed = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
        operations = {(path, method) for path, item in swagger["paths"].items() for method in item}
        assert routed <= operations, stage
        for path, method in routed:
            integration = swagger["paths"][path][method]["x-amazon-apigateway-integration"]
            assert (integration["type"], integration["httpMethod"], integration["uri"]) == (
                "aws_proxy", "POST", INVOKE_ARN), (stage, path, method)


# --- The checks fail on the faults they exist for -----------------------------------------------

def _module_copy(tmp_path, module: str, old: str, new: str):
    copy = tmp_path / module
    shutil.copytree(MODULES / module, copy)
    text = (copy / "documents.tf").read_text()
    assert old in text
    (copy / "documents.tf").write_text(text.replace(old, new, 1))
    return copy


def test_a_flattened_metrics_list_fails(tmp_path):
    """The bug that stopped the first prod deploy (in the throttles widget, then as this one):
    flatten() made one list of 24 strings."""
    broken = _module_copy(tmp_path, "dashboard", """metrics = concat([
      for table in local.tables : ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", table]
      ], [
      for table in local.tables : ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table]
    ])""", """metrics = flatten([
      for table in local.tables : [
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", table],
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table],
      ]
    ])""")
    body = render_documents(broken, INPUTS["dashboard"])["dashboard_body"]
    problems = dashboard_body_problems(body)
    assert any("every entry of metrics must be a non-empty array" in p for p in problems), problems


def test_a_policy_without_resources_fails(tmp_path):
    broken = _module_copy(tmp_path, "iam", 'Resource = [for arn in var.log_group_arns : "${arn}:*"]', "")
    document = render_documents(broken, INPUTS["iam"], STUBS["iam"])["cloudwatch_policy"]
    assert iam_policy_problems(document, "identity") == ["Statement[0]: exactly one of Resource and NotResource"]


def test_a_trust_policy_without_principal_fails(tmp_path):
    broken = _module_copy(tmp_path, "iam", 'Principal = { Service = "lambda.amazonaws.com" }', "")
    document = render_documents(broken, INPUTS["iam"], STUBS["iam"])["assume_role_policy"]
    assert iam_policy_problems(document, "trust") == ["Statement[0]: a trust policy needs a Principal"]


def test_an_expression_that_misses_a_query_fails():
    assert metric_math_problems("SUM([m0,m1])", ["m0", "m1", "m2"], "throttled")
    assert metric_math_problems("SUM([M0])", ["M0"], "throttled")  # ids start lower-case
    assert metric_math_problems("SUM([m0])", [f"m{i}" for i in range(11)], "t")  # at most 10 metrics


def test_documents_tf_holds_only_locals_and_reads_no_provider(tmp_path):
    broken = _module_copy(tmp_path, "iam", "locals {", 'data "aws_partition" "x" {}\nlocals {')
    with pytest.raises(RenderError, match="only locals"):
        document_locals(broken)
    unstubbed = _module_copy(tmp_path / "b", "encryption", "${local.region}", "${local.region_name}")
    with pytest.raises(RenderError, match="region_name"):
        render_documents(unstubbed, INPUTS["encryption"], STUBS["encryption"])


def test_a_broken_api_document_fails(packaged):
    swagger = json.loads(render_chalice_swagger(packaged["prod"]))
    del swagger["paths"]["/events"]["post"]["responses"]
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(swagger)

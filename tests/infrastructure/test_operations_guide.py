"""The operations guide's names, metrics and alarms are what the Terraform deploys for prod."""

from __future__ import annotations

import json
import re

from deploy.package import FUNCTION_NAMES
from tests.conftest import PROJECT_DIR
from tests.infrastructure.conftest import TERRAFORM_DIR, load_hcl, resources, with_prefix
from tests.infrastructure.render import INPUTS, render_prod

MODULES = TERRAFORM_DIR / "modules"


def alarm(name: str) -> dict:
    return resources(MODULES / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm")[name]


def test_the_three_alarms_of_the_guide():
    errors = alarm("lambda_error_rate")
    assert with_prefix(errors["alarm_name"]) == "LiveInsight-Lambda-ErrorRate"
    assert (errors["namespace"], errors["metric_name"], errors["statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert (errors["period"], errors["threshold"], errors["evaluation_periods"]) == (300, 5, 2)
    assert errors["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert errors["dimensions"] == {"FunctionName": "${local.api}"}

    duration = alarm("lambda_duration")
    assert with_prefix(duration["alarm_name"]) == "LiveInsight-Lambda-Duration"
    assert (duration["metric_name"], duration["statistic"]) == ("Duration", "Average")
    assert (duration["threshold"], duration["evaluation_periods"], duration["period"]) == (5000, 2, 300)
    assert duration["comparison_operator"] == "GreaterThanOrEqualToThreshold"

    throttles = alarm("dynamodb_throttles")
    assert with_prefix(throttles["alarm_name"]) == "LiveInsight-DynamoDB-Throttles"
    assert (throttles["evaluation_periods"], throttles["threshold"]) == (1, 1)
    assert throttles["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    # counted by the functions at every throttled DynamoDB call: tests/integration/test_faults.py
    assert (throttles["namespace"], throttles["metric_name"], throttles["statistic"]) == (
        "LiveInsight", "DynamoDBThrottles", "Sum")
    assert throttles["dimensions"] == {"Environment": "${var.metrics_environment}"}
    assert (throttles["period"], throttles["treat_missing_data"]) == (60, "notBreaching")


def test_every_alarm_notifies_the_topic():
    for name, definition in resources(MODULES / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm").items():
        assert definition["alarm_actions"] == "${local.actions}", name
        assert definition["ok_actions"] == "${local.actions}", name


def test_the_operators_extra_alarms():
    names = {with_prefix(a["alarm_name"]) for a in resources(MODULES / "alarms" / "main.tf",
                                                                "aws_cloudwatch_metric_alarm").values()}
    assert {"LiveInsight-API-5XXRate", "LiveInsight-Lambda-Throttles", "LiveInsight-ProcessingErrors",
            "LiveInsight-NoEventsProcessed", "${each.value}-Errors", "${each.value}-MissedRuns"} <= names
    processing = alarm("processing_errors")
    assert (processing["namespace"], processing["metric_name"]) == ("LiveInsight", "ProcessingErrors")
    assert processing["dimensions"] == {"Environment": "${var.metrics_environment}"}
    assert alarm("no_events")["count"] == "${var.expect_traffic ? 1 : 0}"
    assert alarm("job_missed")["treat_missing_data"] == "breaching"  # no run at all is the failure
    queries = alarm("api_5xx_rate")["metric_query"]
    assert queries[0]["expression"] == "${local.api_5xx_expression}"  # rendered: test_rendered_documents.py
    assert [q["id"] for q in queries[1:]] == ["collector", "rest"]  # = local.api_5xx_metric_ids


def test_function_and_log_group_names():
    main = load_hcl(TERRAFORM_DIR / "main.tf")
    names = {k: with_prefix(v) for k, v in main["locals"][0]["function_names"].items()}
    assert names == {"api": "LiveInsight-EventCollector", "expiry": "LiveInsight-SessionExpiry",
                     "rollup": "LiveInsight-StatsRollup", "stats_aggregator": "LiveInsight-StatsAggregator",
                     "lake_writer": "LiveInsight-EventLakeWriter",
                     "lake_compaction": "LiveInsight-EventLakeCompaction", "lake_query": "LiveInsight-EventLakeQuery",
                     "lake_erasure": "LiveInsight-VisitorErasure"}
    assert names == {k: "LiveInsight-" + v for k, v in FUNCTION_NAMES.items()}  # what ops-check reads
    [group] = resources(MODULES / "logs" / "main.tf", "aws_cloudwatch_log_group").values()
    assert group["name"] == "/aws/lambda/${each.value}"  # /aws/lambda/LiveInsight-EventCollector
    assert group["retention_in_days"] == "${var.retention_days}"
    assert main["locals"][0]["metrics_environment"] == '${var.stage == "prod" ? "Production" : var.stage}'


def test_role_and_policies_of_the_guide():
    iam = MODULES / "iam" / "main.tf"
    role = resources(iam, "aws_iam_role")["lambda"]
    assert with_prefix(role["name"]) == "LiveInsight-Lambda-Role"
    policies = resources(iam, "aws_iam_policy")
    # The guide's two, the API's right to invoke the lake's functions, and the own roles' policies (the
    # lake's functions' and the statistics aggregator's).
    assert {with_prefix(p["name"]) for p in policies.values()} == {
        "LiveInsight-DynamoDB-Policy", "LiveInsight-CloudWatch-Policy", "LiveInsight-InvokeLake-Policy",
        "LiveInsight-${each.value.name}-Policy", "LiveInsight-StatsAggregator-Policy"}
    attachments = resources(iam, "aws_iam_role_policy_attachment")
    assert "AWSLambdaBasicExecutionRole" in attachments["basic_execution"]["policy_arn"]
    own = {"lake", "stats_aggregator"}
    assert {a["role"] for key, a in attachments.items() if key not in own} == {"${aws_iam_role.lambda.name}"}


def test_the_dynamodb_policy_allows_exactly_the_calls_the_code_makes():
    # The shared role's code: every store module but the lake's (S3, Athena, DuckDB), the Lambda
    # invoker (InvokeLake-Policy), erasure's (its own role) and the export files' (S3, the query
    # function's role): tests/infrastructure/test_lake.py.
    # access.py: its own statement on the Access table (below); its create, list and revoke are the CLI's.
    others = {"lake.py", "lake_duckdb.py", "athena.py", "functions.py", "erasure.py", "exports.py", "access.py"}
    source = "\n".join(p.read_text() for p in (PROJECT_DIR / "chalicelib" / "store").glob("*.py")
                        if p.name not in others)
    used = set(re.findall(r"self\._client\.(\w+)", source))
    expected = {"dynamodb:" + "".join(part.title() for part in name.split("_")) for name in used}
    # IAM has no action for a transaction: each of its Put actions needs dynamodb:PutItem (AWS's
    # "Using IAM with DynamoDB transactions"); the store's transactions hold Puts only.
    assert re.findall(r'\{"(\w+)": \{"TableName"', source) == ["Put", "Put"]
    expected = expected - {"dynamodb:TransactWriteItems"} | {"dynamodb:PutItem"}
    statements = json.loads(render_prod("iam")["dynamodb_policy"])["Statement"]
    table_statement = next(s for s in statements if s["Sid"] == "LiveInsightTables")
    assert set(table_statement["Action"]) == expected
    table_arns = [arn for base, arn in INPUTS["iam"]["table_arns"].items() if base != "Access"]
    assert set(table_statement["Resource"]) == {*table_arns, *(f"{arn}/index/*" for arn in table_arns)}
    # The API reads a credential by its key and notes its last use: what a request of store/access.py calls.
    access = (PROJECT_DIR / "chalicelib" / "store" / "access.py").read_text().split("# --- the operator's CLI")[0]
    assert set(re.findall(r"self\._client\.(\w+)", access)) == {"get_item", "update_item"}
    credentials = next(s for s in statements if s["Sid"] == "ReadCredentials")
    assert credentials["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert credentials["Resource"] == [INPUTS["iam"]["table_arns"]["Access"]]


def test_every_table_is_encrypted_recoverable_and_protected():
    [table] = resources(MODULES / "tables" / "main.tf", "aws_dynamodb_table").values()
    assert table["for_each"] == "${var.tables}"  # every table of chalicelib/schema/tables.py
    assert table["server_side_encryption"][0] == {"enabled": True, "kms_key_arn": "${var.kms_key_arn}"}
    assert table["point_in_time_recovery"][0] == {"enabled": True}
    assert table["deletion_protection_enabled"] == "${var.deletion_protection}"
    assert table["billing_mode"] == "${var.billing_mode}"


def test_modules_follow_the_standard_layout_and_describe_their_variables():
    for module in MODULES.iterdir():
        files = {p.name for p in module.iterdir()}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} <= files, module.name
        for block in load_hcl(module / "variables.tf").get("variable", []):
            for name, spec in block.items():
                assert spec.get("description") and spec.get("type"), f"{module.name}.{name}"


def test_the_dashboard_shows_the_guides_metrics():
    body = json.loads(render_prod("dashboard")["dashboard_body"])
    shown = {tuple(part for part in entry if isinstance(part, str))[:2] for widget in body["widgets"]
             for entry in widget["properties"]["metrics"]}
    expressions = json.dumps(body)
    assert {("AWS/Lambda", "Duration"), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Invocations"),
            ("LiveInsight", "EventsProcessed"), ("LiveInsight", "ProcessingTime"), ("LiveInsight", "ProcessingErrors"),
            ("AWS/ApiGateway", "Latency"), ("AWS/ApiGateway", "5XXError"),
            ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"), ("LiveInsight", "SessionsStarted")} <= shown
    assert 'MetricName=\\"PageViews\\"' in expressions

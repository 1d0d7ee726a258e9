"""The realtime statistics' deployment: the Events stream's second mapping (to aggregate_events), which
must hand a failed batch back whole and identical, the aggregator's own least-privilege role (read from
the policy Terraform renders, and held to the calls the code makes), its IteratorAge alarm and its
place on the dashboard."""

from __future__ import annotations

import json
import re
import time

import pytest

from deploy.package import STREAM_FILTER
from tests.conftest import PROJECT_DIR, stage_environment
from tests.infrastructure.conftest import TERRAFORM_DIR, load_hcl, resources
from tests.infrastructure.render import ACCOUNT, FUNCTIONS, INPUTS, KEY_ARN, LAKE, REGION, render_prod

MAPPING = "aggregate_events-dynamodb-event-source"
FRESHNESS_SECONDS = 10  # the realtime view's promise (docs/stats.md)
STATS_TABLE = INPUTS["iam"]["table_arns"]["Stats"]


def chalice_doc(directory) -> dict:
    return json.loads((directory / "chalice.tf.json").read_text())


# --- The stream mapping ---------------------------------------------------------------------------

def test_a_failed_batch_comes_back_whole_and_identical(packaged):
    for stage, directory in packaged.items():
        mappings = chalice_doc(directory)["resource"]["aws_lambda_event_source_mapping"]
        mapping, writers = mappings[MAPPING], mappings["write_event_lake-dynamodb-event-source"]
        assert mapping["function_name"] == "${aws_lambda_function.aggregate_events.arn}", stage
        assert mapping["event_source_arn"] == '${module.tables.stream_arns["Events"]}'  # not app.py's placeholder
        # Neither split nor partly retried: the aggregator's bucket tokens are derived from the whole batch.
        assert mapping["bisect_batch_on_function_error"] is False
        assert not mapping.get("function_response_types")  # no ReportBatchItemFailures
        assert mapping["parallelization_factor"] == 1  # one batch per shard at a time, in order
        # Retried until it succeeds, as the writer's: abandoning a batch would lose its counts.
        assert (mapping["maximum_retry_attempts"], mapping["maximum_record_age_in_seconds"]) == (-1, -1)
        assert mapping["destination_config"] == writers["destination_config"] == {
            "on_failure": {"destination_arn": "${module.lake.stream_failures_queue_arn}"}}
        assert mapping["depends_on"] == ["module.iam"]  # its role reads the stream before Lambda polls


def test_new_events_only_in_batches_well_within_the_realtime_freshness(packaged):
    mapping = chalice_doc(packaged["prod"])["resource"]["aws_lambda_event_source_mapping"][MAPPING]
    assert (mapping["starting_position"], mapping["batch_size"]) == ("TRIM_HORIZON", 1000)
    assert mapping["maximum_batching_window_in_seconds"] == 5 <= FRESHNESS_SECONDS / 2
    [rule] = mapping["filter_criteria"]["filter"]
    assert json.loads(rule["pattern"]) == STREAM_FILTER  # the writer's: INSERTs with an event_id (test_lake.py)


def test_the_aggregator_is_a_small_function_with_a_role_of_its_own(packaged):
    function = chalice_doc(packaged["prod"])["resource"]["aws_lambda_function"]["aggregate_events"]
    assert function["handler"] == "app.aggregate_events"
    assert function["function_name"] == "${local.function_names.stats_aggregator}"
    assert function["role"] == "${module.iam.stats_aggregator_role_arn}"
    assert (function["memory_size"], function["timeout"]) == (256, 60)
    assert "layers" not in function  # neither DuckDB nor the country database
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["lambda_functions"]["aggregate_events"] == {
            "lambda_memory_size": 256, "lambda_timeout": 60,
            "iam_role_arn": "${module.iam.stats_aggregator_role_arn}"}, stage
    outputs = {name for block in load_hcl(TERRAFORM_DIR / "modules" / "iam" / "outputs.tf")["output"]
               for name in block}
    assert "stats_aggregator_role_arn" in outputs


# --- Its role -------------------------------------------------------------------------------------

def test_the_role_reads_the_stream_and_updates_the_stats_table_and_nothing_else():
    statements = {s["Sid"]: s for s in json.loads(render_prod("iam")["stats_aggregator_policy"])["Statement"]}
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTIONS['stats_aggregator']}:*"
    assert statements == {
        "WriteOwnLogGroup": {"Sid": "WriteOwnLogGroup", "Effect": "Allow",
                             "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": [log_group]},
        "ReadEventsStream": {"Sid": "ReadEventsStream", "Effect": "Allow",
                             "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                        "dynamodb:ListStreams"], "Resource": [LAKE["events_stream_arn"]]},
        "UpdateStatsBuckets": {"Sid": "UpdateStatsBuckets", "Effect": "Allow",
                               "Action": ["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"],
                               "Resource": [STATS_TABLE]},
        # The mapping's on-failure destination is sent to with the function's role.
        "SendAbandonedBatches": {"Sid": "SendAbandonedBatches", "Effect": "Allow", "Action": "sqs:SendMessage",
                                 "Resource": [LAKE["stream_failures_queue_arn"]]},
        "TableEncryptionKey": {"Sid": "TableEncryptionKey", "Effect": "Allow", "Resource": [KEY_ARN],
                               "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]},
    }


def test_the_role_is_named_and_attached_as_the_guide_names_roles():
    iam = TERRAFORM_DIR / "modules" / "iam" / "main.tf"
    role = resources(iam, "aws_iam_role")["stats_aggregator"]
    assert role["name"] == "${var.name_prefix}StatsAggregator-Role"
    assert role["assume_role_policy"] == "${local.assume_role_policy}"
    assert resources(iam, "aws_iam_policy")["stats_aggregator"]["policy"] == "${local.stats_aggregator_policy}"
    attachment = resources(iam, "aws_iam_role_policy_attachment")["stats_aggregator"]
    assert attachment == {"role": "${aws_iam_role.stats_aggregator.name}",
                          "policy_arn": "${aws_iam_policy.stats_aggregator.arn}"}


def _stream_batch(now_ms: int, pages: tuple[str, ...] = ("/",)) -> dict:
    from deploy.verify.lambda_events import stream_records

    items = [{"pk": {"S": f"demo#e{i}{pages[0]}"}, "event_id": {"S": f"e{i}{pages[0]}"}, "site": {"S": "demo"},
              "time_ms": {"N": str(now_ms - i * 1000)}, "visitor_id": {"S": f"v{i % 2}"},
              "event_type": {"S": "page_view"}, "page_path": {"S": pages[i % len(pages)]},
              **({"starts_session": {"BOOL": True}} if i < 2 else {})} for i in range(5)]
    return {"Records": stream_records(items, LAKE["events_stream_arn"])}


def test_the_aggregator_calls_only_what_its_role_allows(monkeypatch):
    """A batch and its retry through the function's own code path (Services.aggregate_events), on moto:
    every DynamoDB call is one the policy grants, on the Stats table."""
    import boto3
    from moto import mock_aws

    from chalicelib.core.settings import load_settings
    from chalicelib.schema.tables import create_tables
    from chalicelib.services import Services

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    settings = load_settings({**stage_environment("prod"), "LIVEINSIGHT_SITES": json.dumps({"demo": {"origins": []}}),
                              "LIVEINSIGHT_DEFAULT_SITE": "demo", "LIVEINSIGHT_API_TOKEN": "t" * 32})
    granted = json.loads(render_prod("iam")["stats_aggregator_policy"])["Statement"]
    [writes] = [s for s in granted if s["Sid"] == "UpdateStatsBuckets"]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        calls = set()
        client.meta.events.register("provide-client-params.dynamodb", lambda model, params, **_: calls.add(
            (f"dynamodb:{model.name}", params.get("TableName"))))
        now_ms = int(time.time() * 1000) // 60_000 * 60_000 + 30_000  # every event in one minute
        batch = _stream_batch(now_ms)
        services = Services(settings, dynamodb_client=client)
        assert services.aggregate_events(batch) == services.aggregate_events(batch)  # the retry changes nothing
        # a minute whose items are full (one page a map here): a retried batch looks for its update in them
        monkeypatch.setattr("chalicelib.store.stats.MAX_VALUES_PER_MAP", 1)
        for pages in (("/a", "/b"), ("/c", "/d"), ("/c", "/d")):
            services.aggregate_events(_stream_batch(now_ms, pages))
    assert ("dynamodb:Query", settings.stats_table) in calls
    assert calls and {action for action, _ in calls} <= set(writes["Action"])
    assert {table for _, table in calls} == {settings.stats_table}
    assert STATS_TABLE.endswith(f":table/{settings.stats_table}")  # the table the policy names


# --- Its alarm and the dashboard --------------------------------------------------------------------

def test_the_realtime_statistics_alarm_when_a_minute_behind():
    alarms = resources(TERRAFORM_DIR / "modules" / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm")
    age, lake = alarms["stats_iterator_age"], alarms["lake_iterator_age"]
    assert age["alarm_name"] == "${var.function_names.stats_aggregator}-IteratorAge"
    assert (age["namespace"], age["metric_name"], age["statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert age["dimensions"] == {"FunctionName": "${var.function_names.stats_aggregator}"}
    assert (age["threshold"], age["comparison_operator"]) == (60000, "GreaterThanOrEqualToThreshold")
    assert (age["period"], age["evaluation_periods"], age["datapoints_to_alarm"]) == (60, 3, 2)
    assert age["period"] * age["datapoints_to_alarm"] < lake["period"] * lake["datapoints_to_alarm"]  # quicker
    assert age["treat_missing_data"] == "notBreaching"  # no batches, no iterator age: nothing is behind
    assert (age["alarm_actions"], age["ok_actions"]) == ("${local.actions}", "${local.actions}")
    assert "docs/operations.md#stats-iterator-age" in age["alarm_description"]
    guide = (PROJECT_DIR / "docs" / "operations.md").read_text()
    assert '<a id="stats-iterator-age"></a>' in guide and "/aws/lambda/LiveInsight-StatsAggregator" in guide
    outputs = (TERRAFORM_DIR / "modules" / "alarms" / "outputs.tf").read_text()
    assert "aws_cloudwatch_metric_alarm.stats_iterator_age.alarm_name" in outputs


def test_the_dashboard_shows_the_aggregator_beside_the_lake_writer():
    widgets = [w["properties"]["metrics"] for w in json.loads(render_prod("dashboard")["dashboard_body"])["widgets"]]

    def widget_of(metric: str, function: str) -> int:
        [index] = [i for i, metrics in enumerate(widgets)
                   if any(entry[:4] == ["AWS/Lambda", metric, "FunctionName", function] for entry in metrics)]
        return index

    for metric in ("IteratorAge", "Errors"):
        assert widget_of(metric, FUNCTIONS["stats_aggregator"]) == widget_of(metric, FUNCTIONS["lake_writer"]), metric


@pytest.mark.parametrize("document", ["alarms/README.md", "iam/README.md"])
def test_the_module_readmes_name_the_aggregator(document):
    text = (TERRAFORM_DIR / "modules" / document).read_text()
    assert re.search(r"LiveInsight-StatsAggregator-(IteratorAge|Role)", text), document

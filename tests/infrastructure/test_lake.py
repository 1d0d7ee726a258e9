"""The event lake's deployment: the Events stream's mapping to the writer, the lake layer and the
package sizes, each lake function's IAM boundary (read from the policies Terraform renders), the
buckets, the Glue table's partition projection against the app's own object layout, the alarms."""

from __future__ import annotations

import fnmatch
import json
import re
import zipfile

import pytest

from chalicelib.lake.layout import Partition, stream_object_key
from chalicelib.query.export import EXPORTS_PREFIX
from chalicelib.schema.lake import lake_schema_json
from deploy.package import LAKE_FUNCTIONS
from tests.conftest import PROJECT_DIR
from tests.infrastructure.conftest import TERRAFORM_DIR, load_hcl, resources
from tests.infrastructure.render import ACCOUNT, FUNCTIONS, KEY_ARN, LAKE, LAKE_BUCKET, REGION, TABLES, render_prod

LAKE_MODULE = TERRAFORM_DIR / "modules" / "lake"
MB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * MB  # function and layers together (Lambda quotas)
LAMBDA_ZIPPED_UPLOAD_LIMIT_BYTES = 50 * MB  # a zip uploaded directly, as Terraform does


def sample_records() -> list[dict]:
    return json.loads((PROJECT_DIR / "tests" / "fixtures" / "aws-events" / "dynamodb-stream-event.json").read_text())[
        "Records"]


# --- The stream mapping ---------------------------------------------------------------------------

def matches(pattern, value) -> bool:
    """Lambda's event filtering for what our pattern uses (Lambda Developer Guide, "Control which
    events Lambda sends to your function"): a list of allowed values or {"exists": bool}, and objects
    that match key by key."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(p, value.get(k)) for k, p in pattern.items())
    return any(value is not None if isinstance(rule, dict) and rule.get("exists") is True
               else value is None if isinstance(rule, dict) and rule.get("exists") is False
               else value == rule for rule in pattern)


@pytest.fixture(scope="module")
def mapping(packaged) -> dict:
    """The writer's mapping (the Events stream has a second, the statistics aggregator's: test_stats_aggregator.py)."""
    doc = json.loads((packaged["prod"] / "chalice.tf.json").read_text())
    mappings = doc["resource"]["aws_lambda_event_source_mapping"]
    assert set(mappings) == {"write_event_lake-dynamodb-event-source", "aggregate_events-dynamodb-event-source"}
    return mappings["write_event_lake-dynamodb-event-source"]


def test_the_writer_reads_the_real_stream_with_its_failure_handling(mapping):
    assert mapping["function_name"] == "${aws_lambda_function.write_event_lake.arn}"
    assert mapping["event_source_arn"] == '${module.tables.stream_arns["Events"]}'  # not app.py's placeholder
    assert (mapping["starting_position"], mapping["batch_size"], mapping["maximum_batching_window_in_seconds"]) == (
        "TRIM_HORIZON", 1000, 60)  # 60 s of batching leaves a minute of the 2-minute freshness for the write
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    # Retried until it succeeds or its records leave the stream (24 h): an S3 outage delays the lake, it
    # never leaves holes in it (abandoning a bisected half could also leave copies until compaction).
    assert (mapping["maximum_retry_attempts"], mapping["maximum_record_age_in_seconds"]) == (-1, -1)
    failures = "${module.lake.stream_failures_queue_arn}"
    assert mapping["destination_config"] == {"on_failure": {"destination_arn": failures}}
    assert mapping["depends_on"] == ["module.iam"]


def test_only_new_events_reach_the_writer(mapping):
    [rule] = mapping["filter_criteria"]["filter"]
    pattern = json.loads(rule["pattern"])
    insert, modify = sample_records()[:2]  # AWS's documented INSERT and MODIFY records
    remove = {**modify, "eventName": "REMOVE"}  # TTL expiry and erasure: the same record, named REMOVE
    event_image = {"pk": {"S": "demo#e1"}, "event_id": {"S": "e1"}, "time_ms": {"N": "1795783305591"}}
    salt_image = {"pk": {"S": "salt#2026-11-27"}, "salt": {"B": "c2FsdA=="}, "expires_at_s": {"N": "1"}}

    def record(template: dict, image: dict) -> dict:
        return {**template, "dynamodb": {**template["dynamodb"], "Keys": {"pk": image["pk"]}, "NewImage": image}}

    assert matches(pattern, record(insert, event_image))
    assert not matches(pattern, record(insert, salt_image))  # the daily salts share the table
    assert not matches(pattern, record(modify, event_image))
    assert not matches(pattern, {**remove, "dynamodb": {**remove["dynamodb"], "Keys": {"pk": event_image["pk"]}}})
    assert not matches(pattern, insert)  # AWS's sample item is no event of ours


def test_the_events_table_streams_new_images():
    tables = json.loads((TERRAFORM_DIR / "tables.json").read_text())
    assert tables["Events"]["stream_view_type"] == "NEW_IMAGE"
    assert {base for base, table in tables.items() if table["stream_view_type"]} == {"Events"}
    [table] = resources(TERRAFORM_DIR / "modules" / "tables" / "main.tf", "aws_dynamodb_table").values()
    assert table["stream_enabled"] == "${each.value.stream_view_type != null}"
    assert table["stream_view_type"] == "${each.value.stream_view_type}"


# --- The lake layer and the package sizes -----------------------------------------------------

def unzipped_bytes(path) -> int:
    return sum(info.file_size for info in zipfile.ZipFile(path).infolist())


def test_the_engines_are_in_the_layer_and_not_in_the_collectors_package(packaged):
    package, layer = packaged["prod"] / "deployment.zip", packaged["prod"] / "lake-layer.zip"
    names = zipfile.ZipFile(package).namelist()
    assert not [n for n in names if re.match(r"^(duckdb|_duckdb|sqlglot)", n)]
    layer_names = zipfile.ZipFile(layer).namelist()
    assert {"python/duckdb/__init__.py", "python/sqlglot/__init__.py"} <= set(layer_names)
    assert all(n.startswith("python/") for n in layer_names)  # Lambda mounts it at /opt: /opt/python
    # The native library is Linux x86-64 (ELF, e_machine 62), what Lambda runs.
    [native] = [n for n in layer_names if re.match(r"python/_duckdb[^/]*\.so$", n)]
    header = zipfile.ZipFile(layer).read(native)[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 62
    sizes = {"package": package.stat().st_size, "package unzipped": unzipped_bytes(package),
             "layer": layer.stat().st_size, "layer unzipped": unzipped_bytes(layer)}
    print({name: f"{size / MB:.1f} MB" for name, size in sizes.items()})
    assert sizes["package unzipped"] < 10 * MB  # the collector stays light
    assert sizes["layer"] < LAMBDA_ZIPPED_UPLOAD_LIMIT_BYTES
    assert sizes["package unzipped"] + sizes["layer unzipped"] < LAMBDA_UNZIPPED_LIMIT_BYTES


def test_the_layer_is_built_once_and_byte_identical(packaged):
    assert (packaged["prod"] / "lake-layer.zip").read_bytes() == (packaged["dev"] / "lake-layer.zip").read_bytes()


# --- IAM: what each function may do, from the rendered policies ---------------------------------

def allows(policy_json: str, action: str, resource: str) -> bool:
    """Whether an identity policy's Allow statements grant `action` on `resource` (no Deny in ours;
    conditions narrow a grant, so a conditioned statement counts as granting here)."""
    for statement in json.loads(policy_json)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
                fnmatch.fnmatchcase(resource, r) for r in targets):
            return True
    return False


BUCKET = LAKE["bucket_arn"]
EVENT_OBJECT = f"{BUCKET}/events/site=demo/date=2026-11-27/s-0a1b2c3d-100.parquet"
DEAD_LETTER = f"{BUCKET}/dead-letter/2026-11-27/x.json"
OTHER_OBJECT = f"{BUCKET}/exports/x.csv"
RESULT_OBJECT = f"{LAKE['results_bucket_arn']}/results/q.csv"


@pytest.fixture(scope="module")
def policies() -> dict[str, str]:
    rendered = render_prod("iam")
    return {"writer": rendered["lake_writer_policy"], "compaction": rendered["lake_compaction_policy"],
            "query": rendered["lake_query_policy"], "erasure": rendered["lake_erasure_policy"],
            "shared": rendered["dynamodb_policy"], "invoke": rendered["invoke_lake_policy"],
            "logs": rendered["cloudwatch_policy"], "aggregator": rendered["stats_aggregator_policy"]}


def test_the_writer_only_adds_objects_under_events_and_dead_letter(policies):
    writer = policies["writer"]
    assert allows(writer, "s3:PutObject", EVENT_OBJECT) and allows(writer, "s3:PutObject", DEAD_LETTER)
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:ListBucket"):
        assert not allows(writer, action, EVENT_OBJECT) and not allows(writer, action, BUCKET), action
    assert not allows(writer, "s3:PutObject", OTHER_OBJECT)
    for action in ("dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"):
        assert allows(writer, action, LAKE["events_stream_arn"])
    assert not allows(writer, "dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLES['Events']}")
    assert allows(writer, "sqs:SendMessage", LAKE["stream_failures_queue_arn"])


def test_compaction_rewrites_events_only(policies):
    compaction = policies["compaction"]
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(compaction, action, EVENT_OBJECT) and not allows(compaction, action, DEAD_LETTER), action
    listing = next(s for s in json.loads(compaction)["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["events/*"]}}
    events_table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLES['Events']}"
    assert not allows(compaction, "dynamodb:DeleteItem", events_table)
    # Its partition leases: Stats items keyed "<site>#lake-lease" only.
    lease = next(s for s in json.loads(compaction)["Statement"] if s["Sid"] == "PartitionLeases")
    assert lease["Resource"] == [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLES['Stats']}"]
    assert lease["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["*#lake-lease"]}}


def test_the_query_function_only_reads_the_lake_and_runs_athena_in_its_workgroup(policies):
    query = policies["query"]
    assert allows(query, "s3:GetObject", EVENT_OBJECT)
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not allows(query, action, EVENT_OBJECT) and not allows(query, action, DEAD_LETTER), action
    assert not allows(query, "s3:GetObject", DEAD_LETTER)
    assert allows(query, "athena:StartQueryExecution", LAKE["athena_workgroup_arn"])
    assert not allows(query, "athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary")
    assert allows(query, "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/liveinsight_lake/events")
    assert not any(allows(query, f"glue:{a}", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/liveinsight_lake/events")
                   for a in ("UpdateTable", "DeleteTable", "CreatePartition"))
    assert allows(query, "s3:PutObject", RESULT_OBJECT)


EXPORT_OBJECT = f"{BUCKET}/exports/demo/20261127T120000Z-0123456789abcdef.csv"


def test_only_the_query_function_writes_exports_and_only_there(policies):
    query = policies["query"]
    for action in ("s3:PutObject", "s3:GetObject"):  # GetObject: S3 serves the presigned link with its rights
        assert allows(query, action, EXPORT_OBJECT), action
    assert not allows(query, "s3:DeleteObject", EXPORT_OBJECT)
    for elsewhere in (EVENT_OBJECT, DEAD_LETTER, f"{BUCKET}/exportsx/y.csv", f"{BUCKET}/x/exports/y.csv"):
        assert not allows(query, "s3:PutObject", elsewhere), elsewhere
    assert {name for name, policy in policies.items() if allows(policy, "s3:PutObject", EXPORT_OBJECT)} == {"query"}
    assert {name for name, policy in policies.items() if allows(policy, "s3:GetObject", EXPORT_OBJECT)} == {"query"}


def test_only_erasure_and_compaction_delete_lake_objects_and_only_erasure_deletes_events(policies):
    deleting = {name for name, policy in policies.items() if allows(policy, "s3:DeleteObject", EVENT_OBJECT)}
    assert deleting == {"compaction", "erasure"}  # compaction replaces objects; erasure removes rows
    events_table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLES['Events']}"
    lake_roles = ("writer", "compaction", "query", "erasure")
    assert {name for name in lake_roles if allows(policies[name], "dynamodb:BatchWriteItem", events_table)} == {
        "erasure"}
    assert not allows(policies["erasure"], "s3:PutObject", DEAD_LETTER)


def test_the_api_may_invoke_the_query_and_erasure_functions_only(policies):
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    invoke = policies["invoke"]
    assert allows(invoke, "lambda:InvokeFunction", function + FUNCTIONS["lake_query"])
    assert allows(invoke, "lambda:InvokeFunction", function + FUNCTIONS["lake_erasure"])
    others = set(FUNCTIONS) - {"lake_query", "lake_erasure"}
    assert not any(allows(invoke, "lambda:InvokeFunction", function + FUNCTIONS[key]) for key in others)


def test_each_lake_role_writes_only_its_own_log_group(policies):
    for name, key in (("writer", "lake_writer"), ("compaction", "lake_compaction"), ("query", "lake_query"),
                      ("erasure", "lake_erasure")):
        groups = {FUNCTIONS[k] for k in FUNCTIONS
                  if allows(policies[name], "logs:PutLogEvents",
                            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTIONS[k]}:log-stream:x")}
        assert groups == {FUNCTIONS[key]}, name
        assert allows(policies[name], "kms:Decrypt", KEY_ARN)


def test_every_lake_function_has_its_role_in_the_chalice_config():
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    roles = resources(TERRAFORM_DIR / "modules" / "iam" / "main.tf", "aws_iam_role")
    assert roles["lake"]["for_each"] == "${local.lake_roles}"
    for stage in ("dev", "prod"):
        functions = config["stages"][stage]["lambda_functions"]
        assert {key: functions[key]["iam_role_arn"] for key in LAKE_FUNCTIONS} == {
            "write_event_lake": "${module.iam.lake_role_arns.lake_writer}",
            "compact_lake": "${module.iam.lake_role_arns.lake_compaction}",
            "query_lake": "${module.iam.lake_role_arns.lake_query}",
            "erase_visitor": "${module.iam.lake_role_arns.lake_erasure}"}


# --- Buckets, Glue and Athena ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def lake_documents() -> dict:
    return render_prod("lake")


def test_the_buckets_are_encrypted_private_tls_only_and_expire_what_they_hold(lake_documents):
    main = LAKE_MODULE / "main.tf"
    encryption = resources(main, "aws_s3_bucket_server_side_encryption_configuration")
    blocks = resources(main, "aws_s3_bucket_public_access_block")
    assert set(encryption) == set(blocks) == set(resources(main, "aws_s3_bucket")) == {"lake", "results"}
    for name in ("lake", "results"):
        [rule] = encryption[name]["rule"]
        assert rule["apply_server_side_encryption_by_default"][0] == {
            "sse_algorithm": "aws:kms", "kms_master_key_id": "${var.kms_key_arn}"}
        assert all(blocks[name][flag] is True for flag in (
            "block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
        [statement] = json.loads(lake_documents[f"{name}_bucket_policy"])["Statement"]
        assert (statement["Effect"], statement["Action"], statement["Condition"]) == (
            "Deny", "s3:*", {"Bool": {"aws:SecureTransport": "false"}})
    rules = {r["id"]: r for r in resources(main, "aws_s3_bucket_lifecycle_configuration")["lake"]["rule"]}
    assert rules["events-retention"]["filter"][0]["prefix"] == "${var.events_prefix}"
    assert rules["events-retention"]["expiration"][0]["days"] == "${var.event_retention_days}"
    assert rules["dead-letter"]["filter"][0]["prefix"] == "${var.dead_letter_prefix}"
    assert rules["exports"]["filter"][0]["prefix"] == "${var.exports_prefix}"
    assert rules["exports"]["expiration"][0]["days"] == "${var.export_days}"
    variables = {name: body for block in load_hcl(LAKE_MODULE / "variables.tf")["variable"]
                 for name, body in block.items()}
    assert (variables["exports_prefix"]["default"], variables["export_days"]["default"]) == (EXPORTS_PREFIX, 1)
    old = rules["old-versions-and-uploads"]
    assert old["noncurrent_version_expiration"][0]["noncurrent_days"] == "${var.noncurrent_version_days}"
    assert old["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    main_tf = load_hcl(TERRAFORM_DIR / "main.tf")
    [lake] = [block["lake"] for block in main_tf["module"] if "lake" in block]
    assert lake["event_retention_days"] == "${var.event_retention_days}"  # make package: from config.json


def test_the_glue_table_is_the_lake_schema_with_projection_onto_the_writers_layout(lake_documents):
    assert (TERRAFORM_DIR / "lake_schema.json").read_text() == lake_schema_json()  # not stale
    [table] = resources(LAKE_MODULE / "main.tf", "aws_glue_catalog_table").values()
    descriptor = table["storage_descriptor"][0]
    assert descriptor["dynamic"][0]["columns"]["for_each"] == "${var.schema.columns}"
    assert table["dynamic"][0]["partition_keys"]["for_each"] == "${var.schema.partition_keys}"
    assert descriptor["ser_de_info"][0]["serialization_library"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
    parameters = lake_documents["events_table_parameters"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.site.type"] == "injected"
    assert (parameters["projection.date.type"], parameters["projection.date.format"]) == ("date", "yyyy-MM-dd")
    assert parameters["projection.date.range"].endswith(",NOW")
    # The template, filled in as Athena fills it, is the prefix of the objects the writer names.
    partition = Partition("demo", "2026-11-27")
    key = stream_object_key(partition, "shardId-00000001", "100")
    location = parameters["storage.location.template"].replace("${site}", "demo").replace("${date}", "2026-11-27")
    assert location == f"s3://{LAKE_BUCKET}/{partition.prefix}" and key.startswith(partition.prefix)


def test_the_athena_workgroup_limits_scans_and_encrypts_results():
    [workgroup] = resources(LAKE_MODULE / "main.tf", "aws_athena_workgroup").values()
    configuration = workgroup["configuration"][0]
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["bytes_scanned_cutoff_per_query"] == "${var.bytes_scanned_cutoff_per_query}"
    encryption = configuration["result_configuration"][0]["encryption_configuration"][0]
    # SSE_KMS needs a key named: without the customer-managed key, Athena's own SSE_S3
    assert encryption == {"encryption_option": '${var.kms_key_arn == null ? "SSE_S3" : "SSE_KMS"}',
                          "kms_key_arn": "${var.kms_key_arn}"}
    results = resources(LAKE_MODULE / "main.tf", "aws_s3_bucket_lifecycle_configuration")["results"]["rule"][0]
    assert results["expiration"][0]["days"] == "${var.results_days}"


def test_the_functions_find_the_lake_through_their_environment():
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    outputs = {name for block in load_hcl(LAKE_MODULE / "outputs.tf")["output"] for name in block}
    for stage in ("dev", "prod"):
        env = config["stages"][stage]["environment_variables"]
        wanted = {"LIVEINSIGHT_LAKE_BUCKET": "bucket_name", "LIVEINSIGHT_ATHENA_WORKGROUP": "athena_workgroup_name",
                  "LIVEINSIGHT_ATHENA_DATABASE": "athena_database_name"}
        assert {name: env[name] for name in wanted} == {n: f"${{module.lake.{o}}}" for n, o in wanted.items()}
        assert set(wanted.values()) <= outputs
        # The API hands exports and queries to the query function, erasures to the erasure function:
        # without these it would run them itself, and it has neither DuckDB nor the lake's rights.
        assert env["LIVEINSIGHT_ERASE_FUNCTION"] == "${local.function_names.lake_erasure}"
        assert env["LIVEINSIGHT_QUERY_FUNCTION"] == "${local.function_names.lake_query}"


# --- Alarms, dashboard, runbooks ------------------------------------------------------------------

def test_the_lake_alarms_and_their_runbooks():
    alarms = resources(TERRAFORM_DIR / "modules" / "alarms" / "main.tf", "aws_cloudwatch_metric_alarm")
    age = alarms["lake_iterator_age"]
    assert (age["namespace"], age["metric_name"], age["statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert age["dimensions"] == {"FunctionName": "${var.function_names.lake_writer}"}
    assert age["threshold"] == 180000  # ms: past the 2-minute freshness, and the 60 s batching window
    dead = alarms["lake_dead_letters"]
    assert (dead["namespace"], dead["metric_name"], dead["dimensions"]) == (
        "LiveInsight", "LakeDeadLetters", {"Environment": "${var.metrics_environment}"})
    assert alarms["lake_stream_failures"]["namespace"] == "AWS/SQS"
    # Every runbook an alarm names is a section of docs/operations.md.
    guide = (PROJECT_DIR / "docs" / "operations.md").read_text()
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', guide)) | {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", guide, re.M)}
    text = (TERRAFORM_DIR / "modules" / "alarms" / "main.tf").read_text()
    named = set(re.findall(r"docs/operations\.md#([a-z0-9-]+)", text)) | set(
        re.findall(r'= "([a-z-]+)"', text.split("job_runbooks")[1].split("}")[0]))
    assert {"lake-iterator-age", "lake-dead-letters", "lake-stream-failures", "lake-compaction",
            "visitor-erasure"} <= named
    assert named <= anchors, sorted(named - anchors)


def test_the_dashboard_shows_the_lake(tmp_path):
    body = json.dumps(json.loads(render_prod("dashboard")["dashboard_body"]))
    for expected in ('"IteratorAge", "FunctionName", "LiveInsight-EventLakeWriter"', '"LakeDeadLetters"',
                     '"LakeEventsWritten"', '"LakeWriteDelay"', "LakeQueryBytes"):
        assert expected in body, expected

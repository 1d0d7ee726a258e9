"""`make package`: Chalice's Terraform fixed for Terraform >= 1.5 and AWS provider 5.x."""

from __future__ import annotations

import json
import shutil

from deploy.package import FUNCTIONS, LAKE_FUNCTIONS, LAMBDA_RUNTIME, fix_chalice_terraform, tables_json
from tests.infrastructure.conftest import TERRAFORM_DIR, terraform


def test_the_hand_written_terraform_is_formatted():
    result = terraform("fmt", "-check", "-recursive", "-diff", cwd=TERRAFORM_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_tables_json_is_the_apps_table_definition():
    assert (TERRAFORM_DIR / "tables.json").read_text() == tables_json()


def test_get_and_providers_accept_the_pins_on_current_terraform(packaged, tmp_path):
    for stage, directory in packaged.items():
        offline = tmp_path / stage
        shutil.copytree(directory, offline)
        (offline / "backend.tf").unlink()  # the S3 backend needs credentials; the pins do not
        get = terraform("get", cwd=offline)
        assert get.returncode == 0, get.stderr
        providers = terraform("providers", cwd=offline)
        assert providers.returncode == 0, providers.stderr
        assert "hashicorp/aws] >= 5.0.0, < 6.0.0" in providers.stdout
        assert "< 5" not in providers.stdout.replace("< 6.0.0", "") and "hashicorp/null" not in providers.stdout


def test_the_generated_terraform_is_fixed(packaged):
    doc = json.loads((packaged["prod"] / "chalice.tf.json").read_text())
    assert "terraform" not in doc and "null_data_source" not in json.dumps(doc) and "output" not in doc
    functions = doc["resource"]["aws_lambda_function"]
    assert {key: f["function_name"] for key, f in functions.items()} == {
        key: f"${{local.function_names.{name}}}" for key, name in FUNCTIONS.items()}
    for key, function in functions.items():
        # The guide's shared role, except the lake's functions and the statistics aggregator, which each have their own.
        role = f"${{module.iam.lake_role_arns.{FUNCTIONS[key]}}}" if key in LAKE_FUNCTIONS else (
            "${module.iam.stats_aggregator_role_arn}" if key == "aggregate_events" else "${module.iam.lambda_role_arn}")
        assert function["role"] == role, key
        assert function["depends_on"] == ["module.logs", "module.iam"]  # log groups with retention first
        assert function["kms_key_arn"] == "${local.kms_key_arn}"
        assert function["runtime"] == LAMBDA_RUNTIME == "python3.13"  # supported by AWS until 2029
        # DuckDB and sqlglot only where they are used; the country database only in the API function.
        layers = {"api_handler": ["${aws_lambda_layer_version.geo.arn}"]}.get(key) or (
            ["${aws_lambda_layer_version.lake.arn}"] if key in LAKE_FUNCTIONS else None)
        assert function.get("layers") == layers, key
    assert set(LAKE_FUNCTIONS) == {"write_event_lake", "compact_lake", "query_lake", "erase_visitor"}
    # Reserving concurrency is the operator's choice: new accounts reject any reservation.
    assert {key for key, f in functions.items() if "reserved_concurrent_executions" in f} == {
        "expire_sessions", "roll_up_stats"}
    assert {functions[key]["reserved_concurrent_executions"] for key in ("expire_sessions", "roll_up_stats")} == {
        "${var.jobs_reserved_concurrency}"}
    sizes = {key: (f["memory_size"], f["timeout"]) for key, f in functions.items()}
    assert sizes == {"api_handler": (512, 30), "expire_sessions": (256, 60), "roll_up_stats": (1024, 60),
                     "aggregate_events": (256, 60), "write_event_lake": (1024, 120), "compact_lake": (2048, 900),
                     "query_lake": (2048, 60), "erase_visitor": (1024, 30)}
    rules = doc["resource"]["aws_cloudwatch_event_rule"]
    assert {r["name"]: r["description"] for r in rules.values()} == {
        "${local.function_names.expiry}-Schedule": "Runs expire_sessions every minute",
        "${local.function_names.rollup}-Schedule": "Runs roll_up_stats every minute",
        "${local.function_names.lake_compaction}-Schedule": "Runs compact_lake every hour"}
    [deployment] = doc["resource"]["aws_api_gateway_deployment"].values()
    assert "stage_name" not in deployment and deployment["triggers"] == {
        "redeployment": "${md5(local.chalice_api_swagger)}",
        "gateway_responses": "${module.api.gateway_responses_hash}"}
    assert "aws_iam_role" not in doc["resource"]  # our role, not Chalice's


def test_each_stream_mapping_gets_its_own_settings():
    """Chalice names a mapping <function>-dynamodb-event-source; each gets the settings deploy/package.py
    keeps for it, and one it does not know, or whose batching app.py changed alone, stops the package."""
    import pytest

    from deploy.package import STATS_STREAM_MAPPING, STREAM_MAPPING, PackageError

    def doc(mappings: dict) -> dict:
        return {"resource": {"aws_lambda_event_source_mapping": mappings}}

    def batching(window_seconds: int) -> dict:
        return {"batch_size": 1000, "maximum_batching_window_in_seconds": window_seconds}

    chalices = {"write_event_lake-dynamodb-event-source": batching(60),
                "aggregate_events-dynamodb-event-source": batching(5)}
    fixed = fix_chalice_terraform(doc(chalices))["resource"]["aws_lambda_event_source_mapping"]
    assert fixed["write_event_lake-dynamodb-event-source"] == STREAM_MAPPING
    assert fixed["aggregate_events-dynamodb-event-source"] == STATS_STREAM_MAPPING
    with pytest.raises(PackageError, match="surprise-dynamodb-event-source"):
        fix_chalice_terraform(doc({**chalices, "surprise-dynamodb-event-source": {}}))
    with pytest.raises(PackageError, match="aggregate_events-dynamodb-event-source: app.py's batch size"):
        fix_chalice_terraform(doc({**chalices, "aggregate_events-dynamodb-event-source": batching(30)}))


def test_stages_get_their_own_names(packaged):
    prod = json.loads((packaged["prod"] / "liveinsight.auto.tfvars.json").read_text())
    dev = json.loads((packaged["dev"] / "liveinsight.auto.tfvars.json").read_text())
    common = {"lambda_runtime": LAMBDA_RUNTIME, "event_retention_days": 400,  # from .python-version, config.json
              # the collector's HTTP API: the app's routes of the paths websites call
              "collector_route_keys": ["OPTIONS /events", "POST /events", "OPTIONS /api/event", "POST /api/event",
                                       "OPTIONS /api/send", "POST /api/send", "GET /liveinsight.js"]}
    assert prod == {"stage": "prod", "name_prefix": "LiveInsight-", **common}
    assert dev == {"stage": "dev", "name_prefix": "LiveInsight-dev-", **common}


def test_the_package_holds_the_app_and_its_dashboard_and_sdk(packaged):
    import zipfile

    names = set(zipfile.ZipFile(packaged["prod"] / "deployment.zip").namelist())
    assert {"app.py", "chalicelib/ingest/collector.py", "chalicelib/static/liveinsight.js",
            "chalicelib/static/dashboard.html", "ua_parser/__init__.py",
            "crawleruseragents/crawler-user-agents.json"} <= names
    assert not any(n.startswith(("tests/", "sdk/", "deploy/", "terraform/")) for n in names)
    assert not any(n.endswith(".mmdb") for n in names)  # the country database is the geo layer's
    with zipfile.ZipFile(packaged["prod"] / "geo-layer.zip") as layer:
        [info] = layer.infolist()
        assert info.filename == "geo/country.mmdb" and info.file_size > 1_000_000  # /opt/geo/country.mmdb
        assert (info.external_attr >> 16) & 0o444 == 0o444  # readable by Lambda's user


def test_a_new_chalice_function_must_be_named_first():
    import pytest

    from deploy.package import PackageError

    doc = {"resource": {"aws_lambda_function": {"surprise": {"function_name": "x"}}}}
    with pytest.raises(PackageError, match="surprise"):
        fix_chalice_terraform(doc)


def test_a_package_for_another_runtime_is_refused():
    import pytest

    from deploy.package import PackageError

    doc = {"resource": {"aws_lambda_function": {"api_handler": {"function_name": "x", "runtime": "python3.11"}}}}
    with pytest.raises(PackageError, match="python3.11, not python3.13"):
        fix_chalice_terraform(doc)


def test_jobs_reserve_concurrency_only_when_asked(tmp_path):
    (tmp_path / "variables.tf").write_text((TERRAFORM_DIR / "variables.tf").read_text())
    required = {"stage": "prod", "name_prefix": "LiveInsight-", "api_token": "x" * 24, "sites_json": "{}",
                "default_site": "default", "collector_route_keys": ["POST /events"]}
    assert terraform("init", "-backend=false", cwd=tmp_path).returncode == 0
    for value, accepted in ((None, True), (1, True), (0, False)):
        (tmp_path / "terraform.tfvars.json").write_text(json.dumps({**required, "jobs_reserved_concurrency": value}))
        result = terraform("apply", "-auto-approve", "-input=false", cwd=tmp_path)
        assert (result.returncode == 0) == accepted, result.stderr


def test_required_version_admits_what_the_configuration_uses():
    from tests.infrastructure.conftest import load_hcl

    [block] = load_hcl(TERRAFORM_DIR / "versions.tf")["terraform"]
    backends = "".join(p.read_text() for p in (TERRAFORM_DIR / "environments").glob("*.s3.tfbackend"))
    assert "use_lockfile" in backends and block["required_version"] == ">= 1.10"  # S3 lock files: 1.10+

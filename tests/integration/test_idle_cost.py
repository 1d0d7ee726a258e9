"""What a deployed prod stage costs when nobody visits (bench/idle_cost.py): its shape, exactly.

Counts, not timings: the resources the Terraform makes, the DynamoDB requests and read units of an
idle hour of each minute job, the custom metrics they emit; and that the bill is the sum of its
parts. A change here changes the idle bill: update docs/performance.md with it.
"""

from __future__ import annotations

import json
import uuid

import pytest

from bench import idle_cost, prices
from bench.idle_cost import TerraformError, TerraformModule, bill, inventory, measure_jobs

ONE_SITE = json.dumps({"default": {"origins": ["https://www.example.com"]}})
TWO_SITES = json.dumps({"default": {"origins": []}, "shop": {"origins": []}})
MIN = 60_000


# --- the Terraform ------------------------------------------------------------------------------

def test_the_terraform_makes_no_key_seventeen_alarms_reading_18_metrics_one_dashboard_ten_log_groups():
    found = inventory(values={})  # the defaults
    alarm = "module.alarms.aws_cloudwatch_metric_alarm."
    assert found["alarms"] == {
        f"{alarm}lambda_error_rate": {"instances": 1, "metrics_each": 1},
        f"{alarm}lambda_duration": {"instances": 1, "metrics_each": 1},
        # the functions' own count of throttled calls (not 8 AWS/DynamoDB metrics: Read and Write of 4 tables)
        f"{alarm}dynamodb_throttles": {"instances": 1, "metrics_each": 1},
        f"{alarm}api_5xx_rate": {"instances": 1, "metrics_each": 2},  # metric math: the collector and the REST API
        f"{alarm}lambda_throttles": {"instances": 1, "metrics_each": 1},
        f"{alarm}processing_errors": {"instances": 1, "metrics_each": 1},
        f"{alarm}rate_limited": {"instances": 1, "metrics_each": 1},
        # the realtime statistics: the aggregator's IteratorAge (the Events stream to the minute buckets)
        f"{alarm}stats_iterator_age": {"instances": 1, "metrics_each": 1},
        # for_each: the two minute jobs, lake compaction and visitor erasure
        f"{alarm}job_errors": {"instances": 4, "metrics_each": 1},
        f"{alarm}job_missed": {"instances": 2, "metrics_each": 1},
        # the lake: the stream writer's IteratorAge, dead letters, the failures queue
        f"{alarm}lake_iterator_age": {"instances": 1, "metrics_each": 1},
        f"{alarm}lake_dead_letters": {"instances": 1, "metrics_each": 1},
        f"{alarm}lake_stream_failures": {"instances": 1, "metrics_each": 1},
    }  # no_events: count = 0 unless expect_traffic
    assert (found["alarm_count"], found["alarm_metrics"]) == (17, 18)
    # log groups: the API, the two minute jobs, the statistics aggregator, the lake's writer, compaction, query and
    # erasure, both APIs' access
    # no customer-managed key unless asked for (customer_managed_key): AWS managed keys cost nothing a month
    assert (found["kms_keys"], found["kms_keys_rotated"], found["dashboards"], found["log_groups"]) == (0, 0, 1, 10)
    assert found["log_retention_days"] == 30


def test_the_customer_managed_key_is_one_rotated_key_when_asked_for():
    found = inventory(values={"customer_managed_key": True})
    assert (found["kms_keys"], found["kms_keys_rotated"]) == (1, 1)
    assert found["alarm_metrics"] == 18


def test_expect_traffic_adds_the_no_events_alarm():
    found = inventory(values={"expect_traffic": True})
    assert found["alarms"]["module.alarms.aws_cloudwatch_metric_alarm.no_events"] == {"instances": 1,
                                                                                      "metrics_each": 1}
    assert (found["alarm_count"], found["alarm_metrics"]) == (18, 19)


def test_an_expression_the_counter_does_not_know_is_an_error_not_a_guess(tmp_path):
    (tmp_path / "main.tf").write_text(
        'variable "names" {\n  type    = list(string)\n  default = ["a", "b"]\n}\n\n'
        'resource "aws_cloudwatch_log_group" "x" {\n  count = length(var.names)\n  name  = "x"\n}\n')
    module = TerraformModule(tmp_path, {})
    with pytest.raises(TerraformError, match="length"):
        module.instances(module.resources["aws_cloudwatch_log_group"]["x"])
    assert module.size("${toset(var.names)}") == 2


# --- the minute jobs, idle ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idle_hour():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        yield measure_jobs(ONE_SITE)


def test_an_idle_expiry_run_is_one_query_per_shard_and_prints_no_metric(idle_hour):
    expiry = idle_hour["expire_sessions"]
    assert expiry["runs"] == 60
    assert expiry["requests_per_run"] == [8]  # the active-session index, 8 shards, nothing due
    assert expiry["requests_per_hour"] == {"Query": 480}
    assert expiry["write_requests_per_hour"] == 0
    assert expiry["read_units_per_hour"] == 480 * 0.5  # an index Query: eventually consistent, 0.5 at least
    assert expiry["moto_reported_read_units_per_hour"] == 480  # moto says 1.0 a query: why we compute our own
    assert expiry["metrics_per_run"] == [0]  # no backlog, no ExpiryBacklog: a zero would be billed by the hour
    assert expiry["metrics"] == []


def test_an_idle_lake_compaction_is_one_listing_per_site_an_hour_and_prints_no_metric(idle_hour):
    compaction = idle_hour["compact_lake"]
    assert compaction["runs"] == 1
    assert compaction["s3_requests_per_hour"] == 1  # the site's prefix: nothing to compact
    assert compaction["requests_per_hour"] == {}  # no lease taken: DynamoDB untouched
    assert compaction["metrics"] == []


def test_an_idle_rollup_run_reads_each_site_nine_times_thirteen_in_the_first_five_minutes(idle_hour):
    rollup = idle_hour["roll_up_stats"]
    # markers 1 + the current hour's minute buckets 4 shards + the last 5 minutes 4 shards, and the
    # previous hour's 4 shards again in minutes 0-4
    assert rollup["requests_per_run"] == [9, 13]
    assert rollup["requests_per_hour"] == {"Query": 55 * 9 + 5 * 13}
    assert rollup["write_requests_per_hour"] == 0
    assert rollup["read_units_per_hour"] == 560 * 0.5
    assert rollup["metrics"] == []  # no visitors, no ActiveVisitors


def _earlier_traffic(services, at_ms):
    """Visits three hours before the measured hour, their sessions ended and rolled up since."""
    from chalicelib.sessions.model import Session
    from chalicelib.stats.buckets import Rollup, write_rollup

    rules = services.session_rules
    records = [{"site": site, "visitor_id": f"v{i}", "time_ms": at_ms - i * 1000, "event_type": "page_view",
                "page_path": "/", "event_id": str(uuid.UUID(int=n * 100 + i)), "channel": "Direct"}
               for n, site in enumerate(services.settings.sites) for i in range(20)]
    rollup = Rollup(services.settings.stats_shards)
    rollup.add_events(records)
    write_rollup(services.stats, rollup, at_ms, services.settings.max_event_age_ms)
    for i, record in enumerate(records):
        session = Session.start(record["site"], record["visitor_id"], f"{i:010d}", record)
        session.schedule_expiry(rules)
        assert services.sessions.commit([(session.to_record(rules, 86_400), None)], [], f"seed-{i}").done
    assert len(services.expire_sessions(now_ms=at_ms + 45 * MIN).ended) == len(records)
    services.roll_up_stats(now_ms=at_ms + 46 * MIN)


def test_idle_cost_grows_with_sites_not_with_stored_data(aws_env):
    hour = measure_jobs(TWO_SITES, seed=_earlier_traffic)
    assert hour["expire_sessions"]["requests_per_hour"] == {"Query": 480}
    assert hour["roll_up_stats"]["requests_per_hour"] == {"Query": 2 * 560}
    assert hour["roll_up_stats"]["read_units_per_hour"] == 2 * 280
    assert hour["roll_up_stats"]["metrics"] == []  # the earlier visitors are gone: nothing to print
    assert hour["expire_sessions"]["write_requests_per_hour"] == hour["roll_up_stats"]["write_requests_per_hour"] == 0


# --- the bill ---------------------------------------------------------------------------------

def test_the_bill_is_the_sum_of_its_parts(idle_hour):
    found = inventory(values={})  # the defaults
    memory = idle_cost.job_memory_mb()
    assert memory == {"expire_sessions": 256, "roll_up_stats": 1024, "compact_lake": 2048}
    items = {i["item"]: i for i in bill(found, idle_hour, memory)}
    assert items["KMS key"]["usd"] == 0  # opt-in: customer_managed_key
    assert items["CloudWatch alarms"]["amount"] == 18
    assert items["CloudWatch alarms"]["usd"] == pytest.approx(18 * prices.CLOUDWATCH_USD_PER_ALARM_METRIC_MONTH)
    assert items["Custom metrics the idle jobs emit"]["amount"] == 0  # idle jobs print no zeros
    assert items["CloudWatch dashboard"]["usd"] == 0  # one dashboard: within the three free per account
    assert items["Lambda requests (scheduled jobs)"]["amount"] == 2 * 43_200 + 720  # compaction: hourly
    assert items["DynamoDB reads (scheduled jobs)"]["amount"] == (240 + 280) * 720
    assert items["S3 requests (hourly lake compaction)"]["amount"] == 720  # one LIST of the one site
    expiry_ms, rollup_ms = (idle_hour[job]["billed_ms_per_hour"] for job in ("expire_sessions", "roll_up_stats"))
    billed_ms = expiry_ms + rollup_ms
    gb_seconds = (expiry_ms * 0.25 + rollup_ms * 1 + idle_hour["compact_lake"]["billed_ms_per_hour"] * 2) / 1000 * 720
    assert items["Lambda duration (scheduled jobs)"]["amount"] == pytest.approx(gb_seconds)
    # at least the DynamoDB calls' latency: 8 and 9-13 calls of 5 ms a run
    assert billed_ms >= (480 + 560) * prices.DYNAMODB_MS_PER_CALL
    for item in items.values():
        assert item["usd"] == pytest.approx(max(0, item["amount"] - item["included"]) * item["unit_usd"])
    assert idle_cost.total(list(items.values())) == round(sum(i["usd"] for i in items.values()), 2)


def test_the_bill_of_given_parts_in_dollars():
    """Fixed parts, so the arithmetic is checked to the cent: 1 key, 15 alarm metrics, 2 custom
    metrics, 86,400 invocations of 50 ms at 256 MB, 374,400 read units, Lambda's own log lines only."""
    found = {"kms_keys": 1, "alarm_count": 10, "alarm_metrics": 15, "dashboards": 1, "log_groups": 4,
             "log_retention_days": 30}
    job = {"runs": 60, "billed_ms_per_hour": 60 * 50, "read_units_per_hour": 260.0, "log_bytes_per_hour": 0,
           "metrics": []}
    jobs = {"expire_sessions": {**job, "metrics": ["LiveInsight/ExpiryBacklog/Environment=Production"]},
            "roll_up_stats": {**job, "metrics": ["LiveInsight/ActiveVisitors/Environment=Production/Site=a"]}}
    items = bill(found, jobs, {"expire_sessions": 256, "roll_up_stats": 256})
    usd = {i["item"]: i["usd"] for i in items}
    assert usd["Lambda requests (scheduled jobs)"] == pytest.approx(0.01728)
    assert usd["Lambda duration (scheduled jobs)"] == pytest.approx(86_400 * 0.050 * 0.25 * 0.0000166667)
    assert usd["DynamoDB reads (scheduled jobs)"] == pytest.approx(374_400 * 0.125 / 1e6)  # $0.0468
    platform_bytes = idle_cost.lambda_platform_log_bytes(50, 256)
    assert 250 <= platform_bytes <= 300  # START, END and REPORT
    assert usd["CloudWatch Logs ingestion"] == pytest.approx(86_400 * platform_bytes / 1e9 * 0.50)
    usage = sum(v for k, v in usd.items() if k.startswith(("Lambda", "DynamoDB", "CloudWatch Logs")))
    assert usage == pytest.approx(0.0942, abs=5e-5)
    assert idle_cost.total(items) == round(1 + 1.5 + 0.6 + usage, 2) == 3.19
    # the always-free tier (10 alarm metrics, 10 custom metrics, Lambda, logs) leaves the key,
    # 5 alarm metrics and the reads
    assert idle_cost.total_within_free_tier(items) == round(1 + 0.5 + 374_400 * 0.125 / 1e6, 2)


def test_emf_metrics_are_counted_per_name_and_dimension_set():
    from chalicelib.core.metrics import Metrics

    lines = []
    metrics = Metrics("Production", write=lines.append)
    metrics.expiry(ended_sessions=[], backlog=0)
    metrics.active_visitors({"a": 0, "b": 3})
    metrics.active_visitors({"c": 2})
    metrics.expiry(ended_sessions=[], backlog=5)
    assert sorted(idle_cost.emf_metrics("\n".join(lines))) == [  # zeros are not printed
        ("LiveInsight", "ActiveVisitors", (("Environment", "Production"), ("Site", "b"))),
        ("LiveInsight", "ActiveVisitors", (("Environment", "Production"), ("Site", "c"))),
        ("LiveInsight", "ExpiryBacklog", (("Environment", "Production"),)),
    ]


def test_update_results_rewrites_only_the_idle_part(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"usd_per_million_page_views": 7.335, "details": {"quick": False}}))
    idle_cost.update_results({"usd_per_month": 3.2, "items": []}, path)
    results = json.loads(path.read_text())
    assert results == {"usd_per_million_page_views": 7.335, "idle_usd_per_month": 3.2,
                       "details": {"quick": False, "idle": {"usd_per_month": 3.2, "items": []}}}

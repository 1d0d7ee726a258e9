"""What a deployed `prod` stage costs a month when nobody visits, itemised.

    .venv/bin/python -m bench.idle_cost                    # print the bill
    .venv/bin/python -m bench.idle_cost --update-results   # ... and rewrite only its part of bench/results.json

Two halves. What exists whether or not anyone visits is counted in the Terraform itself (python-hcl2,
`count`/`for_each` evaluated with the prod stage's values): KMS keys, CloudWatch alarms and the metrics
each reads, dashboards, log groups. What runs whether or not anyone visits, the two minute jobs, is
measured: one hour of runs of each (60 + 60) through their real Lambda entry points (app.py) on an
empty prod stage in moto, counting every DynamoDB request (botocore hooks) and its read units as
DynamoDB bills them, the EMF metrics and log bytes each run prints, and our own time per run (the
emulator's time replaced by bench/prices.py's per-call latency, as bench/run.py does). A month is
30 days: 43,200 runs of each job. The Events stream's functions (the lake writer, the statistics
aggregator) cost nothing idle: Lambda invokes them only with records, though their alarms and log
groups are counted. Prices: bench/prices.py, list prices without the free tier.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
import time
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from bench import prices  # noqa: E402

TERRAFORM_DIR = PROJECT_DIR / "terraform"
STAGE_VARS = TERRAFORM_DIR / "environments" / "prod.tfvars"
RESULTS = PROJECT_DIR / "bench" / "results.json"
JOBS = ("expire_sessions", "roll_up_stats")  # app.py's scheduled functions, each every minute
HOURLY_JOBS = ("compact_lake",)  # ...and the lake's, every hour
RUNS_PER_MONTH = 30 * 24 * 60  # each minute job, a 30-day month
HOURS_PER_MONTH = 30 * 24
IDLE_LAKE_BUCKET = "liveinsight-idle-lake"
HOUR_MS = 3_600_000
# A fixed hour, so the measured runs are the same every time (the first five minutes of an hour
# differ from the rest: the rollup job also recomputes the previous hour then).
MEASURED_HOUR_MS = 1_793_444_400_000  # 2026-10-31T11:00:00Z
GB = 1e9


class TerraformError(ValueError):
    """An expression this counter does not understand: teach it, rather than guess a count."""


# --- counting resources in the Terraform -----------------------------------------------------------

def _split_args(text: str) -> list[str]:
    """A function call's arguments, split at top-level commas."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def _interpolation(expr: str) -> str | None:
    match = re.fullmatch(r"\$\{(.*)\}", expr.strip(), re.S)
    return match.group(1).strip() if match else None


class TerraformModule:
    """One module's resources, locals, variables and outputs, enough to count what `count` and
    `for_each` make: a few expression forms, evaluated where they are used; anything else is an error."""

    def __init__(self, directory: Path, inputs: dict, parent: TerraformModule | None = None) -> None:
        from deploy.hcl import load_hcl

        self.directory, self.inputs, self.parent = directory, inputs, parent
        files = [load_hcl(path, comments=False) for path in sorted(directory.glob("*.tf"))]

        def blocks(kind: str) -> dict:
            return {name: body for f in files for block in f.get(kind, []) for name, body in block.items()}

        self.locals = blocks("locals")
        self.variables = blocks("variable")
        self.outputs = blocks("output")
        self.modules = blocks("module")
        self.resources: dict[str, dict] = {}
        for f in files:
            for block in f.get("resource", []):
                for kind, named in block.items():
                    self.resources.setdefault(kind, {}).update(named)

    def child(self, name: str) -> TerraformModule:
        block = self.modules[name]
        return TerraformModule((self.directory / block["source"]).resolve(), block, self)

    def var(self, name: str):
        """A variable's value as written where it is set (an expression of the parent's scope)."""
        if name in self.inputs:
            return self.inputs[name]
        if "default" in self.variables.get(name, {}):
            return self.variables[name]["default"]
        raise TerraformError(f"{self.directory.name}: var.{name} has no value")

    def _var_scope(self, name: str) -> TerraformModule:
        # A module's input is written in its parent's scope; a root value or a default is a literal.
        return self.parent if self.parent is not None and name in self.inputs else self

    def value(self, expr):
        """A scalar: literals, var.X, A == B, COND ? A : B."""
        if not isinstance(expr, str):
            return expr
        inner = _interpolation(expr)
        return expr if inner is None else self._scalar(inner)

    def _scalar(self, inner: str):
        conditional = re.fullmatch(r"(.+?)\s*\?\s*(.+?)\s*:\s*(.+)", inner, re.S)
        if conditional:
            condition, yes, no = conditional.groups()
            return self._scalar(yes) if self._scalar(condition) else self._scalar(no)
        equal = re.fullmatch(r"(.+?)\s*==\s*(.+)", inner)
        if equal:
            return self._scalar(equal.group(1)) == self._scalar(equal.group(2))
        variable = re.fullmatch(r"var\.(\w+)", inner)
        if variable:
            return self._var_scope(variable.group(1)).value(self.var(variable.group(1)))
        try:
            return json.loads(inner)  # true, false, numbers, "strings"
        except ValueError:
            raise TerraformError(f"{self.directory.name}: cannot evaluate {inner!r}") from None

    def size(self, expr) -> int:
        """How many elements a collection has: literals, var., local., module outputs, resources,
        toset/values/keys, setproduct, `for` expressions without a filter, jsondecode(file(...))."""
        if isinstance(expr, (dict, list)):
            return len(expr)
        inner = _interpolation(expr) if isinstance(expr, str) else None
        if inner is None:
            raise TerraformError(f"{self.directory.name}: {expr!r} is not a collection")
        return self._size(inner)

    def _size(self, inner: str) -> int:
        if re.match(r"[\[{]\s*for\s", inner) and re.search(r"\sif\s", inner):
            raise TerraformError(f"{self.directory.name}: a filtered for expression: {inner!r}")
        for pattern, count in _SIZE_FORMS:
            match = re.fullmatch(pattern, inner, re.S)
            if match:
                return count(self, *match.groups())
        raise TerraformError(f"{self.directory.name}: cannot count {inner!r}")

    def _output_size(self, module_name: str, output: str) -> int:
        child = self.child(module_name)
        return child.size(child.outputs[output]["value"])

    def instances(self, block: dict) -> int:
        if "count" in block:
            return int(self.value(block["count"]))
        if "for_each" in block:
            return self.size(block["for_each"])
        return 1


# The collection expressions TerraformModule.size understands, tried in this order.
_SIZE_FORMS = (
    (r"(?:toset|tolist|values|keys)\((.*)\)", lambda m, arg: m._size(arg)),
    (r"[\[{]\s*for\s+[\w\s,]+\s+in\s+(.+?)\s*:\s.*[\]}]", lambda m, source: m._size(source)),
    (r"setproduct\((.*)\)", lambda m, args: math.prod(m._size(arg) for arg in _split_args(args))),
    (r"(\[.*\])", lambda m, literal: len(json.loads(literal))),
    (r"var\.(\w+)", lambda m, name: m._var_scope(name).size(m.var(name))),
    (r"local\.(\w+)", lambda m, name: m.size(m.locals[name])),
    (r"module\.(\w+)\.(\w+)", lambda m, name, output: m._output_size(name, output)),
    (r"(aws_\w+)\.(\w+)", lambda m, kind, name: m.instances(m.resources[kind][name])),
    (r'jsondecode\(file\("\$\{path\.module\}/([^"]+)"\)\)',
     lambda m, file: len(json.loads((m.directory / file).read_text()))),
)


def _alarm_metrics(module: TerraformModule, alarm: dict) -> int:
    """Metrics one alarm reads: 1 for a plain alarm, one per `metric` query of a metric math alarm
    (an expression is not billed; each metric it reads is)."""
    queries = alarm.get("metric_query", [])
    dynamic = [(body["for_each"], body.get("content", [{}])[0]) for d in alarm.get("dynamic", [])
               for name, body in d.items() if name == "metric_query"]
    periods = [q["metric"][0].get("period", 60) for q in queries if "metric" in q]
    periods += [content["metric"][0].get("period", 60) for _, content in dynamic if "metric" in content]
    periods.append(alarm.get("period", 60))
    if min(module.value(p) for p in periods) < 60:
        raise TerraformError("a high-resolution alarm: add its price to bench/prices.py first")
    if "metric_name" in alarm:
        return 1
    count = sum(1 for q in queries if "metric" in q)
    count += sum(module.size(for_each) for for_each, content in dynamic if "metric" in content)
    if not count:
        raise TerraformError(f"alarm {alarm.get('alarm_name')!r} reads no metric this counter knows")
    return count


def _walk(module: TerraformModule, address: str = ""):
    """(address, module, instances of the module) for the root and every module below it."""
    yield address, module, 1
    for name, block in module.modules.items():
        count = module.instances(block)
        for child_address, child, instances in _walk(module.child(name), f"{address}module.{name}."):
            yield child_address, child, instances * count


def stage_values(tfvars: Path = STAGE_VARS) -> dict:
    """The prod stage's variable values (what `make deploy` passes), HCL string escapes undone."""
    from deploy.hcl import load_hcl

    values = load_hcl(tfvars, comments=False) if tfvars.exists() else {}
    return {name: json.loads(f'"{value}"') if isinstance(value, str) else value for name, value in values.items()}


def inventory(terraform_dir: Path = TERRAFORM_DIR, values: dict | None = None) -> dict:
    """KMS keys, alarms (and their metrics), dashboards and log groups a deploy creates."""
    root = TerraformModule(terraform_dir, stage_values() if values is None else values)
    found = {"kms_keys": 0, "kms_keys_rotated": 0, "alarms": {}, "dashboards": 0, "log_groups": 0}
    for address, module, module_instances in _walk(root):
        for block in module.resources.get("aws_kms_key", {}).values():
            n = module_instances * module.instances(block)
            found["kms_keys"] += n
            found["kms_keys_rotated"] += n if module.value(block.get("enable_key_rotation", False)) else 0
        for name, block in module.resources.get("aws_cloudwatch_metric_alarm", {}).items():
            n = module_instances * module.instances(block)
            if n:
                found["alarms"][f"{address}aws_cloudwatch_metric_alarm.{name}"] = {
                    "instances": n, "metrics_each": _alarm_metrics(module, block)}
        for kind, key in (("aws_cloudwatch_dashboard", "dashboards"), ("aws_cloudwatch_log_group", "log_groups")):
            found[key] += sum(module_instances * module.instances(b) for b in module.resources.get(kind, {}).values())
        if module.resources.get("aws_cloudwatch_composite_alarm"):
            raise TerraformError("a composite alarm: add its price to bench/prices.py first")
    found["alarm_count"] = sum(a["instances"] for a in found["alarms"].values())
    found["alarm_metrics"] = sum(a["instances"] * a["metrics_each"] for a in found["alarms"].values())
    found["log_retention_days"] = int(root.value(root.var("log_retention_days")))
    return found


# --- measuring the minute jobs -----------------------------------------------------------------

class DynamoDBMeter:
    """Every DynamoDB request of a client: its operation, the read units DynamoDB bills for it
    (items' real size in 4 KB steps, at least one step, half when eventually consistent; a global
    secondary index is always eventually consistent) and the units moto reports, for comparison."""

    READS = ("Query", "Scan", "GetItem", "BatchGetItem")

    def __init__(self, client) -> None:
        self.calls: Counter[str] = Counter()
        self.read_units = 0.0
        self.moto_read_units = 0.0
        self._consistent = False
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, model, params, **_):
        self.calls[model.name] += 1
        self._consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        if model.name in self.READS:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def _after(self, model, parsed, **_):
        from bench.capacity import item_size

        if model.name not in self.READS:
            return
        per_unit = 1.0 if self._consistent else 0.5
        if model.name == "BatchGetItem":
            items = [i for found in parsed.get("Responses", {}).values() for i in found]
            self.read_units += sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) * per_unit or per_unit
        else:
            items = parsed.get("Items", [parsed["Item"]] if "Item" in parsed else [])
            self.read_units += max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * per_unit
        consumed = parsed.get("ConsumedCapacity", [])
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.moto_read_units += entry.get("CapacityUnits", 0.0)


def emf_metrics(log_text: str) -> set[tuple]:
    """(namespace, metric, ((dimension, value), ...)) of every EMF line: each one a billed custom metric."""
    found = set()
    for line in log_text.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimensions in directive["Dimensions"]:
                key = tuple((name, str(document[name])) for name in dimensions)
                found.update((directive["Namespace"], m["Name"], key) for m in directive["Metrics"])
    return found


def lambda_platform_log_bytes(billed_ms: int, memory_mb: int, used_mb: int = 90) -> int:
    """Lambda's own START, END and REPORT lines of one invocation (text log format, no X-Ray)."""
    request_id = "8f6c2a3e-1b2c-4d5e-9f60-123456789abc"
    lines = [f"START RequestId: {request_id} Version: $LATEST",
             f"END RequestId: {request_id}",
             f"REPORT RequestId: {request_id}\tDuration: {billed_ms - 0.5:.2f} ms\tBilled Duration: {billed_ms} ms\t"
             f"Memory Size: {memory_mb} MB\tMax Memory Used: {used_mb} MB\t"]
    return sum(len(line.encode()) + 1 for line in lines)


def scheduled_event(now_ms: int, job: str) -> dict:
    """What EventBridge hands a scheduled Lambda."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000))
    return {"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": when, "region": "us-east-1", "detail": {},
            "resources": [f"arn:aws:events:us-east-1:123456789012:rule/LiveInsight-{job}-Schedule"]}


def prod_settings(sites_json: str):
    from chalicelib.core.settings import load_settings
    from tests.conftest import stage_environment

    return load_settings({**stage_environment("prod"), "LIVEINSIGHT_SITES": sites_json,
                          "LIVEINSIGHT_DEFAULT_SITE": next(iter(json.loads(sites_json))),
                          "LIVEINSIGHT_API_TOKEN": "idle-bench-token-idle-bench-token"})


def job_memory_mb() -> dict[str, int]:
    stage = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())["stages"]["prod"]
    return {job: stage.get("lambda_functions", {}).get(job, {}).get("lambda_memory_size",
                                                                    stage["lambda_memory_size"])
            for job in JOBS + HOURLY_JOBS}


@contextmanager
def _clock(services_module, now: list[int]):
    """The jobs read the time through chalicelib.services._now_ms: run them at the measured hour."""
    real = services_module._now_ms
    services_module._now_ms = lambda: now[0]
    try:
        yield
    finally:
        services_module._now_ms = real


def _aws_env() -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)


def measure_jobs(sites_json: str, seed=None) -> dict:
    """One hour of idle runs of each scheduled job (60 of each minute job, 1 compaction) on an empty
    prod stage, on moto in this process. `seed(services, at_ms)` may store earlier traffic first (it
    ran three hours before)."""
    import boto3
    from moto import mock_aws

    import app as app_module
    from bench.run import Timer
    from chalicelib import services as services_module
    from chalicelib.schema.tables import create_tables

    _aws_env()
    settings = replace(prod_settings(sites_json), lake_bucket=IDLE_LAKE_BUCKET)
    now = [MEASURED_HOUR_MS - 3 * HOUR_MS]
    with mock_aws(), _clock(services_module, now):
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, settings.stage)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=IDLE_LAKE_BUCKET)
        services = services_module.Services(settings, dynamodb_client=client, s3_client=s3)
        services_module.set_services(services)
        try:
            if seed:
                seed(services, now[0])
            now[0] = MEASURED_HOUR_MS - HOUR_MS // 2
            with redirect_stdout(io.StringIO()):  # warm-up: imports and stores, once per container
                for job in JOBS + HOURLY_JOBS:
                    getattr(app_module, job)(scheduled_event(now[0], job), None)
            meter, timer, s3_meter = DynamoDBMeter(client), Timer(client), S3Meter(s3)
            runs = {job: [] for job in JOBS + HOURLY_JOBS}
            for minute in range(60):
                now[0] = MEASURED_HOUR_MS + minute * 60_000 + 17_000  # a schedule fires at any second
                for job in JOBS + (HOURLY_JOBS if minute == 0 else ()):
                    runs[job].append(_run_once(app_module, job, now[0], meter, timer, s3_meter))
        finally:
            services_module.set_services(None)
    return {job: _summary(job_runs) for job, job_runs in runs.items()}


class S3Meter:
    """S3 requests of a client, by operation (the lake's jobs)."""

    def __init__(self, client) -> None:
        self.calls: Counter = Counter()
        client.meta.events.register("before-call.s3", lambda model, **_: self.calls.update([model.name]))


def _run_once(app_module, job: str, now_ms: int, meter: DynamoDBMeter, timer, s3_meter: S3Meter) -> dict:
    calls_before, units_before, moto_before = sum(meter.calls.values()), meter.read_units, meter.moto_read_units
    s3_before = sum(s3_meter.calls.values())
    by_operation_before = Counter(meter.calls)
    inside_before = timer.inside_seconds
    log = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(log):
        getattr(app_module, job)(scheduled_event(now_ms, job), None)
    wall = time.perf_counter() - started
    calls = sum(meter.calls.values()) - calls_before
    return {"calls": calls, "s3_calls": sum(s3_meter.calls.values()) - s3_before,
            "by_operation": meter.calls - by_operation_before,
            "read_units": meter.read_units - units_before, "moto_read_units": meter.moto_read_units - moto_before,
            "own_ms": (wall - (timer.inside_seconds - inside_before)) * 1000,
            "log_bytes": len(log.getvalue().encode()), "metrics": emf_metrics(log.getvalue())}


def _summary(runs: list[dict]) -> dict:
    by_operation = sum((r["by_operation"] for r in runs), Counter())
    own_ms = sorted(r["own_ms"] for r in runs)
    return {
        "runs": len(runs),
        "requests_per_hour": dict(sorted(by_operation.items())),
        "requests_per_run": sorted({r["calls"] for r in runs}),  # the distinct counts seen
        "read_units_per_hour": sum(r["read_units"] for r in runs),
        "s3_requests_per_hour": sum(r["s3_calls"] for r in runs),
        "moto_reported_read_units_per_hour": sum(r["moto_read_units"] for r in runs),
        "write_requests_per_hour": sum(n for op, n in by_operation.items()
                                       if op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")),
        "own_ms_median": round(own_ms[len(own_ms) // 2], 3),
        # billed per invocation, in whole milliseconds: our time plus the DynamoDB and S3 calls' latency
        "billed_ms_per_hour": sum(max(1, math.ceil(r["own_ms"] + r["calls"] * prices.DYNAMODB_MS_PER_CALL
                                                   + r["s3_calls"] * prices.S3_MS_PER_CALL)) for r in runs),
        "log_bytes_per_hour": sum(r["log_bytes"] for r in runs),
        "metrics_per_run": sorted({len(r["metrics"]) for r in runs}),  # the distinct counts seen
        "metrics": sorted(["/".join([ns, name, *(f"{k}={v}" for k, v in dims)])
                           for ns, name, dims in set().union(*(r["metrics"] for r in runs))]),
    }


# --- the monthly bill ------------------------------------------------------------------------

def bill(found: dict, jobs: dict, memory_mb: dict[str, int]) -> list[dict]:
    """The idle month's items: each a quantity (`amount`, of which `included` is free in every
    account), its unit price, and the free-tier allowance it draws on (bench/prices.py FREE_TIER)."""
    invocations = sum(j["runs"] for j in jobs.values()) * HOURS_PER_MONTH
    gb_seconds = sum(jobs[j]["billed_ms_per_hour"] / 1000 * memory_mb[j] / 1024 for j in jobs) * HOURS_PER_MONTH
    read_units = sum(j["read_units_per_hour"] for j in jobs.values()) * HOURS_PER_MONTH
    platform = sum(lambda_platform_log_bytes(math.ceil(jobs[j]["billed_ms_per_hour"] / jobs[j]["runs"]),
                                             memory_mb[j]) * jobs[j]["runs"] for j in jobs) * HOURS_PER_MONTH
    s3_requests = sum(j.get("s3_requests_per_hour", 0) for j in jobs.values()) * HOURS_PER_MONTH
    log_gb = (sum(j["log_bytes_per_hour"] for j in jobs.values()) * HOURS_PER_MONTH + platform) / GB
    # Stored log data at the stage's retention: a steady state of `retention` days of the same runs.
    stored_gb = log_gb * found["log_retention_days"] / 30
    metrics = sorted(set().union(*(j["metrics"] for j in jobs.values())))
    free_dashboards = prices.CLOUDWATCH_FREE_DASHBOARDS
    within = found["dashboards"] <= free_dashboards
    rows = [
        ("KMS key", f"{found['kms_keys']} key", found["kms_keys"], 0, prices.KMS_USD_PER_KEY_MONTH, None),
        ("CloudWatch alarms", f"{found['alarm_count']} alarms reading {found['alarm_metrics']} metrics",
         found["alarm_metrics"], 0, prices.CLOUDWATCH_USD_PER_ALARM_METRIC_MONTH, "alarm_metrics"),
        ("Custom metrics the idle jobs emit", f"{len(metrics)}: {', '.join(m.split('/')[1] for m in metrics)}",
         len(metrics), 0, prices.CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH, "custom_metrics"),
        ("CloudWatch dashboard", f"{found['dashboards']} ({'within' if within else 'beyond'} the {free_dashboards}"
         " free per account)", found["dashboards"], free_dashboards,
         prices.CLOUDWATCH_USD_PER_DASHBOARD_MONTH, None),
        ("Lambda requests (scheduled jobs)", f"{invocations:,} invocations", invocations, 0,
         prices.LAMBDA_USD_PER_MILLION_REQUESTS / 1e6, "lambda_requests"),
        ("Lambda duration (scheduled jobs)", f"{gb_seconds:,.0f} GB-s", gb_seconds, 0,
         prices.LAMBDA_USD_PER_GB_SECOND, "lambda_gb_seconds"),
        ("DynamoDB reads (scheduled jobs)", f"{read_units:,.0f} read units", read_units, 0,
         prices.DYNAMODB_USD_PER_MILLION_READ_UNITS / 1e6, None),
        ("S3 requests (hourly lake compaction)", f"{s3_requests:,} LIST requests", s3_requests, 0,
         prices.S3_USD_PER_THOUSAND_PUTS / 1000, None),
        ("CloudWatch Logs ingestion", f"{log_gb * 1000:,.1f} MB into {found['log_groups']} log groups", log_gb, 0,
         prices.CLOUDWATCH_LOGS_USD_PER_GB_INGESTED, "log_gb"),
        ("CloudWatch Logs storage", f"{stored_gb * 1000:,.1f} MB kept {found['log_retention_days']} days", stored_gb,
         0, prices.CLOUDWATCH_LOGS_USD_PER_GB_MONTH_STORED, "log_gb"),
    ]
    return [{"item": item, "quantity": text, "amount": amount, "included": included, "unit_usd": unit,
             "free_tier": free, "usd": max(0, amount - included) * unit}
            for item, text, amount, included, unit, free in rows]


def total(items: list[dict]) -> float:
    """The month at list price: the sum of the items."""
    return round(sum(i["usd"] for i in items), 2)


def total_within_free_tier(items: list[dict]) -> float:
    """The month if nothing else in the account used AWS's always-free allowances."""
    left = dict(prices.FREE_TIER)
    usd = 0.0
    for i in items:
        billable = max(0, i["amount"] - i["included"])
        covered = min(billable, left.get(i["free_tier"], 0))
        if i["free_tier"]:
            left[i["free_tier"]] -= covered
        usd += (billable - covered) * i["unit_usd"]
    return round(usd, 2)


def measure() -> dict:
    """Everything, for bench/run.py and bench/results.json."""
    values = stage_values()
    sites_json = values.get("sites_json", '{"default": {"origins": []}}')
    found = inventory(values=values)
    alarm_if_traffic_expected = inventory(values={**values, "expect_traffic": True})["alarm_metrics"] \
        - found["alarm_metrics"]
    memory = job_memory_mb()
    jobs = measure_jobs(sites_json)
    items = bill(found, jobs, memory)
    # One more site: the rollup job reads and reports each site on its own.
    sites = json.loads(sites_json)
    more = bill(found, measure_jobs(json.dumps({**sites, "another-site": {"origins": []}})), memory)
    list_price = sum(i["usd"] for i in items)
    # The opt-in customer-managed key (customer_managed_key = true): its monthly fee, and from its third
    # year its two billed rotations too.
    keyed = inventory(values={**values, "customer_managed_key": True})
    key_usd = (keyed["kms_keys"] - found["kms_keys"]) * prices.KMS_USD_PER_KEY_MONTH
    rotations = prices.KMS_BILLED_ROTATIONS * keyed["kms_keys_rotated"] * prices.KMS_USD_PER_ROTATION_MONTH
    return {
        "usd_per_month": total(items),
        "usd_per_month_within_free_tier": total_within_free_tier(items),
        "items": [{**i, "amount": round(i["amount"], 6), "usd": round(i["usd"], 4)} for i in items],
        "sites": len(sites),
        "usd_per_month_per_further_site": round(sum(i["usd"] for i in more) - list_price, 3),
        "usd_per_month_with_customer_managed_key": round(list_price + key_usd, 2),
        "usd_per_month_with_customer_managed_key_from_third_year": round(list_price + key_usd + rotations, 2),
        "usd_per_month_with_expect_traffic": round(list_price + alarm_if_traffic_expected
                                                   * prices.CLOUDWATCH_USD_PER_ALARM_METRIC_MONTH, 2),
        "terraform": found,
        "jobs": jobs,
        "job_memory_mb": memory,
        "runs_per_month_each": RUNS_PER_MONTH,
        "prices_as_of": prices.PRICES_AS_OF,
    }


def table(idle: dict) -> str:
    width = max(len(i["item"]) for i in idle["items"])
    rows = [f"{i['item']:<{width}}  {i['usd']:>8.4f}  {i['quantity']}" for i in idle["items"]]
    return "\n".join([
        *rows, f"{'total, USD a month':<{width}}  {idle['usd_per_month']:>8.2f}",
        f"(within an otherwise unused free tier: ${idle['usd_per_month_within_free_tier']:.2f}; each further site "
        f"+${idle['usd_per_month_per_further_site']:.2f}; with customer_managed_key "
        f"${idle['usd_per_month_with_customer_managed_key']:.2f}, from the key's third year "
        f"${idle['usd_per_month_with_customer_managed_key_from_third_year']:.2f}; with expect_traffic "
        f"${idle['usd_per_month_with_expect_traffic']:.2f})"])


def update_results(idle: dict, path: Path = RESULTS) -> None:
    """Only the idle figures of bench/results.json: the rest stays as the last `make bench` wrote it."""
    results = json.loads(path.read_text()) if path.exists() else {}
    details = {**results.pop("details", {}), "idle": idle}
    results = {**results, "idle_usd_per_month": idle["usd_per_month"], "details": details}  # details last
    path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update-results", action="store_true", help="write the idle part of bench/results.json")
    args = parser.parse_args(argv)
    idle = measure()
    print(table(idle))
    if args.update_results:
        update_results(idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make ops-check STAGE=prod`: the operations guide's daily check in one command.

Prints, for the last 24 hours: every LiveInsight alarm and its state, the event collector's
invocations, errors and error rate, its p50/p99 duration, Lambda throttles, and DynamoDB throttled
requests per table. Exits 1 when an alarm is in ALARM. Read-only (CloudWatch only).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from chalicelib.schema.tables import TABLES, name_prefix, resource_name
from deploy.package import FUNCTION_NAMES

DAY_SECONDS = 86_400


def _statistic(cloudwatch, namespace: str, metric: str, dimensions: dict[str, str], start: datetime,
               end: datetime, statistic: str = "Sum") -> float | None:
    kwargs = {"ExtendedStatistics": [statistic]} if statistic.startswith("p") else {"Statistics": [statistic]}
    response = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=metric, StartTime=start, EndTime=end, Period=DAY_SECONDS,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()], **kwargs)
    values = [point.get("ExtendedStatistics", {}).get(statistic) if statistic.startswith("p") else point.get(statistic)
              for point in response.get("Datapoints", [])]
    values = [v for v in values if v is not None]
    if not values:
        return None
    return max(values) if statistic.startswith("p") else sum(values)


def belongs_to(name: str, prefix: str) -> bool:
    # prod's prefix "LiveInsight-" also starts every other stage's names ("LiveInsight-dev-...").
    # Stage names are lower case (terraform/variables.tf) and our resource names start upper case.
    return name.startswith(prefix) and name[len(prefix):][:1].isupper()


def alarm_states(cloudwatch, prefix: str) -> list[tuple[str, str]]:
    states = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix):
        states.extend((a["AlarmName"], a["StateValue"]) for a in page["MetricAlarms"]
                      if belongs_to(a["AlarmName"], prefix))
    return sorted(states)


def ops_check(stage: str, cloudwatch, now: datetime | None = None) -> dict:
    end = now or datetime.now(timezone.utc)
    start = end - timedelta(seconds=DAY_SECONDS)
    api = resource_name(stage, FUNCTION_NAMES["api"])
    fn = {"FunctionName": api}
    invocations = _statistic(cloudwatch, "AWS/Lambda", "Invocations", fn, start, end) or 0
    errors = _statistic(cloudwatch, "AWS/Lambda", "Errors", fn, start, end) or 0
    return {
        "stage": stage,
        "alarms": alarm_states(cloudwatch, name_prefix(stage)),
        "function": api,
        "invocations": int(invocations),
        "errors": int(errors),
        "error_rate_percent": round(100 * errors / invocations, 3) if invocations else None,
        "duration_p50_ms": _statistic(cloudwatch, "AWS/Lambda", "Duration", fn, start, end, "p50"),
        "duration_p99_ms": _statistic(cloudwatch, "AWS/Lambda", "Duration", fn, start, end, "p99"),
        "lambda_throttles": int(_statistic(cloudwatch, "AWS/Lambda", "Throttles", fn, start, end) or 0),
        "dynamodb_throttles": {
            spec.name(stage): int(sum(_statistic(cloudwatch, "AWS/DynamoDB", metric, {"TableName": spec.name(stage)},
                                                 start, end) or 0
                                      for metric in ("ReadThrottleEvents", "WriteThrottleEvents")))
            for spec in TABLES
        },
    }


def report(figures: dict, say: Callable[[str], None] = print) -> int:
    def ms(value):
        return "n/a" if value is None else f"{value:.0f} ms"

    say(f"LiveInsight ops check, stage {figures['stage']}, last 24 hours")
    say("Alarms:")
    for name, state in figures["alarms"] or [("(none found: is the stage deployed here?)", "")]:
        say(f"  {state:<17} {name}")
    rate = figures["error_rate_percent"]
    say(f"{figures['function']}: {figures['invocations']} invocations, {figures['errors']} errors "
        f"({'n/a' if rate is None else f'{rate}%'}), duration p50 {ms(figures['duration_p50_ms'])}, "
        f"p99 {ms(figures['duration_p99_ms'])}, {figures['lambda_throttles']} throttles")
    for table, throttled in figures["dynamodb_throttles"].items():
        say(f"  DynamoDB {table}: {throttled} throttled requests")
    in_alarm = [name for name, state in figures["alarms"] if state == "ALARM"]
    say(f"{len(in_alarm)} alarm(s) in ALARM{': ' + ', '.join(in_alarm) if in_alarm else ''}")
    return 1 if in_alarm else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make ops-check", description=__doc__)
    parser.add_argument("--stage", default="prod")
    args = parser.parse_args(argv)
    import boto3

    return report(ops_check(args.stage, boto3.client("cloudwatch")))


if __name__ == "__main__":
    sys.exit(main())

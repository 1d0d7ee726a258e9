"""CloudWatch Embedded Metric Format ("Specification: Embedded metric format", CloudWatch user guide)."""

from __future__ import annotations

import json

CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
EMF_MAX_DIMENSIONS = 30
EMF_MAX_METRICS = 100
EMF_MAX_VALUES = 100
EMF_MAX_BYTES = 256 * 1024  # a CloudWatch Logs event (1 MB in newer accounts; the smaller holds everywhere)


def _directive_problems(directive, root: dict, where: str) -> list[str]:
    if not isinstance(directive, dict) or set(directive) != {"Namespace", "Dimensions", "Metrics"}:
        return [f"{where}: a MetricDirective has exactly Namespace, Dimensions and Metrics"]
    problems = []
    if not isinstance(directive["Namespace"], str) or not 1 <= len(directive["Namespace"]) <= 255:
        problems.append(f"{where}: Namespace must be a string of 1-255 characters")
    for dimension_set in directive["Dimensions"]:
        problems += _dimension_set_problems(dimension_set, root, where)
    if not isinstance(directive["Metrics"], list) or len(directive["Metrics"]) > EMF_MAX_METRICS:
        return problems + [f"{where}: Metrics is an array of at most {EMF_MAX_METRICS} definitions"]
    for metric in directive["Metrics"]:
        problems += _metric_definition_problems(metric, root, where)
    return problems


def _dimension_set_problems(dimension_set, root: dict, where: str) -> list[str]:
    if not isinstance(dimension_set, list) or len(dimension_set) > EMF_MAX_DIMENSIONS:
        return [f"{where}: a DimensionSet is an array of at most {EMF_MAX_DIMENSIONS} keys"]
    return [f"{where}: dimension {key!r} has no non-empty string value at the root" for key in dimension_set
            if not isinstance(root.get(key), str) or not root[key]]


def _metric_definition_problems(metric, root: dict, where: str) -> list[str]:
    name = metric.get("Name") if isinstance(metric, dict) else None
    if not isinstance(name, str) or not 1 <= len(name) <= 1024 or set(metric) - {"Name", "Unit", "StorageResolution"}:
        return [f"{where}: bad MetricDefinition {metric!r}"]
    problems = []
    if metric.get("Unit", "None") not in CLOUDWATCH_UNITS:
        problems.append(f"{where}: {name}: unknown unit {metric['Unit']!r}")
    if metric.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"{where}: {name}: StorageResolution is 1 or 60")
    values = root.get(name) if isinstance(root.get(name), list) else [root.get(name)]
    if not values or len(values) > EMF_MAX_VALUES or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        problems.append(f"{where}: {name} needs a number or an array of at most {EMF_MAX_VALUES} numbers")
    return problems


def emf_problems(line: str) -> list[str]:
    if len(line.encode()) > EMF_MAX_BYTES:
        return [f"{len(line.encode())} bytes: a log event takes at most {EMF_MAX_BYTES}"]
    root = json.loads(line)
    metadata = root.get("_aws") if isinstance(root, dict) else None
    if not isinstance(metadata, dict):
        return ["an EMF document has an _aws object at its root"]
    problems = []
    if not isinstance(metadata.get("Timestamp"), int) or metadata["Timestamp"] < 0:
        problems.append("_aws.Timestamp must be epoch milliseconds")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return problems + ["_aws.CloudWatchMetrics must be a non-empty array"]
    for index, directive in enumerate(directives):
        problems += _directive_problems(directive, root, f"CloudWatchMetrics[{index}]")
    return problems


def emitted_metrics(line: str) -> set[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every metric an EMF line creates."""
    directives = json.loads(line)["_aws"]["CloudWatchMetrics"]
    return {(d["Namespace"], m["Name"], frozenset(dims)) for d in directives for dims in d["Dimensions"]
            for m in d["Metrics"]}

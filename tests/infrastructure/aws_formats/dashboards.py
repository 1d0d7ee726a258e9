"""CloudWatch dashboard bodies ("Dashboard body structure and syntax", CloudWatch API reference) and
alarm metric math ("Using math expressions with CloudWatch metrics"; "Limits" of metric math alarms)."""

from __future__ import annotations

import json
import re

WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer", "custom"}
GRID_WIDTH = 24
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
METRIC_OPTIONS = {"accountId", "color", "id", "label", "period", "region", "stat", "visible", "yAxis"}
EXPRESSION_KEYS = {"expression", "id", "label", "color", "period", "region", "visible", "yAxis", "accountId"}
STAT = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM|(p|tm|wm|tc|ts|TM|WM|TC|TS)\d{1,2}(\.\d+)?"
                  r"|(TM|WM|TC|TS|PR)\(.+\))$")
METRIC_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
PERIODS_BELOW_A_MINUTE = {1, 5, 10, 20, 30}


def _period_problems(period, where: str) -> list[str]:
    if not isinstance(period, int) or not (period in PERIODS_BELOW_A_MINUTE or period % 60 == 0):
        return [f"{where}: period {period!r} must be 1, 5, 10, 20, 30 or a multiple of 60 seconds"]
    return []


def _metric_array_problems(entry, where: str) -> list[str]:
    if not isinstance(entry, list) or not entry:
        return [f"{where}: every entry of metrics must be a non-empty array, not {entry!r}"]
    if isinstance(entry[0], dict):  # [{"expression": ..., "id": ...}]
        options = entry[0]
        problems = [] if len(entry) == 1 else [f"{where}: an expression entry holds one object"]
        if "expression" not in options:
            problems.append(f"{where}: an object-only entry must have an expression")
        problems += [f"{where}: unknown expression property {key!r}" for key in set(options) - EXPRESSION_KEYS]
        if "id" in options and not METRIC_ID.match(str(options["id"])):
            problems.append(f"{where}: id {options['id']!r} must start with a lower-case letter")
        return problems
    *names, last = entry
    options = last if isinstance(last, dict) else {}
    if not isinstance(last, dict):
        names.append(last)
    problems = [f"{where}: {name!r} must be a string" for name in names if not isinstance(name, str)]
    if problems:
        return problems
    if names[0] not in (".", "..."):
        if len(names) < 2 or len(names) % 2:
            problems.append(f"{where}: expected [namespace, metric name, dimension name, value, ...], got {names}")
    problems += [f"{where}: unknown rendering property {key!r}" for key in set(options) - METRIC_OPTIONS]
    if "stat" in options and not STAT.match(str(options["stat"])):
        problems.append(f"{where}: unknown statistic {options['stat']!r}")
    return problems


def _metric_widget_problems(properties: dict, where: str) -> list[str]:
    problems = []
    if not isinstance(properties.get("region"), str):
        problems.append(f"{where}: a metric widget needs a region")
    metrics = properties.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return problems + [f"{where}: a metric widget needs a non-empty metrics array"]
    for index, entry in enumerate(metrics):
        problems += _metric_array_problems(entry, f"{where} metrics[{index}]")
    if properties.get("view", "timeSeries") not in VIEWS:
        problems.append(f"{where}: unknown view {properties['view']!r}")
    if "stat" in properties and not STAT.match(str(properties["stat"])):
        problems.append(f"{where}: unknown statistic {properties['stat']!r}")
    if "period" in properties:
        problems += _period_problems(properties["period"], where)
    return problems


def _layout_problems(widget: dict, where: str) -> list[str]:
    problems = []
    for key, low, high in (("x", 0, GRID_WIDTH - 1), ("y", 0, None), ("width", 1, GRID_WIDTH), ("height", 1, 1000)):
        value = widget.get(key)
        if value is not None and (not isinstance(value, int) or value < low or (high and value > high)):
            problems.append(f"{where}: {key} {value!r} is out of range")
    if isinstance(widget.get("x"), int) and widget.get("x", 0) + widget.get("width", 6) > GRID_WIDTH:
        problems.append(f"{where}: x + width is beyond the {GRID_WIDTH}-column grid")
    return problems


def dashboard_body_problems(body_json: str) -> list[str]:
    body = json.loads(body_json)
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return ["the body must be an object with a widgets array"]
    problems = [f"unknown top-level member {key!r}" for key in set(body) - {"widgets", "start", "end",
                                                                           "periodOverride", "variables"}]
    for index, widget in enumerate(body["widgets"]):
        where = f"widgets[{index}] ({(widget.get('properties') or {}).get('title', '?')})"
        if widget.get("type") not in WIDGET_TYPES:
            problems.append(f"{where}: type {widget.get('type')!r} is not one of {sorted(WIDGET_TYPES)}")
        if not isinstance(widget.get("properties"), dict):
            problems.append(f"{where}: properties must be an object")
            continue
        problems += _layout_problems(widget, where)
        if widget["type"] == "metric":
            problems += _metric_widget_problems(widget["properties"], where)
        elif widget["type"] == "text" and not isinstance(widget["properties"].get("markdown"), str):
            problems.append(f"{where}: a text widget needs markdown")
    return problems


def metric_math_problems(expression: str, metric_ids: list[str], expression_id: str) -> list[str]:
    """An alarm's metric math: ids CloudWatch accepts, unique, and the expression reads exactly the
    queried metrics (a metric nobody reads, or a reference to none, is rejected by PutMetricAlarm)."""
    problems = [f"metric id {i!r} must start with a lower-case letter" for i in [*metric_ids, expression_id]
                if not METRIC_ID.match(i)]
    if len(set(metric_ids)) != len(metric_ids) or expression_id in metric_ids:
        problems.append(f"metric ids must be unique: {metric_ids + [expression_id]}")
    referenced = set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", expression)) - {"SUM", "sum"}
    if referenced != set(metric_ids):
        problems.append(f"the expression {expression!r} reads {sorted(referenced)}, "
                        f"the queries are {sorted(metric_ids)}")
    if len(metric_ids) > 10:  # a hard limit of metric math alarms ("Limits", CloudWatch alarms)
        problems.append(f"{len(metric_ids)} metrics: a metric math alarm reads at most 10")
    return problems

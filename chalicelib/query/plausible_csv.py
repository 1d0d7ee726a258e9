"""A Stats API v2 answer as CSV (`Accept: text/csv`): a header row of the dimension names then the
metric names, one row per result; with include.comparisons, `comparison:<dimension>` for each time
dimension, `comparison:<metric>` and `change:<metric>` appended. Text cells that a spreadsheet would
run as a formula get a leading ' (export.formula_safe); an empty value is an empty cell. A funnel
(POST /api/v2/funnel) is one row per step with its number and Plausible's step fields."""

from __future__ import annotations

import csv
import io

from chalicelib.query.export import formula_safe

CONTENT_TYPE = "text/csv; charset=utf-8"


def wants_csv(accept: str | None) -> bool:
    return any(part.split(";")[0].strip().lower() == "text/csv" for part in (accept or "").split(","))


def _cell(value) -> str:
    if value is None:
        return ""
    return formula_safe(value) if isinstance(value, str) else str(value)


def as_csv(answer: dict) -> str:
    query = answer["query"]
    dimensions, metrics = query["dimensions"], query["metrics"]
    compared = "comparisons" in query.get("include", {})
    times = [i for i, d in enumerate(dimensions) if d.startswith("time:")]
    header = [*dimensions, *metrics]
    if compared:
        header += [f"comparison:{dimensions[i]}" for i in times]
        header += [f"comparison:{m}" for m in metrics] + [f"change:{m}" for m in metrics]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in answer["results"]:
        cells = [*row["dimensions"], *row["metrics"]]
        if compared:
            comparison = row["comparison"]
            cells += [comparison["dimensions"][i] for i in times] + comparison["metrics"] + comparison["change"]
        writer.writerow([_cell(c) for c in cells])
    return out.getvalue()


FUNNEL_COLUMNS = ("label", "visitors", "conversion_rate", "conversion_rate_step", "dropoff", "dropoff_percentage")


def funnel_as_csv(answer: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("step", *FUNNEL_COLUMNS))
    for number, step in enumerate(answer["results"]["steps"], start=1):
        writer.writerow([number, *(_cell(step[c]) for c in FUNNEL_COLUMNS)])
    return out.getvalue()

"""Plausible's `include.comparisons` (Stats API v2): the comparison period of a resolved range, the change
of each metric, and the main answer's rows joined with the comparison's. Pure: dates and answers in,
dates and answers out.

The reference is Plausible's own code (plausible/analytics lib/plausible/stats/comparisons.ex,
compare.ex and query_runner.ex; the public docs do not describe comparisons):
- previous_period: the range, cut at today, shifted back by its own length in days;
- year_over_year: the first day one calendar year back (29 Feb -> 28 Feb), as many days long;
- custom: the given range as is (match_day_of_week has no effect);
- match_day_of_week: the comparison's first day moved to the next day with the main range's first
  weekday, or to the previous one if the next is the main range's first day itself;
- change: bounce_rate and conversion_rate in points (bounce_rate none when the old value is 0),
  every other metric a whole percentage rounded half away from zero (0 -> n is 100, 0 -> 0 is 0);
  revenue metrics by their values (compare.ex percent_change of %{value: ...}), none when either is
  null; a group missing from the comparison has 0 for every metric but revenue (null).
Rows present only in the comparison are not added; a single time dimension gets a row for every
time label, so every bucket has its comparison (query_runner.ex).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

MODES = ("previous_period", "year_over_year", "custom")
OPTIONS = ("mode", "date_range", "match_day_of_week")
POINT_CHANGES = ("conversion_rate",)  # Plausible's compare.ex: Float.round(new - old, 1)
FLOAT_METRICS = ("views_per_visit", "percentage", "conversion_rate", "group_conversion_rate")
NULL_WHEN_EMPTY = ("total_revenue", "average_revenue")  # query_runner.ex empty_metric_value


def period(mode: str, first: date, last: date, today: date, match_day_of_week: bool = False) -> tuple[date, date]:
    """The comparison's first and last day for the main range's first and last day (previous_period
    and year_over_year; custom ranges are taken as given)."""
    last = min(last, today)  # Query.date_range(trim_trailing: true)
    if mode == "previous_period":
        shift = (first - last).days - 1
        start, end = first + timedelta(days=shift), last + timedelta(days=shift)
    elif mode == "year_over_year":
        start = _year_back(first)
        end = start + (last - first)
    else:
        raise ValueError(f"no computed period for mode {mode!r}")
    if match_day_of_week:
        moved = _nearest_weekday(first.isoweekday(), start, reject=first)
        end += moved - start
        start = moved
    return start, end


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February: Elixir's Date.shift(year: -1) lands on the 28th
        return day.replace(year=day.year - 1, day=28)


def _nearest_weekday(weekday: int, day: date, reject: date) -> date:
    """comparisons.ex shift_to_nearest: the next day with that ISO weekday, unless it is `reject`,
    then the previous one (its sort puts the next occurrence first)."""
    if day.isoweekday() == weekday:
        return day
    ahead = weekday - day.isoweekday()
    following = day + timedelta(days=ahead if ahead > 0 else ahead + 7)
    behind = day.isoweekday() - weekday
    preceding = day - timedelta(days=behind if behind > 0 else behind + 7)
    return preceding if following == reject else following


def elixir_round(value: float) -> int:
    """Elixir's round/1: to the nearest whole number, halves away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def change(metric: str, old, new):
    """The comparison's `change` of one metric, as Plausible's compare.ex computes it."""
    if isinstance(old, dict):  # a revenue metric: {"value", "currency", ...}
        old = old.get("value")
    if isinstance(new, dict):
        new = new.get("value")
    if old is None or new is None:
        return None
    if metric == "bounce_rate":
        return round(new - old, 1) if old > 0 else None
    if metric in POINT_CHANGES:
        return round(new - old, 1)
    if old == 0:
        return 100 if new > 0 else 0
    return elixir_round((new - old) / old * 100)


def empty_metrics(metrics) -> list:
    return [None if m in NULL_WHEN_EMPTY else 0.0 if m in FLOAT_METRICS else 0 for m in metrics]


def merge(results: list[dict], compared: list[dict], metrics, dimensions, labels=None, compared_labels=None,
          descending: bool | None = None) -> list[dict]:
    """The main rows, each with `comparison: {dimensions, metrics, change}`. With a single time
    dimension, `labels` (the main range's time labels) add the empty buckets, sorted by time when
    `descending` says the order starts with time; `compared_labels` map each bucket to its comparison."""
    rows = [dict(r) for r in results]
    times = [i for i, d in enumerate(dimensions) if d.startswith("time:")]
    if labels is not None and len(dimensions) == 1 and times:
        present = {r["dimensions"][0] for r in rows}
        rows += [{"dimensions": [label], "metrics": empty_metrics(metrics)} for label in labels
                 if label not in present]
        if descending is not None:
            rows.sort(key=lambda r: r["dimensions"][0], reverse=descending)
    lookup = dict(zip(labels or (), compared_labels or (), strict=False))
    by_dimensions = {tuple(r["dimensions"]): r["metrics"] for r in compared}
    for row in rows:
        wanted = [lookup.get(v) if i in times else v for i, v in enumerate(row["dimensions"])]
        old = by_dimensions.get(tuple(wanted)) or empty_metrics(metrics)
        row["comparison"] = {"dimensions": wanted, "metrics": list(old),
                             "change": [change(m, o, n) for m, o, n in zip(metrics, old, row["metrics"], strict=True)]}
    return rows

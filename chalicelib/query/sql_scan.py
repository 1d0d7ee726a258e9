"""The lake scan of a query (the `ev` CTE): one site's partitions over the window padded for visits
crossing the range, only the columns the query needs, copies of an event dropped, and for Athena
only the planned live objects (`$path`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlglot import exp

from chalicelib.query.description import EVENT_DIMENSIONS, PROPS_PREFIX, VISIT_DIMENSIONS, Query
from chalicelib.query.sql_dimensions import visit_column
from chalicelib.query.sql_engagement import wants_engagement
from chalicelib.query.sql_filters import filter_dimensions
from chalicelib.query.sql_goals import REVENUE_COLUMNS, wants_revenue
from chalicelib.query.sql_terms import col, string, timestamp
from chalicelib.sessions.model import MAX_SESSION_MS

DEFAULT_TABLE = "events"  # the Glue table (terraform) and the DuckDB view over the local cache
PATH_COLUMN = "$path"  # Athena's pseudo-column: the object a row was read from
_BASE_COLUMNS = ("event_id", "received_time", "event_type", "time", "session_id", "visitor_id", "page_path",
                 "engaged_ms", "properties")


@dataclass(frozen=True)
class Scan:
    """Which rows of the table the query reads: one site's partitions and, for Athena (which reads
    every object of a partition it finds), only the live objects of the plan, named by `$path`."""

    site: str
    first_date: str
    last_date: str
    live_paths: dict[str, tuple[str, ...]] | None = None  # date -> the paths to read, for such dates
    # Dates whose live objects may hold copies of an event (more than one object); None: any date.
    # One object never does (compaction keeps one row per event_id), so only these pay for it.
    dedupe_dates: tuple[str, ...] | None = None
    parts_dates: tuple[str, ...] = ()  # dates read as their visit parts (sql_visit_parts.py; DuckDB only)


def padded_dates(query: Query) -> tuple[str, str]:
    """The partitions a query reads: its dates and the day either side (visits crossing the range)."""
    first = query.first_date - timedelta(days=1)
    last = query.last_date + timedelta(days=1)
    return first.isoformat(), last.isoformat()


def needed_columns(query: Query) -> tuple[list[str], list[str]]:
    """(event columns to read, first-event visit facts to carry), in a stable order."""
    used = list(query.dimensions) + filter_dimensions(query.filter)
    columns = list(_BASE_COLUMNS)
    facts: list[str] = []
    for dimension in used:
        if dimension in EVENT_DIMENSIONS:
            column = EVENT_DIMENSIONS[dimension]
        elif dimension.startswith(PROPS_PREFIX):
            column = "properties"
        elif dimension in VISIT_DIMENSIONS:
            column = visit_column(dimension)
            if column not in facts:
                facts.append(column)
            if column in ("entry_page", "exit_page"):  # derived from page_path
                continue
        else:
            continue
        if column not in columns:
            columns.append(column)
    if wants_revenue(query):
        columns.extend(REVENUE_COLUMNS)
    if wants_engagement(query):
        columns.append("scroll_pct")
    return columns, facts


def _scan_condition(scan: Scan, pad_start_ms: int, pad_end_ms: int) -> exp.Expression:
    condition = exp.and_(
        exp.EQ(this=col("site"), expression=string(scan.site)),
        exp.Between(this=col("date"), low=string(scan.first_date), high=string(scan.last_date)),
        exp.GTE(this=col("time"), expression=timestamp(pad_start_ms)),
        exp.LT(this=col("time"), expression=timestamp(pad_end_ms)),
    )
    if scan.live_paths:
        dates = sorted(scan.live_paths)
        paths = [p for d in dates for p in scan.live_paths[d]]
        # The planned partitions: only their planned live objects (a partition empty then is read as it is).
        restriction = exp.or_(
            exp.not_(exp.In(this=col("date"), expressions=[string(d) for d in dates])),
            exp.In(this=col(PATH_COLUMN), expressions=[string(p) for p in paths]))
        condition = exp.and_(condition, exp.paren(restriction, copy=False))
    return condition


def events_cte(query: Query, scan: Scan, table: str, columns: list[str]) -> exp.Expression:
    """The scanned events of the padded window, one row per event_id. Copies (a safety net: the
    writer avoids them) can only be in dates of several objects: only those are de-duplicated."""
    pad_start_ms, pad_end_ms = query.start_ms - MAX_SESSION_MS, query.end_ms + MAX_SESSION_MS

    def scan_of(extra: exp.Expression | None) -> exp.Select:
        condition = _scan_condition(scan, pad_start_ms, pad_end_ms)
        return (exp.select(*[col(c) for c in columns]).from_(exp.to_table(table, quoted=True))
                .where(exp.and_(condition, extra) if extra is not None else condition, copy=False))

    if scan.dedupe_dates is not None and not scan.dedupe_dates:
        return scan_of(None)
    copies_possible = (exp.In(this=col("date"), expressions=[string(d) for d in scan.dedupe_dates])
                       if scan.dedupe_dates is not None else None)
    copy_number = exp.Window(this=exp.RowNumber(), partition_by=[col("event_id")],
                             order=exp.Order(expressions=[exp.Ordered(this=col("received_time")),
                                                          exp.Ordered(this=col("session_id"))]))
    numbered = scan_of(copies_possible).select(exp.alias_(copy_number, "copy_number"), copy=False)
    deduped = exp.select(*[col(c) for c in columns]).from_(numbered.subquery("numbered")).where(
        exp.EQ(this=col("copy_number"), expression=exp.Literal.number(1)), copy=False)
    if copies_possible is None:
        return deduped
    return exp.union(scan_of(exp.not_(copies_possible.copy())), deduped, distinct=False)

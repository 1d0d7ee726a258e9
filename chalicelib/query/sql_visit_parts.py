"""Visit parts: one row per visit and compacted day (what Plausible keeps in its sessions table, per day),
written beside each compacted object (lake/rewrite.py) and read by queries whose figures are all visit
totals (the dashboard's tiles, and its chart of visitors by day): a month's ~150,000 parts instead of its
~1,000,000 events.

A part holds what sessions/model.py derives from the day's events of one visit (first and last event time,
page views, events, whether any engaged); the visits of a query are its parts grouped by session_id again,
beside the parts the query works out from the events of days that have none (today, a day partly in the
range). A day's parts stand for its events only when the day lies wholly inside the range or wholly in
the padding outside it (sql_scan.py): then each part is in the range or not as a whole. The answers are the
same either way: golden-tested against the events' path in DuckDB and the Trino twin.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlglot import exp

from chalicelib.lake.layout import PartitionFiles
from chalicelib.query.description import Query
from chalicelib.query.sql_counts import EVENT_COUNTS, PARTS, parts_needed
from chalicelib.query.sql_dimensions import dimension_key
from chalicelib.query.sql_terms import col, count_if, is_page_view, string, timestamp
from chalicelib.query.sql_visits import engaging, in_range
from chalicelib.query.timezones import UTC
from chalicelib.schema.lake import PARTITION_DATE_FORMAT
from chalicelib.sessions.model import ENGAGEMENT_EVENT, MAX_SESSION_MS

TABLE = "visit_parts"  # the DuckDB view over the parts objects a query reads
COLUMNS = ("session_id", "visitor_id", "first_time", "last_time", "pageviews", "events", "engaged")
DAY_MS = 86_400_000
DAY_BUCKETS = ("time:day", "time:week", "time:month")
VISIT_TOTALS = frozenset({"visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate",
                          "visit_duration"})


def _one() -> exp.Literal:
    return exp.Literal.number(1)


def _zero() -> exp.Literal:
    return exp.Literal.number(0)


def parts_of(source: str) -> exp.Select:
    """The parts of the events of `source` (one compacted day): written by the lake's rewrite."""
    not_engagement = exp.NEQ(this=col("event_type"), expression=string(ENGAGEMENT_EVENT))

    def integer(value: exp.Expression, name: str) -> exp.Expression:  # a sum is HUGEINT in DuckDB
        return exp.alias_(exp.cast(value, exp.DataType.build("BIGINT")), name)

    return (exp.select(col("session_id"), exp.alias_(exp.Min(this=col("visitor_id")), "visitor_id"),
                       exp.alias_(exp.Min(this=col("time")), "first_time"),
                       exp.alias_(exp.Max(this=col("time")), "last_time"),
                       integer(count_if(is_page_view()), "pageviews"), integer(count_if(not_engagement), "events"),
                       integer(exp.Max(this=exp.If(this=engaging(), true=_one(), false=_zero())), "engaged"))
            .from_(source).group_by(col("session_id")).order_by(col("session_id")))


def answers(query: Query) -> bool:
    """Whether parts can answer the query: visit totals only (goal, revenue and engagement metrics need
    events) and no filter; no dimension, or (counts only) a UTC site's day, week or month (a part's UTC
    day lies in one such bucket; a zone's day would cut it)."""
    if query.filter is not None or not all(m in VISIT_TOTALS for m in query.metrics):
        return False
    if not query.dimensions:
        return not parts_needed(query) <= EVENT_COUNTS  # counts alone need no visits: the events are cheap
    return (len(query.dimensions) == 1 and query.dimensions[0] in DAY_BUCKETS and query.timezone == UTC
            and parts_needed(query) <= EVENT_COUNTS)


def counted_from_parts(query: Query) -> exp.Expression:
    """The `counted` CTE of sql_counts.py for a day-bucket dimension: a row per stored part in the range
    (its page views and events) and a row per event of the other days (1 or 0 of each), with key k0.
    Visitors and visits are then distinct visitor and session ids per bucket, as over events alone."""
    key = exp.alias_(dimension_key(query.dimensions[0], query), "k0")
    parts = exp.select(exp.alias_(col("first_time"), "time"), col("session_id"), col("visitor_id"),
                       col("pageviews"), col("events")).from_(TABLE)
    stored = (exp.select(key, col("session_id"), col("visitor_id"), col("pageviews"), col("events"))
              .from_(parts.subquery("parts")).where(in_range(query)))
    made = (exp.select(key.copy(), col("session_id"), col("visitor_id"),
                       exp.alias_(exp.If(this=is_page_view(), true=_one(), false=_zero()), "pageviews"),
                       exp.alias_(exp.If(this=exp.NEQ(this=col("event_type"), expression=string(ENGAGEMENT_EVENT)),
                                         true=_one(), false=_zero()), "events"))
            .from_("ev").where(in_range(query)))
    return exp.union(stored, made, distinct=False)


def counts_from_parts(query: Query) -> list[exp.Expression]:
    """sql_counts.PARTS over counted_from_parts rows: the counts the query needs, 0 for the rest."""
    needed, zero = parts_needed(query), _zero()
    made = {"visitors": lambda: exp.Count(this=exp.Distinct(expressions=[col("visitor_id")])),
            "visits": lambda: exp.Count(this=exp.Distinct(expressions=[col("session_id")])),
            "pageviews": lambda: exp.Coalesce(this=exp.Sum(this=col("pageviews")), expressions=[zero.copy()]),
            "events": lambda: exp.Coalesce(this=exp.Sum(this=col("events")), expressions=[zero.copy()])}
    return [exp.alias_(made[p]() if p in needed else zero.copy(), p) for p in PARTS]


def stands_for_events(query: Query, files: PartitionFiles) -> bool:
    """Whether the partition's parts can stand for its events in this query: they were written, and its day
    lies wholly in the range or wholly in the padding (not across a boundary)."""
    if files.visit_parts is None:
        return False
    start = int(datetime.strptime(files.partition.date, PARTITION_DATE_FORMAT).replace(tzinfo=timezone.utc)
                .timestamp() * 1000)
    end = start + DAY_MS
    inside = query.start_ms <= start and end <= query.end_ms
    before = query.start_ms - MAX_SESSION_MS <= start and end <= query.start_ms
    after = query.end_ms <= start and end <= query.end_ms + MAX_SESSION_MS
    return inside or before or after


def visits_from_parts(query: Query) -> exp.Select:
    """The `visits` CTE (sql_visits.visits_cte's columns without facts) from the stored parts and the
    parts made from `ev`, the events of the days without. A stored part's day lies wholly in the range or
    wholly outside (stands_for_events), so its first event's time says which."""
    inside = exp.and_(exp.GTE(this=col("first_time"), expression=timestamp(query.start_ms)),
                      exp.LT(this=col("first_time"), expression=timestamp(query.end_ms)))

    def when_inside(value: exp.Expression) -> exp.Expression:
        return exp.If(this=inside.copy(), true=value, false=_zero())

    stored = exp.select(col("session_id"), col("visitor_id"), col("first_time"), col("last_time"),
                        exp.alias_(col("pageviews"), "all_pageviews"),
                        exp.alias_(when_inside(col("pageviews")), "pageviews"),
                        exp.alias_(when_inside(col("events")), "events"),
                        exp.alias_(when_inside(_one()), "in_range"), col("engaged")).from_(TABLE)
    ranged = in_range(query)
    made = (exp.select(col("session_id"), exp.alias_(exp.Min(this=col("visitor_id")), "visitor_id"),
                       exp.alias_(exp.Min(this=col("time")), "first_time"),
                       exp.alias_(exp.Max(this=col("time")), "last_time"),
                       exp.alias_(count_if(is_page_view()), "all_pageviews"),
                       exp.alias_(count_if(exp.and_(ranged, is_page_view())), "pageviews"),
                       exp.alias_(count_if(exp.and_(ranged.copy(), exp.NEQ(
                           this=col("event_type"), expression=string(ENGAGEMENT_EVENT)))), "events"),
                       exp.alias_(exp.Max(this=exp.If(this=ranged.copy(), true=_one(), false=_zero())), "in_range"),
                       exp.alias_(exp.Max(this=exp.If(this=engaging(), true=_one(), false=_zero())), "engaged"))
            .from_("ev").group_by(col("session_id")))
    union = exp.union(stored, made, distinct=False)
    visit_pageviews = exp.Sum(this=col("all_pageviews"))
    bounce = exp.If(this=exp.and_(exp.EQ(this=visit_pageviews.copy(), expression=_one()),
                                  exp.EQ(this=exp.Max(this=col("engaged")), expression=_zero())),
                    true=_one(), false=_zero())
    return (exp.select(col("session_id"), exp.alias_(exp.Min(this=col("visitor_id")), "visitor_id"),
                       exp.alias_(visit_pageviews, "visit_pageviews"),
                       exp.alias_(exp.DateDiff(this=exp.Max(this=col("last_time")),
                                               expression=exp.Min(this=col("first_time")),
                                               unit=exp.var("MILLISECOND")), "duration_ms"),
                       exp.alias_(bounce, "bounce"),
                       exp.alias_(exp.Sum(this=col("pageviews")), "pageviews"),
                       exp.alias_(exp.Sum(this=col("events")), "events"),
                       exp.alias_(exp.Max(this=col("in_range")), "in_range"))
            .from_(union.subquery("parts")).group_by(col("session_id")))

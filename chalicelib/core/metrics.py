"""CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout: no PutMetricData, no API call,
no latency on the request path. CloudWatch Logs turns each line into metrics in namespace LiveInsight.

Every metric name lives here, so alarms, the dashboard and the code share one spelling.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from enum import Enum

NAMESPACE = "LiveInsight"
ENVIRONMENT_DIMENSION = "Environment"

EVENTS_PROCESSED = "EventsProcessed"    # events stored
PROCESSING_TIME = "ProcessingTime"      # milliseconds for the request
PROCESSING_ERRORS = "ProcessingErrors"  # events or requests that failed on our side
EVENTS_REJECTED = "EventsRejected"      # with a Reason dimension
SESSIONS_STARTED = "SessionsStarted"
SESSIONS_ENDED = "SessionsEnded"
SESSION_DURATION = "SessionDuration"    # seconds, one value per ended session
BOUNCED_SESSIONS = "BouncedSessions"
DYNAMODB_THROTTLES = "DynamoDBThrottles"  # DynamoDB calls refused for capacity (alarm LiveInsight-DynamoDB-Throttles)
EXPIRY_BACKLOG = "ExpiryBacklog"        # due sessions a run of the expiry job left for the next
PAGE_VIEWS = "PageViews"                # per site
ACTIVE_VISITORS = "ActiveVisitors"      # per site: distinct visitors of the last 5 minutes
# The event lake (docs/lake.md)
LAKE_EVENTS_WRITTEN = "LakeEventsWritten"        # rows the stream writer put into Parquet objects
LAKE_DEAD_LETTERS = "LakeDeadLetters"            # stream records that could not be made rows (alarm)
LAKE_WRITE_DELAY = "LakeWriteDelay"              # seconds from an event's receipt to its Parquet object
LAKE_OBJECTS_COMPACTED = "LakeObjectsCompacted"  # objects a compaction run replaced
LAKE_QUERY_BYTES = "LakeQueryBytes"              # Parquet bytes a query read, with an Engine dimension
REASON_DIMENSION = "Reason"  # of EventsRejected: one of RejectReason
BOT_CATEGORY_DIMENSION = "BotCategory"  # of EventsRejected Reason=Bot: one of enrich.bots.CATEGORIES
SITE_DIMENSION = "Site"  # never per URL or per visitor: every dimension value is a billed metric

COUNT = "Count"
MILLISECONDS = "Milliseconds"
SECONDS = "Seconds"
EMF_MAX_VALUES = 100  # values per metric in one EMF line


class RejectReason(str, Enum):
    """The fixed set of Reason values: each value is one billed custom metric, so it stays small."""

    INVALID = "Invalid"
    BOT = "Bot"
    DUPLICATE = "Duplicate"
    FORBIDDEN_ORIGIN = "ForbiddenOrigin"
    MALFORMED = "Malformed"
    TOO_LARGE = "TooLarge"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    UNSTORED = "Unstored"
    RATE_LIMITED = "RateLimited"  # over the site's limit of events per minute (429; alarm LiveInsight-RateLimited)


def emf_line(environment: str, values: dict[str, tuple[float | list[float], str]], *,
             extra_dimensions: dict[str, str] | None = None, properties: dict | None = None,
             timestamp_ms: int | None = None, site_counts: tuple[str, dict[str, int]] | None = None,
             also_by_site: str | None = None, also_by: dict[str, str] | None = None) -> str:
    """One EMF line. `site_counts` (site, {metric: count}) adds per-site counts to the same line as a
    second directive with the Site dimension, saving a line (log bytes are billed). `also_by_site`
    reports the same values a second time, under the line's dimensions plus Site; `also_by` the same
    under any further dimensions."""
    dimensions = {ENVIRONMENT_DIMENSION: environment, **(extra_dimensions or {})}
    also = {SITE_DIMENSION: also_by_site} if also_by_site else (also_by or {})
    dimension_sets = [list(dimensions)] + ([[*dimensions, *also]] if also else [])
    dimensions.update(also)
    directives = [{
        "Namespace": NAMESPACE,
        "Dimensions": dimension_sets,
        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
    }]
    per_site = {}
    if site_counts:
        site, counts = site_counts
        directives.append({"Namespace": NAMESPACE, "Dimensions": [[ENVIRONMENT_DIMENSION, SITE_DIMENSION]],
                           "Metrics": [{"Name": name, "Unit": COUNT} for name in counts]})
        per_site = {SITE_DIMENSION: site, **counts}
    document = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": directives,
        },
        **{k: v for k, v in (properties or {}).items() if v is not None},
        **dimensions,
        **{name: value for name, (value, _) in values.items()},
        **per_site,
    }
    return json.dumps(document, separators=(",", ":"))


class Metrics:
    """Collects one request's figures and writes them as EMF lines when the request ends."""

    def __init__(self, environment: str, write: Callable[[str], object] | None = None) -> None:
        self.environment = environment
        self._write = write or (lambda line: (sys.stdout.write(line + "\n"), sys.stdout.flush()))

    def request(self, *, events_processed: int, processing_ms: float, processing_errors: int,
                rejected: dict[RejectReason, int], sessions_started: int = 0,
                ended_sessions: list[tuple[int, bool]] | None = None, properties: dict | None = None,
                pageviews_by_site: dict[str, int] | None = None,
                rate_limited_by_site: dict[str, int] | None = None, bot_category: str | None = None) -> None:
        """ended_sessions: (duration in milliseconds, bounced) of each session this request ended.
        rate_limited_by_site: the events of `rejected[RATE_LIMITED]` by site, to find the flooding site.
        bot_category: what kind of bot sent `rejected[BOT]` (one User-Agent a request: one kind)."""
        sites = {site: n for site, n in (pageviews_by_site or {}).items() if n}
        # The usual request has one site: its PageViews ride on the request's line.
        one_site = next(iter(sites.items())) if len(sites) == 1 else None
        self._write(emf_line(self.environment, {
            EVENTS_PROCESSED: (events_processed, COUNT),
            PROCESSING_TIME: (round(processing_ms, 3), MILLISECONDS),
            PROCESSING_ERRORS: (processing_errors, COUNT),
            **({SESSIONS_STARTED: (sessions_started, COUNT)} if sessions_started else {}),
        }, properties=properties, site_counts=(one_site[0], {PAGE_VIEWS: one_site[1]}) if one_site else None))
        if not one_site:
            self.per_site(PAGE_VIEWS, sites)
        self._ended_sessions(ended_sessions or [])
        limited = {site: n for site, n in (rate_limited_by_site or {}).items() if n}
        for reason, count in rejected.items():
            if count:
                # The usual refused request has one site: its per-site count rides on the same line.
                one = next(iter(limited)) if reason is RejectReason.RATE_LIMITED and len(limited) == 1 else None
                bot = reason is RejectReason.BOT and bot_category
                by_kind = {BOT_CATEGORY_DIMENSION: bot_category} if bot else None
                self._write(emf_line(self.environment, {EVENTS_REJECTED: (count, COUNT)},
                                     extra_dimensions={REASON_DIMENSION: reason.value}, also_by_site=one,
                                     also_by=by_kind))
        if len(limited) > 1:
            for site, count in limited.items():
                self._write(emf_line(self.environment, {EVENTS_REJECTED: (count, COUNT)}, extra_dimensions={
                    REASON_DIMENSION: RejectReason.RATE_LIMITED.value, SITE_DIMENSION: site}))

    def job(self, values: dict[str, tuple[float | list[float], str]],
            dimensions: dict[str, str] | None = None) -> None:
        """One line of a job's figures (the lake writer, compaction, a query): {name: (value, unit)}."""
        self._write(emf_line(self.environment, values, extra_dimensions=dimensions))

    def dynamodb_throttled(self, operation: str) -> None:
        """One line at each throttled DynamoDB call, where it happens (a function that then times out
        has still reported it). Nothing is printed while nothing is throttled: an idle stage pays for
        this alarm's one metric, not the 8 per-table metrics AWS/DynamoDB would need (docs/performance.md)."""
        self._write(emf_line(self.environment, {DYNAMODB_THROTTLES: (1, COUNT)}, properties={"operation": operation}))

    def per_site(self, name: str, values: dict[str, int]) -> None:
        for site, value in values.items():
            self._write(emf_line(self.environment, {name: (value, COUNT)}, extra_dimensions={SITE_DIMENSION: site}))

    # The minute jobs print these two only when they are not 0: a custom metric is billed for every hour
    # it is published, so zeros cost an idle stage $0.30 a month each (and each site's ActiveVisitors
    # $0.30 more). The dashboard draws a missing minute as 0 (FILL); a job that stopped has its own alarm.
    def active_visitors(self, by_site: dict[str, int]) -> None:
        self.per_site(ACTIVE_VISITORS, {site: n for site, n in by_site.items() if n})

    def expiry(self, *, ended_sessions: list[tuple[int, bool]], backlog: int) -> None:
        if backlog:
            self._write(emf_line(self.environment, {EXPIRY_BACKLOG: (backlog, COUNT)}))
        self._ended_sessions(ended_sessions)

    def _ended_sessions(self, ended: list[tuple[int, bool]]) -> None:
        for start in range(0, len(ended), EMF_MAX_VALUES):
            chunk = ended[start:start + EMF_MAX_VALUES]
            self._write(emf_line(self.environment, {
                SESSIONS_ENDED: (len(chunk), COUNT),
                BOUNCED_SESSIONS: (sum(bounced for _, bounced in chunk), COUNT),
                SESSION_DURATION: ([round(ms / 1000, 3) for ms, _ in chunk], SECONDS),
            }))

"""The process-wide collaborators, built once on first use (after the stage's environment is set)
and reset by tests. This is the only place that wires settings, clients and the domain together.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property

from chalicelib.core.deadline import within
from chalicelib.core.errors import StoreUnavailable
from chalicelib.core.log import log
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings, load_settings
from chalicelib.enrich.geo import country_lookup
from chalicelib.ingest.collector import Collector
from chalicelib.ingest.ratelimit import RateLimiter
from chalicelib.sessions.expiry import ExpiryReport, expire_idle_sessions
from chalicelib.sessions.model import Session, SessionRules
from chalicelib.sessions.sessionizer import Sessionizer
from chalicelib.stats.buckets import Rollup, write_rollup
from chalicelib.stats.reader import StatsReader
from chalicelib.stats.rollup import RollupReport, roll_up


@dataclass
class Services:
    settings: Settings
    dynamodb_client: object | None = None  # None: create the real client on first use
    backoff: object | None = None  # store.Backoff; None: the default retry policy
    s3_client: object | None = None  # the lake's; None: create the real client on first use
    lambda_client: object | None = None  # to invoke erase_visitor; None: create the real client on first use

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.settings.metrics_environment)

    @cached_property
    def session_rules(self) -> SessionRules:
        return SessionRules(timeout_ms=self.settings.session_timeout_seconds * 1000,
                            shards=self.settings.active_session_shards)

    @cached_property
    def _retries(self):
        """Every store's retry policy (the one given, or the default), telling Metrics of each throttle."""
        from dataclasses import replace

        from chalicelib.store.base import Backoff  # loads botocore: keep it off the import path

        return replace(self.backoff or Backoff(), on_throttle=self.metrics.dynamodb_throttled)

    @cached_property
    def _client(self):
        from chalicelib.store import create_dynamodb_client  # loads botocore: keep it off the import path

        return self.dynamodb_client or create_dynamodb_client()

    @cached_property
    def events(self):
        from chalicelib.store import EventStore

        return EventStore(self._client, self.settings.events_table, self._retries)

    @cached_property
    def sessions(self):
        from chalicelib.store import SessionStore

        return SessionStore(self._client, self.settings.sessions_table, self._retries,
                            events_table=self.settings.events_table)

    @cached_property
    def stats(self):
        from chalicelib.store import StatsStore

        return StatsStore(self._client, self.settings.stats_table, self._retries)

    @cached_property
    def access_store(self):
        """API keys and shared links (chalicelib/access/, docs/access.md)."""
        from chalicelib.schema.tables import ACCESS
        from chalicelib.store.access import AccessStore

        return AccessStore(self._client, ACCESS.name(self.settings.stage), self._retries)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """The per-site limit of events per minute; its counters live in the statistics table."""
        from chalicelib.store import LimitStore

        return RateLimiter(LimitStore(self._client, self.settings.stats_table, self._retries),
                           self.settings.events_per_minute)

    @cached_property
    def stats_reader(self) -> StatsReader:
        return StatsReader(self.stats, self.settings)

    @cached_property
    def collector(self) -> Collector:
        from chalicelib.store import SaltStore

        return Collector(
            settings=self.settings,
            events=self.events,
            salts=SaltStore(self._client, self.settings.events_table, self._retries),
            sessions=Sessionizer(self.sessions, self.session_rules, self.settings.event_retention_seconds,
                                 pause=_jitter_pause),
            stats=self.stats,
            metrics=self.metrics,
            limiter=self.rate_limiter,
            country_of=country_lookup(self.settings.country_database),
        )

    def expire_sessions(self, now_ms: int | None = None, time_left_seconds: float | None = None) -> ExpiryReport:
        """One run of the scheduled session expiry (the schedule and `make local` call this)."""
        now_ms = _now_ms() if now_ms is None else now_ms
        budget_seconds = self.settings.expiry_budget_seconds
        if time_left_seconds is not None:
            budget_seconds = min(budget_seconds, time_left_seconds - JOB_MARGIN_SECONDS)

        def count_ended(records: list[dict]) -> None:
            rollup = Rollup(self.settings.stats_shards)
            rollup.add_ended(Session.from_record(r) for r in records)
            try:
                write_rollup(self.stats, rollup, now_ms, self.settings.max_event_age_ms)
            except StoreUnavailable as exc:  # the sessions did end; only their statistics are late
                log("ERROR", "statistics of ended sessions not updated", sessions=len(records), error=str(exc))

        with _job_deadline(time_left_seconds):
            return expire_idle_sessions(self.sessions, self.session_rules, self.metrics, now_ms=now_ms,
                                        budget_seconds=budget_seconds, on_ended=count_ended)

    def aggregate_events(self, lambda_event: dict, time_left_seconds: float | None = None) -> dict:
        """One batch of the events table's stream to the minute statistics buckets (the stream function
        and `make local`). A store of its own for each batch: see StatsStore's `stream_batches`."""
        from chalicelib.stats.stream import aggregate_stream_batch
        from chalicelib.store import StatsStore

        store = StatsStore(self._client, self.settings.stats_table, self._retries, stream_batches=True)
        with _job_deadline(time_left_seconds):
            return aggregate_stream_batch(lambda_event, store, shards=self.settings.stats_shards,
                                          max_event_age_ms=self.settings.max_event_age_ms, now_ms=_now_ms())

    def roll_up_stats(self, now_ms: int | None = None, time_left_seconds: float | None = None) -> RollupReport:
        """One run of the minute job's statistics work (hour/day buckets, ActiveVisitors)."""
        with _job_deadline(time_left_seconds):
            return roll_up(self.stats, self.settings.sites, self.settings.stats_shards, self.metrics,
                           now_ms=_now_ms() if now_ms is None else now_ms,
                           retention_seconds=self.settings.event_retention_seconds)

    # The event lake. Each lake module loads its engine (DuckDB, from the lake layer) itself.

    @cached_property
    def lake_objects(self):
        from chalicelib.store.lake import S3LakeObjects, create_s3_client

        return S3LakeObjects(self.s3_client or create_s3_client(), self.settings.lake_bucket)

    def write_event_lake(self, lambda_event: dict, time_left_seconds: float | None = None) -> dict:
        """One batch of the events table's stream to Parquet (the stream function and `make local`)."""
        from chalicelib.lake.writer import write_stream_batch

        return write_stream_batch(lambda_event, self.lake_objects, self.metrics, now_ms=_now_ms())

    def compact_lake(self, now_ms: int | None = None, time_left_seconds: float | None = None):
        """One run of lake compaction (the hourly schedule and `make local`)."""
        from chalicelib.lake.compaction import compact

        return compact(self.lake_objects, self.settings.sites, self.metrics, leases=self.lake_leases,
                       now_ms=_now_ms() if now_ms is None else now_ms, time_left_seconds=time_left_seconds)

    @cached_property
    def lake_leases(self):
        """One rewriter per lake partition (compaction or erasure): leases in the statistics table."""
        from chalicelib.store.leases import LeaseStore

        return LeaseStore(self._client, self.settings.stats_table, self._retries)

    def query_lake(self, request: dict, time_left_seconds: float | None = None) -> dict:
        """One query of the lake (the query function's body): a LakeQuery as JSON in, its answer out."""
        if isinstance(request, dict) and "export" in request:  # GET /export: the raw rows as a file (query/export.py)
            from chalicelib.query.export import export

            return export(request, self.lake_objects, self.lake_exports, self.settings, self.metrics, now_ms=_now_ms())
        if isinstance(request, dict) and "funnel" in request:  # POST /api/v2/funnel (query/funnel_sql.py)
            from chalicelib.query.funnel_sql import answer as answer_funnel

            return answer_funnel(request["funnel"], self.lake_objects, self.settings, self.metrics,
                                 time_left_seconds=time_left_seconds)
        from chalicelib.query.runner import answer

        return answer(request, self.lake_objects, self.settings, self.metrics, time_left_seconds=time_left_seconds)

    @cached_property
    def lake_exports(self):
        """Export files under exports/ of the lake bucket, and their presigned links."""
        from chalicelib.store.exports import S3ExportFiles, create_export_client

        return S3ExportFiles(self.s3_client or create_export_client(), self.settings.lake_bucket)

    def request_export(self, query) -> dict:
        """GET /export: the query function builds the file (DuckDB, S3 rights); without one configured, here."""
        from chalicelib.query.export import checked, export_request

        request = export_request(query.site, query.from_ms, query.to_ms, query.format)
        function_name = self.settings.query_function
        if not function_name:
            return checked(self.query_lake(request))
        from chalicelib.store.functions import FunctionInvoker, create_lambda_client

        client = self.lambda_client or create_lambda_client(read_timeout_seconds=EXPORT_WAIT_SECONDS)
        return checked(FunctionInvoker(client, function_name).invoke(request))

    def request_query(self, request: dict) -> dict:
        """A lake query (POST /api/v2/query): the query function answers it; without one configured, here."""
        function_name = self.settings.query_function
        if not function_name:
            return self.query_lake(request)
        from chalicelib.store.functions import FunctionInvoker, create_lambda_client

        client = self.lambda_client or create_lambda_client(read_timeout_seconds=EXPORT_WAIT_SECONDS)
        return FunctionInvoker(client, function_name).invoke(request)

    # Erasure (DELETE /visitors/{id}): the API function validates and hands the work to the
    # erase_visitor function (lake layer, delete rights); without one configured it runs here.

    @cached_property
    def erasure_store(self):
        from chalicelib.store.erasure import ErasureStore

        return ErasureStore(self._client, self.settings.events_table, self.settings.sessions_table, self._retries)

    def request_erasure(self, visitor: str, query: dict[str, str]) -> dict:
        from chalicelib.core.deadline import remaining_seconds
        from chalicelib.lake.erasure import DEFAULT_BUDGET_SECONDS, erasure_request

        left = remaining_seconds()
        budget_seconds = DEFAULT_BUDGET_SECONDS if left is None else max(left - ERASURE_MARGIN_SECONDS, 0)
        request = erasure_request(visitor, query, self.settings.sites, budget_seconds)
        function_name = self.settings.erase_function
        if not function_name:
            return self.erase_visitor(request)
        from chalicelib.store.functions import FunctionInvoker, create_lambda_client

        client = self.lambda_client or create_lambda_client(read_timeout_seconds=budget_seconds + 5)
        return FunctionInvoker(client, function_name).invoke(request)

    def erase_visitor(self, request: dict, time_left_seconds: float | None = None) -> dict:
        """The erase_visitor function's body: one visitor's events and sessions out of every store."""
        from chalicelib.lake.erasure import erase

        return erase(request, store=self.erasure_store, objects=self.lake_objects, leases=self.lake_leases,
                     now_ms=_now_ms(),
                     time_left_seconds=None if time_left_seconds is None else time_left_seconds - JOB_MARGIN_SECONDS)


# An export may outlast the request deadline (DynamoDB's), not API Gateway's 29 s integration timeout.
EXPORT_WAIT_SECONDS = 27
ERASURE_MARGIN_SECONDS = 2  # of the request's deadline, to answer after the erasure's budget ends

# A job stops this long before Lambda would stop it, to log and print its metrics.
JOB_MARGIN_SECONDS = 5


def _job_deadline(time_left_seconds: float | None):
    """The run's DynamoDB calls share what Lambda leaves it (no limit where there is no Lambda)."""
    return nullcontext() if time_left_seconds is None else within(max(time_left_seconds - JOB_MARGIN_SECONDS, 0))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _jitter_pause(attempt: int) -> None:
    # Concurrent writers of one visitor's session retry after a short random pause, so they
    # do not collide again in lockstep.
    time.sleep(random.random() * min(0.2, 0.005 * 2 ** attempt))


_services: Services | None = None
_lock = threading.Lock()  # chalice local serves requests on threads


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = Services(load_settings())
    return _services


def set_services(services: Services | None) -> None:
    """Tests and tools install their own wiring (or None to rebuild from the environment)."""
    global _services
    _services = services

"""LiveInsight's Chalice app: its HTTP routes, registered from the blueprints in chalicelib/routes/ (one
module per concern), and its scheduled, stream and invoked functions.

Imports stay light (chalice and our own stdlib-only modules): boto3 and the user-agent parser load
on the first request that needs them, so a cold start pays only for what it uses.
"""

from __future__ import annotations

from chalice import Chalice, Rate

from chalicelib.http.gateway import as_rest_event
from chalicelib.routes import ingest, reads, share, static_files, stats_api
from chalicelib.services import Services, get_services


class LiveInsight(Chalice):
    """Chalice, also serving the collector's HTTP API (payload 1.0): chalicelib/http/gateway.py."""

    def __call__(self, event, context):
        return super().__call__(as_rest_event(event, self.routes), context)


app = LiveInsight(app_name="LiveInsight")


def _services() -> Services:
    """The routes' services, looked up here on every request: replacing app.get_services reaches them all."""
    return get_services()


# In the order the routes were declared when they lived here, so the generated API reads the same.
for blueprint in (ingest.bp, reads.bp, stats_api.bp, static_files.bp, share.bp):
    blueprint.register_with(app, _services)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def expire_sessions(event) -> None:
    """Every minute: end the sessions idle longer than the timeout."""
    get_services().expire_sessions(time_left_seconds=_time_left_seconds(event))


@app.schedule(Rate(1, unit=Rate.MINUTES))
def roll_up_stats(event) -> None:
    """Every minute: hour and day statistics from minute buckets; the ActiveVisitors metric."""
    get_services().roll_up_stats(time_left_seconds=_time_left_seconds(event))


# The events table's stream (new images) feeds the event lake. Chalice needs an ARN here at import
# time; deploy/package.py points the generated event source mapping at the table's real stream and
# sets its failure handling (docs/lake.md). Locally scripts/local_stack.py polls the stream instead.
EVENTS_STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/LiveInsight-Events/stream/set-by-terraform"


@app.on_dynamodb_record(stream_arn=EVENTS_STREAM_ARN, batch_size=1000, starting_position="TRIM_HORIZON",
                        maximum_batching_window_in_seconds=60)
def write_event_lake(event) -> dict:
    """New events to Parquet in the lake; answers the records to retry (ReportBatchItemFailures)."""
    return get_services().write_event_lake(event.to_dict(), time_left_seconds=_time_left_seconds(event))


# The same stream feeds the realtime statistics: a batch every few seconds (within the realtime view's
# 10-second freshness) becomes one update a statistics bucket, instead of one update a request
# (docs/stats.md "Where the statistics come from"). Locally scripts/local_stack.py polls it every second.
@app.on_dynamodb_record(stream_arn=EVENTS_STREAM_ARN, batch_size=1000, starting_position="TRIM_HORIZON",
                        maximum_batching_window_in_seconds=5)
def aggregate_events(event) -> dict:
    """New events to the minute statistics buckets; a failed batch is retried whole (see stats/stream.py)."""
    return get_services().aggregate_events(event.to_dict(), time_left_seconds=_time_left_seconds(event))


@app.schedule(Rate(1, unit=Rate.HOURS))
def compact_lake(event) -> None:
    """Hourly: each partition's small stream objects merged into one compacted object."""
    get_services().compact_lake(time_left_seconds=_time_left_seconds(event))


@app.lambda_function(name="query_lake")
def query_lake(event, context) -> dict:
    """The lake's query engine (DuckDB, or Athena for large reads), invoked by the API function."""
    return get_services().query_lake(event, time_left_seconds=context.get_remaining_time_in_millis() / 1000)


@app.lambda_function(name="erase_visitor")
def erase_visitor(event, context) -> dict:
    """A visitor's erasure in every store, invoked by DELETE /visitors/{id} (lake layer, delete rights)."""
    return get_services().erase_visitor(event, time_left_seconds=context.get_remaining_time_in_millis() / 1000)


def _time_left_seconds(event) -> float | None:
    """What Lambda leaves this run (None where there is no Lambda context, e.g. make local)."""
    remaining_ms = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    return remaining_ms() / 1000 if remaining_ms else None

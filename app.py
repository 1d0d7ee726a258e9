"""LiveInsight's HTTP routes: each one reads the request, calls the domain, maps the answer to HTTP.

Imports stay light (chalice and our own stdlib-only modules): boto3 and the user-agent parser load
on the first request that needs them, so a cold start pays only for what it uses.
"""

from __future__ import annotations

import functools
import json
import time
import traceback

from chalice import Chalice, Rate, Response

from chalicelib import __version__
from chalicelib.access.auth import require_token
from chalicelib.core.deadline import within
from chalicelib.core.errors import ApiError, StoreUnavailable, answer_for
from chalicelib.core.log import log, set_context
from chalicelib.http import params, reads
from chalicelib.routes import ingest
from chalicelib.services import get_services
from chalicelib.static import static_file, static_version

app = Chalice(app_name="LiveInsight")


def _services():
    """The wired services for the routes, looked up in this module on every request."""
    return get_services()


ingest.bp.register_with(app, _services)

JSON = "application/json"


def _header(name: str) -> str | None:
    return app.current_request.headers.get(name)


# GET routes take any Content-Type: Chalice would answer a GET with an odd one by its own 415.
ANY_CONTENT = ["*/*"]


def _answer(status_code: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    # Serialised here, inside answers_json: a body Chalice could not serialise would be its own 500.
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status_code,
                    headers={"Content-Type": JSON, **(headers or {})})


def answers_json(view):
    """The one place a route's errors become answers, always in LiveInsight's JSON error shape: an
    ApiError its own, StoreUnavailable a 503 with Retry-After, anything else a logged 500."""

    @functools.wraps(view)
    def run(**path_parameters) -> Response:
        try:
            set_context(request_id=(app.current_request.context or {}).get("requestId", ""))
            # Reads share the request deadline too: a stalled DynamoDB is a 503, never a gateway 504.
            with within(get_services().settings.request_deadline_seconds):
                result = view(**path_parameters)
            return result if isinstance(result, Response) else _answer(200, result)
        except Exception as exc:  # noqa: BLE001 - every failure must answer in our JSON shape
            error = answer_for(exc)
            if error.status_code >= 500:
                log("ERROR", f"{view.__name__} not answered: {error.code}", error=type(exc).__name__,
                    detail=str(exc)[:500], trace=traceback.format_exc(limit=5) if error.status_code == 500 else "")
            return _answer(error.status_code, error.body(), error.headers)

    return run


def _query() -> dict[str, list[str]]:
    """Every query parameter with all its values, so a repeated one is seen (and refused)."""
    query = app.current_request.query_params
    return {name: query.getlist(name) for name in query} if query else {}


def _now_ms() -> int:
    return int(time.time() * 1000)


@app.route("/health", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def health() -> dict:
    params.only(_query())
    return {"status": "ok", "version": __version__, "stage": get_services().settings.stage}


def _authorized() -> None:
    require_token(_header("authorization"), get_services().settings.api_token)


@app.route("/sessions/{session_id}", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_session(session_id: str) -> dict:
    _authorized()
    services = get_services()
    return reads.session_with_events(params.session_query(session_id, _query()), services.sessions, services.events)


@app.route("/visitors/{visitor_id}/sessions", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_visitor_sessions(visitor_id: str) -> dict:
    _authorized()
    services = get_services()
    return reads.visitor_sessions(params.visitor_sessions_query(visitor_id, _query(), services.settings),
                                  services.sessions)


@app.route("/visitors/{visitor_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@answers_json
def delete_visitor(visitor_id: str) -> Response:
    """Erasure (GDPR art. 17): 200 with what was removed per store, 202 with what is left (DELETE again)."""
    _authorized()
    query = params.only(_query(), "by", "site")
    answer = get_services().request_erasure(params.visitor_id(visitor_id), query)
    return _answer(200 if answer["complete"] else 202, answer)


@app.route("/stats/sites", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_stats_sites() -> dict:
    _authorized()
    params.only(_query())
    settings = get_services().settings
    return {"sites": sorted(settings.sites), "default_site": settings.default_site_id}


@app.route("/stats/realtime", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_realtime_stats() -> dict:
    _authorized()
    services = get_services()
    return services.stats_reader.realtime(params.realtime_query(_query(), services.settings, _now_ms()))


@app.route("/stats", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_stats() -> dict:
    _authorized()
    services = get_services()
    return services.stats_reader.summary(params.stats_query(_query(), services.settings, _now_ms()))


@app.route("/stats/breakdown", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_stats_breakdown() -> dict:
    _authorized()
    services = get_services()
    return services.stats_reader.breakdown(params.breakdown_query(_query(), services.settings, _now_ms()))


@app.route("/export", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_export() -> Response:
    """The raw lake rows of a range as CSV or Parquet: 303 to a download link valid 15 minutes."""
    _authorized()
    services = get_services()
    answer = services.request_export(params.export_query(_query(), services.settings, _now_ms()))
    return _answer(303, answer, {"Location": answer["url"]})


@app.route("/api/v2/query", methods=["POST"], content_types=ANY_CONTENT)
@answers_json
def post_api_v2_query() -> Response:
    """Plausible's Stats API v2 (docs/api.md). Errors in Plausible's shape, {"error": "<message>"}, which
    its clients show; LiveInsight's code and field ride along."""
    from chalicelib.query import plausible  # not on the collector's cold start

    try:
        _authorized()
        params.only(_query())
        services = get_services()
        body = plausible.request_body(app.current_request.raw_body)
        answer = plausible.run(body, services.request_query, services.settings.sites,
                               services.settings.event_retention_days, _now_ms())
        from chalicelib.query import plausible_csv

        if plausible_csv.wants_csv(app.current_request.headers.get("accept")):
            return Response(body=plausible_csv.as_csv(answer), status_code=200,
                            headers={"Content-Type": plausible_csv.CONTENT_TYPE})
        return answer
    except (ApiError, StoreUnavailable) as exc:
        error = answer_for(exc)
        return _answer(error.status_code, plausible.error_body(error), error.headers)


def _stats_v1(endpoint: str) -> Response:
    """Plausible's Stats API v1 (docs/api.md): GET parameters translated onto the v2 query; errors in
    Plausible's shape, as v2's."""
    from chalicelib.query import plausible, plausible_v1  # not on the collector's cold start

    try:
        _authorized()
        given = params.only(_query(), *plausible_v1.PARAMETERS[endpoint])
        services = get_services()
        answer = plausible_v1.run(endpoint, given, services.request_query, services.settings.sites,
                                  services.settings.event_retention_days, _now_ms())
        # realtime/visitors answers a bare number, as Plausible's does
        return Response(body=json.dumps(answer, separators=(",", ":")), status_code=200,
                        headers={"Content-Type": JSON})
    except (ApiError, StoreUnavailable) as exc:
        error = answer_for(exc)
        return _answer(error.status_code, plausible.error_body(error), error.headers)


@app.route("/api/v1/stats/realtime/visitors", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_api_v1_realtime_visitors() -> Response:
    return _stats_v1("realtime")


@app.route("/api/v1/stats/aggregate", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_api_v1_aggregate() -> Response:
    return _stats_v1("aggregate")


@app.route("/api/v1/stats/breakdown", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_api_v1_breakdown() -> Response:
    return _stats_v1("breakdown")


@app.route("/api/v1/stats/timeseries", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def get_api_v1_timeseries() -> Response:
    return _stats_v1("timeseries")


@app.route("/api/v2/funnel", methods=["POST"], content_types=ANY_CONTENT)
@answers_json
def post_api_v2_funnel() -> Response:
    """Funnels over the site's goals (docs/api.md "Funnels"), answered in Plausible's funnel shape;
    errors as POST /api/v2/query's."""
    from chalicelib.query import funnel, plausible  # not on the collector's cold start

    try:
        _authorized()
        params.only(_query())
        services = get_services()
        body = plausible.request_body(app.current_request.raw_body)
        return funnel.run(body, services.request_query, services.settings.sites,
                          services.settings.event_retention_days, _now_ms())
    except (ApiError, StoreUnavailable) as exc:
        error = answer_for(exc)
        return _answer(error.status_code, plausible.error_body(error), error.headers)


DASHBOARD_FILES = {"dashboard.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
                   "app.css": "text/css; charset=utf-8"}
DASHBOARD_HEADERS = {
    # Everything the page needs comes from this API: no CDN, no external fonts or scripts.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static(name: str) -> Response:
    return Response(body=static_file(name), status_code=200,
                    headers={"Content-Type": DASHBOARD_FILES[name], **DASHBOARD_HEADERS})


@app.route("/dashboard", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def dashboard() -> Response:
    """The live dashboard; it asks for the API token itself and keeps it in sessionStorage."""
    params.only(_query())
    return _static("dashboard.html")


@app.route("/dashboard/{asset}", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def dashboard_asset(asset: str) -> Response:
    params.only(_query())
    if asset not in DASHBOARD_FILES or asset == "dashboard.html":
        raise ApiError(404, "not_found", f"no dashboard file {asset[:64]!r}", field="asset")
    return _static(asset)


SDK_FILE = "liveinsight.js"
SDK_IMMUTABLE = "public, max-age=31536000, immutable"  # /liveinsight.js?v=<etag>: this exact build
SDK_REVALIDATE = "public, max-age=3600"  # /liveinsight.js: re-checked hourly (ETag), so updates arrive


@app.route("/liveinsight.js", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def sdk() -> Response:
    """The website SDK, first party: served by this API, so no third-party host sees visitors."""
    query = params.sdk_query(_query())
    version = static_version(SDK_FILE)
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": SDK_IMMUTABLE if query.version == version else SDK_REVALIDATE,
               "Content-Type": "text/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    if _header("if-none-match") == etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=static_file(SDK_FILE), status_code=200, headers=headers)


def _demo(depth: int) -> Response:
    # Links relative to the page, so the demo works under any API Gateway stage (/prod/demo).
    # Its query string is the page's own (utm tags for the SDK to read), so the server leaves it alone.
    up = "../" * depth
    html = (static_file("demo.html").replace("{{SDK_URL}}", f"{up}{SDK_FILE}").replace("{{BASE}}", f"{up}demo")
            .replace("{{DASHBOARD_URL}}", f"{up}dashboard"))
    return Response(body=html, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/demo", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def demo() -> Response:
    """A tiny single-page site with the SDK installed, to click around and watch the dashboard."""
    return _demo(0)


@app.route("/demo/{view}", methods=["GET"], content_types=ANY_CONTENT)
@answers_json
def demo_view(view: str) -> Response:
    params.page_name(view, "view")
    return _demo(1)


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

"""LiveInsight's HTTP routes: each one reads the request, calls the domain, maps the answer to HTTP.

Imports stay light (chalice and our own stdlib-only modules): boto3 and the user-agent parser load
on the first request that needs them, so a cold start pays only for what it uses.
"""

from __future__ import annotations

import time
import traceback
from urllib.parse import unquote

from chalice import Chalice, Rate, Response

from chalicelib import __version__, reads
from chalicelib.auth import require_token
from chalicelib.collector import IngestRequest, IngestResult
from chalicelib.cors import answer_headers, preflight_headers
from chalicelib.errors import ApiError, StoreUnavailable
from chalicelib.log import log, set_context
from chalicelib.services import get_services
from chalicelib.settings import SettingsError
from chalicelib.static import static_file, static_version

app = Chalice(app_name="LiveInsight")

JSON = "application/json"


def _json(status_code: int, body: dict, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status_code, headers={"Content-Type": JSON, **(headers or {})})


def _header(name: str) -> str | None:
    return app.current_request.headers.get(name)


def _origin_allowed(origin: str) -> bool:
    return get_services().settings.origin_allowed_anywhere(origin)


# Chalice would answer other content types with its own 415; the collector answers in our format.
@app.route("/events", methods=["POST"], content_types=["*/*"])
def post_events() -> Response:
    request = app.current_request
    context = request.context or {}
    set_context(request_id=context.get("requestId", ""))
    origin = _header("origin")
    try:
        result = get_services().collector.collect(IngestRequest(
            body=request.raw_body or b"",
            content_type=_header("content-type"),
            origin=origin,
            user_agent=_header("user-agent") or "",
            source_ip=(context.get("identity") or {}).get("sourceIp"),
            country_header=_header("cloudfront-viewer-country"),
            request_id=context.get("requestId"),
        ))
    except Exception as exc:  # noqa: BLE001 - the last line of defence must answer in JSON
        result = _collector_failed(exc)
    cors = answer_headers(origin, result.status_code, _origin_allowed)
    return _json(result.status_code, result.body, {**result.headers, **cors})


def _collector_failed(exc: Exception) -> IngestResult:
    log("ERROR", "unhandled error in POST /events", error=type(exc).__name__, trace=traceback.format_exc(limit=5))
    if not isinstance(exc, SettingsError):  # broken settings have no metrics either; the log says it
        get_services().metrics.request(events_processed=0, processing_ms=0, processing_errors=1, rejected={})
    return IngestResult(500, {"error": {"code": "internal_error",
                                        "message": "the event collector failed; retry later"}})


@app.route("/events", methods=["OPTIONS"])
def preflight_events() -> Response:
    return Response(body="", status_code=204, headers=preflight_headers(_header("origin")))


@app.route("/health", methods=["GET"])
def health() -> dict:
    return {"status": "ok", "version": __version__, "stage": get_services().settings.stage}


def _authorized() -> None:
    require_token(_header("authorization"), get_services().settings.api_token)


def _read(handler) -> Response:
    """Runs a read endpoint: token first, then the handler; ApiErrors become their JSON answers."""
    try:
        _authorized()
        return _json(200, handler())
    except ApiError as err:
        return _json(err.status_code, err.body(), err.headers)
    except StoreUnavailable as exc:
        log("ERROR", "read not answered: DynamoDB unavailable", error=str(exc))
        return _json(503, {"error": {"code": "store_unavailable", "message": "try again shortly"}},
                     {"Retry-After": "2"})


@app.route("/sessions/{session_id}", methods=["GET"])
def get_session(session_id: str) -> Response:
    services = get_services()
    return _read(lambda: reads.session_with_events(session_id, services.sessions, services.events))


@app.route("/visitors/{visitor_id}/sessions", methods=["GET"])
def get_visitor_sessions(visitor_id: str) -> Response:
    services = get_services()
    query = app.current_request.query_params or {}
    return _read(lambda: reads.visitor_sessions(unquote(visitor_id), query, services.settings, services.sessions))


def _query() -> dict[str, str]:
    return dict(app.current_request.query_params or {})


def _now_ms() -> int:
    return int(time.time() * 1000)


@app.route("/stats/sites", methods=["GET"])
def get_stats_sites() -> Response:
    settings = get_services().settings
    return _read(lambda: {"sites": sorted(settings.sites), "default_site": settings.default_site_id})


@app.route("/stats/realtime", methods=["GET"])
def get_realtime_stats() -> Response:
    return _read(lambda: get_services().stats_reader.realtime(_query(), _now_ms()))


@app.route("/stats", methods=["GET"])
def get_stats() -> Response:
    return _read(lambda: get_services().stats_reader.summary(_query(), _now_ms()))


@app.route("/stats/breakdown", methods=["GET"])
def get_stats_breakdown() -> Response:
    return _read(lambda: get_services().stats_reader.breakdown(_query(), _now_ms()))


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


@app.route("/dashboard", methods=["GET"])
def dashboard() -> Response:
    """The live dashboard; it asks for the API token itself and keeps it in sessionStorage."""
    return _static("dashboard.html")


@app.route("/dashboard/{asset}", methods=["GET"])
def dashboard_asset(asset: str) -> Response:
    if asset not in DASHBOARD_FILES or asset == "dashboard.html":
        return _json(404, {"error": {"code": "not_found", "message": f"no dashboard file {asset!r}",
                                     "field": "asset"}})
    return _static(asset)


SDK_FILE = "liveinsight.js"
SDK_IMMUTABLE = "public, max-age=31536000, immutable"  # /liveinsight.js?v=<etag>: this exact build
SDK_REVALIDATE = "public, max-age=3600"  # /liveinsight.js: re-checked hourly (ETag), so updates arrive


@app.route("/liveinsight.js", methods=["GET"])
def sdk() -> Response:
    """The website SDK, first party: served by this API, so no third-party host sees visitors."""
    version = static_version(SDK_FILE)
    etag = f'"{version}"'
    query = _query()
    headers = {"ETag": etag, "Cache-Control": SDK_IMMUTABLE if query.get("v") == version else SDK_REVALIDATE,
               "Content-Type": "text/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    if _header("if-none-match") == etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=static_file(SDK_FILE), status_code=200, headers=headers)


def _demo(depth: int) -> Response:
    # Links relative to the page, so the demo works under any API Gateway stage (/prod/demo).
    up = "../" * depth
    html = (static_file("demo.html").replace("{{SDK_URL}}", f"{up}{SDK_FILE}").replace("{{BASE}}", f"{up}demo")
            .replace("{{DASHBOARD_URL}}", f"{up}dashboard"))
    return Response(body=html, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/demo", methods=["GET"])
def demo() -> Response:
    """A tiny single-page site with the SDK installed, to click around and watch the dashboard."""
    return _demo(0)


@app.route("/demo/{view}", methods=["GET"])
def demo_view(view: str) -> Response:
    return _demo(1)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def expire_sessions(event) -> None:
    """Every minute: end the sessions idle longer than the timeout."""
    get_services().expire_sessions()


@app.schedule(Rate(1, unit=Rate.MINUTES))
def roll_up_stats(event) -> None:
    """Every minute: hour and day statistics from minute buckets; the ActiveVisitors metric."""
    get_services().roll_up_stats()

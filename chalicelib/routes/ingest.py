"""Ingest routes: POST /events and its preflight, and Plausible's and Umami's ingest dialects, all through
the one event collector; errors answer in JSON (or the dialect's shape) with CORS headers."""

from __future__ import annotations

import traceback

from chalice import Response

from chalicelib.core.errors import ApiError
from chalicelib.core.log import log, set_context
from chalicelib.core.metrics import RejectReason
from chalicelib.core.settings import SettingsError
from chalicelib.enrich.hints import HINT_HEADERS
from chalicelib.http.cors import answer_headers, preflight_headers
from chalicelib.ingest import dialects
from chalicelib.ingest.collector import REASON_OF_ERROR, IngestRequest, IngestResult
from chalicelib.routes.common import JSON, Routes, json_response

bp = Routes(__name__)


def _origin_allowed(origin: str) -> bool:
    return bp.services().settings.origin_allowed_anywhere(origin)


# Chalice would answer other content types with its own 415; the collector answers in our format.
@bp.route("/events", methods=["POST"], content_types=["*/*"])
def post_events() -> Response:
    request = bp.current_request
    context = request.context or {}
    set_context(request_id=context.get("requestId", ""))
    origin = bp.header("origin")
    try:
        result = bp.services().collector.collect(IngestRequest(
            body=request.raw_body or b"",
            content_type=bp.header("content-type"),
            origin=origin,
            user_agent=bp.header("user-agent") or "",
            source_ip=(context.get("identity") or {}).get("sourceIp"),
            country_header=bp.header("cloudfront-viewer-country"),
            request_id=context.get("requestId"),
            hint_headers={name: bp.header(name) or "" for name in HINT_HEADERS},
        ))
    except Exception as exc:  # noqa: BLE001 - the last line of defence must answer in JSON
        result = _collector_failed(exc)
    cors = answer_headers(origin, result.status_code, _origin_allowed)
    return json_response(result.status_code, result.body, {**result.headers, **cors})


def _collector_failed(exc: Exception) -> IngestResult:
    log("ERROR", "unhandled error in POST /events", error=type(exc).__name__, trace=traceback.format_exc(limit=5))
    if not isinstance(exc, SettingsError):  # broken settings have no metrics either; the log says it
        bp.services().metrics.request(events_processed=0, processing_ms=0, processing_errors=1, rejected={})
    return IngestResult(500, {"error": {"code": "internal_error",
                                        "message": "the event collector failed; retry later"}})


@bp.route("/events", methods=["OPTIONS"])
def preflight_events() -> Response:
    return Response(body="", status_code=204, headers=preflight_headers(bp.header("origin")))


# Plausible's Events API and Umami's collect API (ingest/dialects.py): their trackers pointed at
# LiveInsight go through the same collector as POST /events.
@bp.route("/api/event", methods=["POST"], content_types=["*/*"])
def post_plausible_event() -> Response:
    return _collect_dialect(dialects.PLAUSIBLE)


@bp.route("/api/send", methods=["POST"], content_types=["*/*"])
def post_umami_send() -> Response:
    return _collect_dialect(dialects.UMAMI)


@bp.route("/api/event", methods=["OPTIONS"])
def preflight_plausible_event() -> Response:
    return preflight_events()


@bp.route("/api/send", methods=["OPTIONS"])
def preflight_umami_send() -> Response:
    return preflight_events()


def _collect_dialect(dialect) -> Response:
    request = bp.current_request
    context = request.context or {}
    set_context(request_id=context.get("requestId", ""))
    origin = bp.header("origin")
    try:
        translation = dialect.translate(request.raw_body or b"", bp.header("content-type"), bp.services().settings)
        result = bp.services().collector.collect(IngestRequest(
            body=translation.body,
            content_type=JSON,
            origin=origin,
            user_agent=bp.header("user-agent") or "",
            source_ip=(context.get("identity") or {}).get("sourceIp"),  # never X-Forwarded-For: clients set it
            country_header=bp.header("cloudfront-viewer-country"),
            request_id=context.get("requestId"),
            hint_headers={name: bp.header(name) or "" for name in HINT_HEADERS},
        ))
        answer = dialect.answer(result, translation)
    except ApiError as err:  # the body itself is refused: nothing reached the collector
        reason = REASON_OF_ERROR.get(err.code, RejectReason.INVALID)  # a 413 or 415 is counted as such
        bp.services().metrics.request(events_processed=0, processing_ms=0, processing_errors=0,
                                      rejected={reason: 1})
        answer = dialect.refuse(dialects.refusal_of(err))
    except Exception as exc:  # noqa: BLE001 - the last line of defence must answer in the dialect's shape
        failed = _collector_failed(exc).body["error"]
        answer = dialect.refuse(dialects.Refusal(500, failed["code"], failed["message"]))
    cors = answer_headers(origin, answer.status_code, _origin_allowed)
    return Response(body=answer.body, status_code=answer.status_code,
                    headers={"Content-Type": answer.content_type, **answer.headers, **cors})

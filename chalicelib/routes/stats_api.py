"""Plausible's Stats API (docs/api.md): POST /api/v2/query, POST /api/v2/funnel and the v1 GET routes,
errors in Plausible's shape. The query modules load inside each route, never on the collector's cold start."""

from __future__ import annotations

import json

from chalice import Response

from chalicelib.access.principal import STATS, Principal
from chalicelib.core.errors import ApiError, StoreUnavailable, answer_for
from chalicelib.http import params
from chalicelib.routes.common import ANY_CONTENT, JSON, Routes, answer, now_ms

bp = Routes(__name__)


def _stats_v2(kind: str) -> Response:
    """A POST body answered by query/plausible.py ("query") or query/funnel.py ("funnel"), as JSON or, on
    `Accept: text/csv`, as CSV. Errors in Plausible's shape, {"error": "<message>"}, which its clients
    show; LiveInsight's code and field ride along."""
    from chalicelib.query import funnel, plausible, plausible_csv  # not on the collector's cold start

    run, as_csv = {"query": (plausible.run, plausible_csv.as_csv),
                   "funnel": (funnel.run, plausible_csv.funnel_as_csv)}[kind]
    try:
        caller = bp.caller()
        params.only(bp.query())
        services = bp.services()
        body = plausible.request_body(bp.current_request.raw_body)
        _may_read(caller, body.get("site_id") if isinstance(body, dict) else None, services.settings.sites)
        result = run(body, services.request_query, services.settings.sites, services.settings.event_retention_days,
                     now_ms())
        if plausible_csv.wants_csv(bp.current_request.headers.get("accept")):
            return Response(body=as_csv(result), status_code=200, headers={"Content-Type": plausible_csv.CONTENT_TYPE})
        return result
    except (ApiError, StoreUnavailable) as exc:
        error = answer_for(exc)
        return answer(error.status_code, plausible.error_body(error), error.headers)


def _may_read(caller: Principal, site: object, sites) -> None:
    """Before any query runs: a configured site the caller may not read is a 403; anything else that is not
    a configured site is the query's own 400 (unknown site), which it answers without reading."""
    if isinstance(site, str) and site in sites:
        caller.require(site, STATS, field="site_id")


@bp.route("/api/v2/query", methods=["POST"], content_types=ANY_CONTENT)
@bp.answers_json
def post_api_v2_query() -> Response:
    """Plausible's Stats API v2 (docs/api.md)."""
    return _stats_v2("query")


def _stats_v1(endpoint: str) -> Response:
    """Plausible's Stats API v1 (docs/api.md): GET parameters translated onto the v2 query; errors in
    Plausible's shape, as v2's."""
    from chalicelib.query import plausible, plausible_v1  # not on the collector's cold start

    try:
        caller = bp.caller()
        given = params.only(bp.query(), *plausible_v1.PARAMETERS[endpoint])
        services = bp.services()
        _may_read(caller, given.get("site_id"), services.settings.sites)
        result = plausible_v1.run(endpoint, given, services.request_query, services.settings.sites,
                                  services.settings.event_retention_days, now_ms())
        # realtime/visitors answers a bare number, as Plausible's does
        return Response(body=json.dumps(result, separators=(",", ":")), status_code=200,
                        headers={"Content-Type": JSON})
    except (ApiError, StoreUnavailable) as exc:
        error = answer_for(exc)
        return answer(error.status_code, plausible.error_body(error), error.headers)


@bp.route("/api/v1/stats/realtime/visitors", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_api_v1_realtime_visitors() -> Response:
    return _stats_v1("realtime")


@bp.route("/api/v1/stats/aggregate", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_api_v1_aggregate() -> Response:
    return _stats_v1("aggregate")


@bp.route("/api/v1/stats/breakdown", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_api_v1_breakdown() -> Response:
    return _stats_v1("breakdown")


@bp.route("/api/v1/stats/timeseries", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_api_v1_timeseries() -> Response:
    return _stats_v1("timeseries")


@bp.route("/api/v2/funnel", methods=["POST"], content_types=ANY_CONTENT)
@bp.answers_json
def post_api_v2_funnel() -> Response:
    """Funnels over the site's goals (docs/api.md "Funnels"), answered in Plausible's funnel shape."""
    return _stats_v2("funnel")

"""Read routes over the stores: health, sessions and visitors (and a visitor's erasure), the stats
tables, and the lake's export; all but health need the API token."""

from __future__ import annotations

from chalice import Response

from chalicelib import __version__
from chalicelib.access.principal import PERSONAL_DATA
from chalicelib.http import params, reads
from chalicelib.routes.common import ANY_CONTENT, Routes, answer, now_ms

bp = Routes(__name__)


@bp.route("/health", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def health() -> dict:
    params.only(bp.query())
    return {"status": "ok", "version": __version__, "stage": bp.services().settings.stage}


@bp.route("/sessions/{session_id}", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_session(session_id: str) -> dict:
    caller = bp.caller(PERSONAL_DATA)
    services = bp.services()
    found = reads.session_with_events(params.session_query(session_id, bp.query()), services.sessions, services.events)
    caller.require(found["session"]["site"], PERSONAL_DATA)  # its site is known once it is read
    return found


@bp.route("/visitors/{visitor_id}/sessions", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_visitor_sessions(visitor_id: str) -> dict:
    caller = bp.caller(PERSONAL_DATA)
    services = bp.services()
    query = params.visitor_sessions_query(visitor_id, bp.query(), services.settings)
    caller.require(query.site, PERSONAL_DATA)
    return reads.visitor_sessions(query, services.sessions)


@bp.route("/visitors/{visitor_id}", methods=["DELETE"], content_types=ANY_CONTENT)
@bp.answers_json
def delete_visitor(visitor_id: str) -> Response:
    """Erasure (GDPR art. 17): 200 with what was removed per store, 202 with what is left (DELETE again)."""
    bp.caller().require_operator()
    query = params.only(bp.query(), "by", "site")
    erasure = bp.services().request_erasure(params.visitor_id(visitor_id), query)
    return answer(200 if erasure["complete"] else 202, erasure)


@bp.route("/stats/sites", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_stats_sites() -> dict:
    caller = bp.caller()
    params.only(bp.query())
    settings = bp.services().settings
    readable = sorted(site_id for site_id in settings.sites if caller.may_read(site_id))  # the caller's only
    # site_details: what the dashboard needs of each site (its time zone, its goals in settings order, the
    # custom property keys it names)
    details = {site_id: {"timezone": settings.sites[site_id].timezone,
                         "goals": [goal.name for goal in settings.sites[site_id].goals],
                         "properties": list(settings.sites[site_id].properties)} for site_id in readable}
    default_site = settings.default_site_id if settings.default_site_id in readable else next(iter(readable), None)
    return {"sites": readable, "default_site": default_site, "site_details": details}


@bp.route("/stats/realtime", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_realtime_stats() -> dict:
    caller = bp.caller()
    services = bp.services()
    query = params.realtime_query(bp.query(), services.settings, now_ms())
    caller.require(query.site)
    return services.stats_reader.realtime(query)


@bp.route("/stats", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_stats() -> dict:
    caller = bp.caller()
    services = bp.services()
    query = params.stats_query(bp.query(), services.settings, now_ms())
    caller.require(query.site)
    return services.stats_reader.summary(query)


@bp.route("/stats/breakdown", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_stats_breakdown() -> dict:
    caller = bp.caller()
    services = bp.services()
    query = params.breakdown_query(bp.query(), services.settings, now_ms())
    caller.require(query.site)
    return services.stats_reader.breakdown(query)


@bp.route("/export", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def get_export() -> Response:
    """The raw lake rows of a range as CSV or Parquet: 303 to a download link valid 15 minutes."""
    caller = bp.caller(PERSONAL_DATA)
    services = bp.services()
    query = params.export_query(bp.query(), services.settings, now_ms())
    caller.require(query.site, PERSONAL_DATA)
    export = services.request_export(query)
    return answer(303, export, {"Location": export["url"]})

"""The files this API serves itself, first party: the dashboard and its assets, the website SDK (with
ETag caching) and the demo site."""

from __future__ import annotations

from chalice import Response

from chalicelib.core.errors import ApiError
from chalicelib.http import params
from chalicelib.routes.common import ANY_CONTENT, Routes
from chalicelib.static import static_file, static_version

bp = Routes(__name__)

_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
# The shell (state, filters, tiles, chart: app.*, chart.js) and the cards (cards.*, contract C5 of issue 15).
DASHBOARD_FILES = {"dashboard.html": "text/html; charset=utf-8", "app.js": _JS, "chart.js": _JS, "cards.js": _JS,
                   "app.css": _CSS, "cards.css": _CSS}
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


@bp.route("/dashboard", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def dashboard() -> Response:
    """The analytics dashboard; it asks for a credential itself (kept in sessionStorage) or reads a shared
    link's from the fragment. Its query string is the page's own state (site, period, filters...): a
    bookmarked view, read by app.js, so the server leaves it alone."""
    return _static("dashboard.html")


@bp.route("/dashboard/{asset}", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def dashboard_asset(asset: str) -> Response:
    params.only(bp.query())
    if asset not in DASHBOARD_FILES or asset == "dashboard.html":
        raise ApiError(404, "not_found", f"no dashboard file {asset[:64]!r}", field="asset")
    return _static(asset)


SDK_FILE = "liveinsight.js"
SDK_IMMUTABLE = "public, max-age=31536000, immutable"  # /liveinsight.js?v=<etag>: this exact build
SDK_REVALIDATE = "public, max-age=3600"  # /liveinsight.js: re-checked hourly (ETag), so updates arrive


@bp.route("/liveinsight.js", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def sdk() -> Response:
    """The website SDK, first party: served by this API, so no third-party host sees visitors."""
    query = params.sdk_query(bp.query())
    version = static_version(SDK_FILE)
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": SDK_IMMUTABLE if query.version == version else SDK_REVALIDATE,
               "Content-Type": "text/javascript; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    if bp.header("if-none-match") == etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=static_file(SDK_FILE), status_code=200, headers=headers)


def _demo(depth: int) -> Response:
    # Links relative to the page, so the demo works under any API Gateway stage (/prod/demo).
    # Its query string is the page's own (utm tags for the SDK to read), so the server leaves it alone.
    up = "../" * depth
    html = (static_file("demo.html").replace("{{SDK_URL}}", f"{up}{SDK_FILE}").replace("{{BASE}}", f"{up}demo")
            .replace("{{DASHBOARD_URL}}", f"{up}dashboard"))
    return Response(body=html, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@bp.route("/demo", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def demo() -> Response:
    """A tiny single-page site with the SDK installed, to click around and watch the dashboard."""
    return _demo(0)


@bp.route("/demo/{view}", methods=["GET"], content_types=ANY_CONTENT)
@bp.answers_json
def demo_view(view: str) -> Response:
    params.page_name(view, "view")
    return _demo(1)

"""CORS for /events in one place: which answers a browser page may read, and the preflight answer.

Allowed origins are per site, so this cannot be one static CORS setting of Chalice or API Gateway.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PREFLIGHT_MAX_AGE_SECONDS = 86_400
# What browsers send: scheme://host[:port], or "null" (file://, sandboxed frames). Anything else is
# not reflected into a header.
ORIGIN_SHAPE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://[^/\s]+|null)$", re.IGNORECASE)


def answer_headers(origin: str | None, status_code: int, origin_allowed: Callable[[str], bool]) -> dict[str, str]:
    """The CORS headers of a POST /events answer.

    A success is readable only by an allowed origin. An error is readable by any origin, so the page's
    developer sees why (forbidden_origin, unknown site, ...) instead of a bare "blocked by CORS
    policy": an error stores nothing and says nothing beyond what the request itself sent, and the
    API uses no cookies (no Access-Control-Allow-Credentials), so reading it grants nothing.
    `origin_allowed` is not called for errors: they stay readable even when the settings are broken.
    """
    headers = {"Vary": "Origin"}
    if origin and ORIGIN_SHAPE.match(origin) and (status_code >= 400 or origin_allowed(origin)):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_headers(origin: str | None) -> dict[str, str]:
    """The headers of the 204 answer to OPTIONS /events, whatever the origin.

    A refused preflight would stop the browser before the POST, and the page would see only "blocked
    by CORS policy" (a preflight's own body is never readable). So every origin's preflight passes
    and the POST is refused by the server's per-site origin check (403 forbidden_origin, readable,
    nothing stored). Passing it grants nothing new: a text/plain POST needs no preflight at all.
    """
    headers = {"Vary": "Origin", "Allow": "POST, OPTIONS"}
    if origin and ORIGIN_SHAPE.match(origin):
        headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        })
    return headers

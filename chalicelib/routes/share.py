"""Shared links (docs/access.md): POST /share/unlock trades a password-protected link's token and its
password for a session token the dashboard then sends as its Bearer credential."""

from __future__ import annotations

import json

from chalicelib.access import admin
from chalicelib.core.errors import ApiError
from chalicelib.routes.common import ANY_CONTENT, Routes, now_ms

bp = Routes(__name__)


@bp.route("/share/unlock", methods=["POST"], content_types=ANY_CONTENT)
@bp.answers_json
def post_share_unlock() -> dict:
    try:
        body = json.loads(bp.current_request.raw_body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ApiError(400, "invalid_body", 'send {"token": "<link token>", "password": "..."} as JSON',
                       field="body") from None
    return admin.unlock(bp.services().access_store, body, now_ms())

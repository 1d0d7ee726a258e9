"""Bearer-token auth for the read API (sessions now; stats and the dashboard reuse it)."""

from __future__ import annotations

import hmac

from chalicelib.core.errors import ApiError


def require_token(authorization: str | None, expected_token: str) -> None:
    """Raises a 401 ApiError unless the header carries the configured token (compared in
    constant time, so response timing does not reveal how much of a guess was right)."""
    if not expected_token:
        raise ApiError(401, "read_api_disabled",
                       "the read API has no token configured (set LIVEINSIGHT_API_TOKEN)",
                       field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_token", "send the API token as 'Authorization: Bearer <token>'",
                       field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    # Any header value may arrive (non-ASCII, lone surrogates): compare bytes that always encode.
    given = token.strip().encode("utf-8", errors="surrogatepass")
    if not hmac.compare_digest(given, expected_token.encode("utf-8")):
        raise ApiError(401, "invalid_token", "the API token is not valid", field="Authorization",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

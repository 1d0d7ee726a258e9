"""Bearer credentials of the read API: who sends a request (authenticate), from the operator token, an API
key, a shared link or a shared link's session. The key store is an argument (store/access.py in the app)."""

from __future__ import annotations

import hmac
from typing import Protocol

from chalicelib.access import credentials
from chalicelib.access.credentials import KEY, LINK, SESSION, Presented
from chalicelib.access.principal import OPERATOR_PRINCIPAL, Principal
from chalicelib.core.errors import ApiError, StoreUnavailable

# Last use is noted at most this often per credential: a read then costs a write only every 5 minutes.
LAST_USED_EVERY_MS = 5 * 60 * 1000


class CredentialStore(Protocol):
    def get(self, kind: str, credential_id: str) -> dict | None: ...

    def touch(self, kind: str, credential_id: str, now_ms: int, stale_before_ms: int) -> bool: ...


def authenticate(authorization: str | None, operator_token: str, store: CredentialStore, now_ms: int) -> Principal:
    """The caller of a request, or a 401. A bearer token that is exactly an API key's, a link's or a
    session's format is looked up (strongly consistent, no cache: a revocation counts from the next
    request); anything else can only be the operator token."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = credentials.parse(token.strip()) if scheme.lower() == "bearer" else None
    if presented is None:
        require_token(authorization, operator_token)
        return OPERATOR_PRINCIPAL
    record = store.get(presented.record_kind, presented.credential_id)
    _check(presented, record, now_ms)
    if (record.get("last_used_at_ms") or 0) <= now_ms - LAST_USED_EVERY_MS:
        try:
            store.touch(presented.record_kind, presented.credential_id, now_ms, now_ms - LAST_USED_EVERY_MS)
        except StoreUnavailable:
            pass  # last use is a hint for the operator; the read itself goes on
    if presented.record_kind == KEY:
        return Principal(KEY, presented.credential_id, frozenset(record["sites"]), frozenset(record["scopes"]))
    return Principal(LINK, presented.credential_id, frozenset([record["site"]]), frozenset(record["scopes"]))


def _check(presented: Presented, record: dict | None, now_ms: int) -> None:
    what = "API key" if presented.kind == KEY else "shared link"
    if record is None:
        raise invalid_credential(f"no such {what}")
    if presented.kind == SESSION:
        if not credentials.session_valid(presented, record["session_key"], now_ms // 1000):
            raise invalid_credential("the shared link's session has ended: unlock the link with its password again",
                           code="share_session_expired")
    elif not credentials.secret_matches(presented.secret, record["secret_sha256"]):
        raise invalid_credential(f"no such {what}")
    if record.get("revoked_at_ms") is not None:
        raise invalid_credential(f"this {what} was revoked")
    if presented.kind == LINK and record.get("password"):
        raise ApiError(401, "share_password_required",
                       "this shared link is password-protected: POST /share/unlock with the link token and "
                       "the password, then send the session token it answers", field="Authorization",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def invalid_credential(message: str, code: str = "invalid_token") -> ApiError:
    """The one 401 of a credential that is no (longer a) valid one."""
    return ApiError(401, code, message, field="Authorization",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require_token(authorization: str | None, expected_token: str) -> None:
    """Raises a 401 ApiError unless the header carries the configured token (compared in
    constant time, so response timing does not reveal how much of a guess was right)."""
    if not expected_token:
        raise ApiError(401, "read_api_disabled",
                       "the read API has no operator token configured (set LIVEINSIGHT_API_TOKEN) and this is "
                       "no API key", field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "missing_token", "send the API token as 'Authorization: Bearer <token>'",
                       field="Authorization", headers={"WWW-Authenticate": "Bearer"})
    # Any header value may arrive (non-ASCII, lone surrogates): compare bytes that always encode.
    given = token.strip().encode("utf-8", errors="surrogatepass")
    if not hmac.compare_digest(given, expected_token.encode("utf-8")):
        raise ApiError(401, "invalid_token", "the API token is not valid", field="Authorization",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

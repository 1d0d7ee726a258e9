"""The credentials' formats and their cryptography: API keys and shared-link tokens
(`li_<kind>_<id>_<secret>`), the sessions an unlocked shared link issues, and link passwords."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY, LINK, SESSION = "key", "link", "sess"
ID_BYTES = 6  # 12 hex characters: ids are public (listed, revoked by), only unique
SECRET_BYTES = 32  # 256 random bits
_ID, _SECRET = rf"[0-9a-f]{{{2 * ID_BYTES}}}", rf"[0-9a-f]{{{2 * SECRET_BYTES}}}"
_CREDENTIAL = re.compile(rf"li_(key|link)_({_ID})_({_SECRET})")
_SESSION = re.compile(rf"li_sess_({_ID})_([0-9]{{10}})_({_SECRET})")

SESSION_SECONDS = 43_200  # an unlocked shared link reads for 12 hours, then asks for the password again
SESSION_KEY_BYTES = 32

# scrypt (hashlib, RFC 7914) with the parameters RFC 7914 and OWASP give for interactive logins:
# N=2^14, r=8 costs 16 MiB and ~50 ms per guess, so a stolen table does not give away weak passwords.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_BYTES, SALT_BYTES = 2 ** 14, 8, 1, 32, 16
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class Presented:
    """A credential as a request shows it: an API key, a shared link's token, or a link's session."""

    kind: str  # KEY, LINK or SESSION
    credential_id: str  # a session's is its link's
    secret: str  # a session's is its MAC
    expires_at_s: int | None = None  # sessions only

    @property
    def record_kind(self) -> str:
        """The stored item it is checked against: a session is checked against its link."""
        return LINK if self.kind == SESSION else self.kind


def parse(token: str) -> Presented | None:
    """The credential a bearer token is, or None (then it can only be the operator token). Exact
    formats, ASCII only, so hostile input never reaches the store."""
    match = _CREDENTIAL.fullmatch(token)
    if match:
        return Presented(match[1], match[2], match[3])
    match = _SESSION.fullmatch(token)
    if match:
        return Presented(SESSION, match[1], match[3], int(match[2]))
    return None


def new_credential(kind: str) -> tuple[str, str, str]:
    """(id, secret, token) of a new API key or shared link; only the token shows the secret."""
    credential_id, secret = secrets.token_hex(ID_BYTES), secrets.token_hex(SECRET_BYTES)
    return credential_id, secret, f"li_{kind}_{credential_id}_{secret}"


def secret_hash(secret: str) -> str:
    """SHA-256 of a secret. One fast hash suffices: 256 random bits cannot be guessed from it, so the
    slowness that protects passwords would only cost every request time."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)  # constant time


def password_hash(password: str, salt: bytes | None = None) -> dict:
    """The stored form of a link's password: scrypt with a random salt and its parameters."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(_password_bytes(password), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_BYTES)
    return {"scheme": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt, "hash": digest}


def password_matches(password: str, stored: dict) -> bool:
    digest = hashlib.scrypt(_password_bytes(password), salt=stored["salt"], n=stored["n"], r=stored["r"],
                            p=stored["p"], dklen=len(stored["hash"]))
    return hmac.compare_digest(digest, stored["hash"])


def _password_bytes(password: str) -> bytes:
    # JSON can carry lone surrogates: encode them rather than fail
    return password.encode("utf-8", errors="surrogatepass")


def new_session_key() -> bytes:
    return secrets.token_bytes(SESSION_KEY_BYTES)


def session_token(link_id: str, session_key: bytes, expires_at_s: int) -> str:
    """A shared link's session: its link, its end and a MAC with the link's own key, so nothing is stored
    per session and revoking the link (its item) ends every session of it."""
    return f"li_sess_{link_id}_{expires_at_s:010d}_{_session_mac(link_id, session_key, expires_at_s)}"


def session_valid(presented: Presented, session_key: bytes, now_s: int) -> bool:
    expected = _session_mac(presented.credential_id, session_key, presented.expires_at_s or 0)
    return hmac.compare_digest(presented.secret, expected) and now_s < (presented.expires_at_s or 0)


def _session_mac(link_id: str, session_key: bytes, expires_at_s: int) -> str:
    return hmac.new(session_key, f"li_sess_{link_id}_{expires_at_s:010d}".encode(), hashlib.sha256).hexdigest()

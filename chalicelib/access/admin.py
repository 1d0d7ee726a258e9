"""Creating, listing and revoking API keys and shared links (the operator's CLI), and unlocking a
password-protected link (POST /share/unlock). The store is an argument (store/access.py)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Protocol

from chalicelib.access import credentials
from chalicelib.access.auth import invalid_credential
from chalicelib.access.credentials import KEY, LINK
from chalicelib.access.principal import SCOPES, STATS
from chalicelib.core.errors import ApiError

SITE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # chalicelib/core/settings.py's site ids
MAX_LABEL_CHARS = 200


class AccessAdminStore(Protocol):
    def get(self, kind: str, credential_id: str) -> dict | None: ...

    def create(self, record: dict) -> None: ...

    def revoke(self, kind: str, credential_id: str, now_ms: int) -> dict | None: ...

    def all(self) -> list[dict]: ...


class AccessError(ValueError):
    """The operator asked for something that cannot be: the CLI prints it and exits 2."""


def create_key(store: AccessAdminStore, sites: Iterable[str], scopes: Iterable[str], label: str, now_ms: int,
               known_sites: Collection[str] | None = None) -> tuple[dict, str]:
    """A new API key: (its listed record, the key itself, which only this answer ever shows)."""
    sites, scopes = sorted(set(sites)), sorted(set(scopes))
    if not sites:
        raise AccessError("name at least one site (SITE=demo or SITE=demo,shop)")
    for site in sites:
        _check_site(site, known_sites)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise AccessError(f"scopes are {' and/or '.join(SCOPES)}, got {','.join(scopes) or 'none'}")
    credential_id, secret, token = credentials.new_credential(KEY)
    record = {"kind": KEY, "id": credential_id, "secret_sha256": credentials.secret_hash(secret), "sites": sites,
              "scopes": scopes, "label": _label(label), "created_at_ms": now_ms}
    store.create(record)
    return listed(record), token


def create_link(store: AccessAdminStore, site: str, label: str, now_ms: int, password: str | None = None,
                known_sites: Collection[str] | None = None) -> tuple[dict, str]:
    """A shared link: read-only stats of one site, optionally behind a password. (record, link token)."""
    _check_site(site, known_sites)
    if password is not None and not 1 <= len(password) <= credentials.MAX_PASSWORD_CHARS:
        raise AccessError(f"a link's password is 1 to {credentials.MAX_PASSWORD_CHARS} characters")
    credential_id, secret, token = credentials.new_credential(LINK)
    record = {"kind": LINK, "id": credential_id, "secret_sha256": credentials.secret_hash(secret), "site": site,
              "scopes": [STATS], "label": _label(label), "created_at_ms": now_ms,
              # the key of its sessions' MACs: dies with the link's item
              "session_key": credentials.new_session_key()}
    if password is not None:
        record["password"] = credentials.password_hash(password)
    store.create(record)
    return listed(record), token


def revoke(store: AccessAdminStore, kind: str, credential_id: str, now_ms: int) -> dict:
    if not re.fullmatch(r"[0-9a-f]{12}", credential_id):
        raise AccessError(f"an id is 12 hexadecimal characters (make keys lists them), got {credential_id!r}")
    record = store.revoke(kind, credential_id, now_ms)
    if record is None:
        raise AccessError(f"no {'API key' if kind == KEY else 'shared link'} {credential_id}")
    return listed(record)


def list_credentials(store: AccessAdminStore) -> list[dict]:
    """Every key and link, oldest first, without secrets or their hashes."""
    return sorted((listed(r) for r in store.all()), key=lambda r: (r["created_at_ms"], r["id"]))


def listed(record: dict) -> dict:
    """What may be shown of a credential: never its hash, password or session key."""
    shown = {k: v for k, v in record.items() if k not in ("secret_sha256", "session_key", "password")}
    if record["kind"] == LINK:
        shown["password_protected"] = bool(record.get("password"))
    shown.setdefault("last_used_at_ms", None)
    shown.setdefault("revoked_at_ms", None)
    return shown


def unlock(store: AccessAdminStore, body: object, now_ms: int) -> dict:
    """POST /share/unlock: {"token": <link token>, "password": ...} -> a session token for 12 hours."""
    token, password = _unlock_body(body)
    presented = credentials.parse(token)
    if presented is None or presented.kind != LINK:
        raise invalid_credential("token is not a shared link's token (li_link_...)")
    record = store.get(LINK, presented.credential_id)
    if record is None or not credentials.secret_matches(presented.secret, record["secret_sha256"]):
        raise invalid_credential("no such shared link")
    if record.get("revoked_at_ms") is not None:
        raise invalid_credential("this shared link was revoked")
    if not record.get("password"):
        raise ApiError(400, "share_not_password_protected",
                       "this shared link has no password: send its token as the Bearer credential", field="token")
    if not credentials.password_matches(password, record["password"]):
        raise ApiError(401, "invalid_password", "the password of this shared link is not this one",
                       field="password")
    expires_at_s = now_ms // 1000 + credentials.SESSION_SECONDS
    return {"token": credentials.session_token(presented.credential_id, record["session_key"], expires_at_s),
            "expires_in_seconds": credentials.SESSION_SECONDS}


def _unlock_body(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", 'send {"token": "<link token>", "password": "..."} as JSON', field="body")
    unknown = sorted(set(body) - {"token", "password"})
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field {unknown[0][:64]!r} (known: token, password)",
                       field=unknown[0][:64])
    for name in ("token", "password"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise ApiError(400, "invalid_body", f"{name} must be a non-empty string", field=name)
    if len(body["password"]) > credentials.MAX_PASSWORD_CHARS:
        raise ApiError(400, "password_too_long", f"password is at most {credentials.MAX_PASSWORD_CHARS} characters",
                       field="password")
    return body["token"], body["password"]


def _check_site(site: str, known_sites: Collection[str] | None) -> None:
    if not SITE_ID.fullmatch(site):
        raise AccessError(f"site id {site!r} must be 1-64 lower-case letters, digits, '_' or '-'")
    if known_sites is not None and site not in known_sites:
        raise AccessError(f"site {site!r} is not configured (sites: {', '.join(sorted(known_sites))})")


def _label(label: str) -> str:
    if len(label) > MAX_LABEL_CHARS:
        raise AccessError(f"a label is at most {MAX_LABEL_CHARS} characters")
    return label

"""The access domain without AWS (chalicelib/access/): credential formats, hashing, scopes, shared links'
passwords and sessions, and authenticate() over an in-memory credential store."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.access import admin, auth, credentials
from chalicelib.access.principal import OPERATOR_PRINCIPAL, PERSONAL_DATA, STATS, Principal
from chalicelib.core.errors import ApiError, StoreUnavailable

NOW_MS = 1_900_000_000_000
OPERATOR_TOKEN = "operator-token-of-this-test"


class MemoryStore:
    """The Access table's semantics in memory: conditional last-use writes, revocation kept."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.touches = 0

    def get(self, kind, credential_id):
        item = self.items.get((kind, credential_id))
        return dict(item) if item else None

    def touch(self, kind, credential_id, now_ms, stale_before_ms):
        item = self.items.get((kind, credential_id))
        fresh = (item or {}).get("last_used_at_ms", 0) > stale_before_ms  # the store's condition, inverted
        if item is None or item.get("revoked_at_ms") is not None or fresh:
            return False
        item["last_used_at_ms"] = now_ms
        self.touches += 1
        return True

    def create(self, record):
        assert (record["kind"], record["id"]) not in self.items
        self.items[(record["kind"], record["id"])] = dict(record)

    def revoke(self, kind, credential_id, now_ms):
        item = self.items.get((kind, credential_id))
        if item is None:
            return None
        item.setdefault("revoked_at_ms", now_ms)
        return dict(item)

    def all(self):
        return [dict(i) for i in self.items.values()]


def login(store, token: str, now_ms: int = NOW_MS) -> Principal:
    return auth.authenticate(f"Bearer {token}", OPERATOR_TOKEN, store, now_ms)


def refused(store, token: str, now_ms: int = NOW_MS) -> ApiError:
    with pytest.raises(ApiError) as caught:
        login(store, token, now_ms)
    return caught.value


def test_a_key_is_its_prefix_id_and_256_random_bits_and_only_the_secrets_sha256_is_stored():
    store = MemoryStore()
    record, token = admin.create_key(store, ["a"], ["stats"], "ci", NOW_MS)
    prefix, kind, key_id, secret = token.split("_")
    assert (prefix, kind, key_id) == ("li", "key", record["id"]) and len(secret) == 64 and len(key_id) == 12
    int(secret, 16)
    stored = store.items[("key", key_id)]
    assert stored["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()  # independent computation
    assert secret not in repr(stored) and token not in repr(stored)
    assert "secret_sha256" not in record  # what the CLI shows
    other = admin.create_key(store, ["a"], ["stats"], "ci", NOW_MS)[1]
    assert other.split("_")[3] != secret


def test_parse_takes_exact_formats_only():
    key = "li_key_" + "0a" * 6 + "_" + "f" * 64
    assert credentials.parse(key) == credentials.Presented("key", "0a" * 6, "f" * 64)
    session = "li_sess_" + "0a" * 6 + "_1900000000_" + "e" * 64
    assert credentials.parse(session) == credentials.Presented("sess", "0a" * 6, "e" * 64, 1_900_000_000)
    for bad in ("", key + "0", key[:-1], key.upper(), key + "\n", " " + key, key.replace("0a", "٠a", 1),
                "li_key_" + "0a" * 6 + "-" + "f" * 64, "li_admin_" + "0a" * 6 + "_" + "f" * 64, "li_key_\ud800"):
        assert credentials.parse(bad) is None, bad


def test_secrets_and_passwords_are_compared_in_constant_time(monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(credentials.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert credentials.secret_matches("ab", hashlib.sha256(b"ab").hexdigest())
    assert not credentials.password_matches("x", credentials.password_hash("y"))
    session = credentials.Presented("sess", "0" * 12, "0" * 64, 10)
    assert not credentials.session_valid(session, b"k" * 32, 5)
    assert len(compared) == 3


def test_link_passwords_are_salted_scrypt():
    salt = bytes(range(16))
    stored = credentials.password_hash("correct horse", salt)
    # hashlib.scrypt with RFC 7914's interactive parameters, computed here on its own
    assert stored["hash"] == hashlib.scrypt(b"correct horse", salt=salt, n=16384, r=8, p=1, dklen=32)
    assert credentials.password_matches("correct horse", stored)
    assert not credentials.password_matches("correct horse ", stored)
    assert credentials.password_hash("correct horse")["salt"] != credentials.password_hash("correct horse")["salt"]
    assert credentials.password_matches("\ud800", credentials.password_hash("\ud800"))  # JSON's lone surrogates


def test_scopes_and_sites_of_a_principal():
    principal = Principal("key", "abc", frozenset({"a"}), frozenset({STATS}))
    assert principal.require("a") is principal
    with pytest.raises(ApiError) as lacking_site:
        principal.require("b")
    assert (lacking_site.value.status_code, lacking_site.value.code) == (403, "forbidden_site")
    assert "'b'" in lacking_site.value.message and "it may read: a" in lacking_site.value.message
    with pytest.raises(ApiError) as lacking_scope:
        principal.require("a", PERSONAL_DATA)
    assert (lacking_scope.value.status_code, lacking_scope.value.code) == (403, "missing_scope")
    assert "personal_data" in lacking_scope.value.message
    with pytest.raises(ApiError) as not_operator:
        principal.require_operator()
    assert not_operator.value.code == "operator_only"
    assert principal.may_read("a") and not principal.may_read("b") and not principal.may_read("a", PERSONAL_DATA)
    assert OPERATOR_PRINCIPAL.may_read("any", PERSONAL_DATA) and OPERATOR_PRINCIPAL.require_operator()


def test_authenticate_the_operator_keys_and_their_failures():
    store = MemoryStore()
    record, token = admin.create_key(store, ["a", "b"], ["stats", "personal_data"], "", NOW_MS)
    assert login(store, OPERATOR_TOKEN) is OPERATOR_PRINCIPAL
    principal = login(store, token)
    assert principal == Principal("key", record["id"], frozenset({"a", "b"}), frozenset({STATS, PERSONAL_DATA}))
    wrong_secret = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert refused(store, wrong_secret).code == "invalid_token"
    assert refused(store, "li_key_" + "0" * 12 + "_" + "0" * 64).message == "no such API key"
    assert refused(store, "not-the-operator-token").code == "invalid_token"
    admin.revoke(store, "key", record["id"], NOW_MS + 1)
    assert refused(store, token).message == "this API key was revoked"
    # keys keep working with no operator token configured; anything else is the closed read API
    other = admin.create_key(store, ["a"], ["stats"], "", NOW_MS)[1]
    assert auth.authenticate(f"Bearer {other}", "", store, NOW_MS).kind == "key"
    with pytest.raises(ApiError) as closed:
        auth.authenticate("Bearer guess", "", store, NOW_MS)
    assert closed.value.code == "read_api_disabled"


def test_last_use_is_noted_at_most_every_five_minutes_and_never_fails_a_read():
    store = MemoryStore()
    record, token = admin.create_key(store, ["a"], ["stats"], "", NOW_MS)
    login(store, token, NOW_MS)
    login(store, token, NOW_MS + 299_999)
    assert store.touches == 1 and store.items[("key", record["id"])]["last_used_at_ms"] == NOW_MS
    login(store, token, NOW_MS + 300_000)
    assert store.touches == 2 and store.items[("key", record["id"])]["last_used_at_ms"] == NOW_MS + 300_000

    def unavailable(*_):
        raise StoreUnavailable("throttled")
    store.touch = unavailable
    assert login(store, token, NOW_MS + 900_000).kind == "key"


def test_shared_links_their_password_and_sessions_that_end():
    store = MemoryStore()
    public, public_token = admin.create_link(store, "a", "", NOW_MS)
    assert login(store, public_token) == Principal("link", public["id"], frozenset({"a"}), frozenset({STATS}))
    assert public["password_protected"] is False
    record, token = admin.create_link(store, "a", "", NOW_MS, password="pw")
    assert refused(store, token).code == "share_password_required"
    with pytest.raises(ApiError) as wrong:
        admin.unlock(store, {"token": token, "password": "nope"}, NOW_MS)
    assert (wrong.value.status_code, wrong.value.code) == (401, "invalid_password")
    with pytest.raises(ApiError) as no_password:
        admin.unlock(store, {"token": public_token, "password": "pw"}, NOW_MS)
    assert no_password.value.code == "share_not_password_protected"

    unlocked = admin.unlock(store, {"token": token, "password": "pw"}, NOW_MS)
    assert unlocked["expires_in_seconds"] == 43_200
    session = unlocked["token"]
    assert login(store, session, NOW_MS + 43_199_000).sites == frozenset({"a"})
    assert refused(store, session, NOW_MS + 43_200_000).code == "share_session_expired"
    # a session MACed with the link's own key: another expiry, or another link's key, does not verify
    _, _, link_id, expires, mac = session.split("_")
    assert refused(store, f"li_sess_{link_id}_{int(expires) + 1000:010d}_{mac}").code == "share_session_expired"
    forged = credentials.session_token(link_id, b"\0" * 32, int(expires))
    assert refused(store, forged).code == "share_session_expired"
    admin.revoke(store, "link", record["id"], NOW_MS)
    assert refused(store, session).message == "this shared link was revoked"


def test_the_operator_asks_for_what_can_be():
    store = MemoryStore()
    for sites, scopes in ((["A"], ["stats"]), ([], ["stats"]), (["a"], ["admin"]), (["a"], []),
                          (["zzz"], ["stats"])):
        with pytest.raises(admin.AccessError):
            admin.create_key(store, sites, scopes, "", NOW_MS, known_sites={"a"})
    with pytest.raises(admin.AccessError):
        admin.revoke(store, "key", "not-an-id", NOW_MS)
    with pytest.raises(admin.AccessError):
        admin.revoke(store, "key", "0" * 12, NOW_MS)
    with pytest.raises(admin.AccessError):
        admin.create_link(store, "a", "", NOW_MS, password="")
    assert store.items == {}
    admin.create_key(store, ["a"], ["stats"], "first", NOW_MS)
    admin.create_link(store, "a", "second", NOW_MS + 1, password="pw")
    listed = admin.list_credentials(store)
    assert [r["label"] for r in listed] == ["first", "second"]
    assert all(not {"secret_sha256", "session_key", "password"} & set(r) for r in listed)
    assert listed[1]["password_protected"] is True and listed[0]["last_used_at_ms"] is None

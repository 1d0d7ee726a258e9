"""Who a request comes from and what it may read: the operator (everything), an API key (its sites and
scopes) or a shared link (stats of its one site). Routes ask `require(site, scope)` before they read."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.errors import ApiError

STATS = "stats"  # aggregate statistics: /stats*, the Stats API v1/v2, funnels
PERSONAL_DATA = "personal_data"  # sessions, a visitor's sessions, raw-row exports
SCOPES = (STATS, PERSONAL_DATA)

OPERATOR, KEY, LINK = "operator", "key", "link"
_NAMES = {OPERATOR: "the operator token", KEY: "this API key", LINK: "this shared link"}


@dataclass(frozen=True)
class Principal:
    kind: str  # OPERATOR, KEY or LINK
    credential_id: str = ""
    sites: frozenset[str] | None = None  # None: every site (the operator)
    scopes: frozenset[str] = frozenset(SCOPES)

    @property
    def name(self) -> str:
        return _NAMES[self.kind] + (f" ({self.credential_id})" if self.credential_id else "")

    def may_read(self, site: str, scope: str = STATS) -> bool:
        return scope in self.scopes and (self.sites is None or site in self.sites)

    def require_scope(self, scope: str) -> Principal:
        if scope not in self.scopes:
            raise ApiError(403, "missing_scope", f"{self.name} lacks the scope {scope!r} this route needs "
                                                 f"(it has: {', '.join(sorted(self.scopes)) or 'none'})",
                           field="Authorization")
        return self

    def require(self, site: str, scope: str = STATS, field: str = "site") -> Principal:
        """The caller may read `scope` of `site`, or a 403 naming what it lacks."""
        self.require_scope(scope)
        if self.sites is not None and site not in self.sites:
            raise ApiError(403, "forbidden_site", f"{self.name} may not read site {site[:64]!r} "
                                                  f"(it may read: {', '.join(sorted(self.sites)) or 'none'})",
                           field=field)
        return self

    def require_operator(self) -> Principal:
        if self.kind != OPERATOR:
            raise ApiError(403, "operator_only", f"only the operator token may do this, not {self.name}",
                           field="Authorization")
        return self


OPERATOR_PRINCIPAL = Principal(OPERATOR)

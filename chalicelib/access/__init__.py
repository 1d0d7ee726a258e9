"""Who may read what: the operator token, API keys scoped to sites and scopes, shared links (docs/access.md)."""

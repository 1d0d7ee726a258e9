"""Accepting events: validation, the collector use case and the per-site rate limit."""

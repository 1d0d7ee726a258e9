"""Files the app serves itself (the dashboard), read once per process."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def static_file(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def static_version(name: str) -> str:
    """A short content hash: the file's ETag and the `v` of its versioned URL."""
    return hashlib.sha256(static_file(name).encode("utf-8")).hexdigest()[:16]

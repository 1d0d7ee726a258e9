"""Files the app serves itself (the dashboard), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def static_file(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")

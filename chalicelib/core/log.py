"""Structured JSON logs on stdout, one object per line, with a `level` field.

Only ERROR lines contain the word ERROR, so the operations guide's Logs Insights query
`filter @message like /ERROR/` finds every error and nothing else. Event payloads are never logged:
callers pass counts, codes and ids only.
"""

from __future__ import annotations

import json
import sys
import time

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_context: dict[str, str] = {}


def set_context(**fields: str) -> None:
    """Fields added to every line until the next call (the Lambda request id, for one)."""
    _context.clear()
    _context.update({k: v for k, v in fields.items() if v})


def log(level: str, message: str, **fields) -> None:
    assert level in LEVELS, level
    line = {"level": level, "time_ms": int(time.time() * 1000), "message": message, **_context, **fields}
    text = json.dumps(line, default=str, separators=(",", ":"))
    if level != "ERROR":
        # A value we did not write ourselves must not make an ordinary line look like an error.
        text = text.replace("ERROR", "Error")
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

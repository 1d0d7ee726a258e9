"""One time budget per request or job run, shared by all its DynamoDB calls.

API Gateway gives up on a request at 29 s and Lambda stops a function at its timeout; an answer must
come before either, whatever DynamoDB does. A context variable carries the budget, so the store sees
it without every call passing it along, and nested budgets can only shorten it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_expires_at: ContextVar[float | None] = ContextVar("liveinsight_deadline", default=None)


@contextmanager
def within(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Everything inside shares one budget of `seconds` (or less, if an outer budget ends sooner)."""
    outer = _expires_at.get()
    expires = clock() + seconds
    token = _expires_at.set(expires if outer is None else min(outer, expires))
    try:
        yield
    finally:
        _expires_at.reset(token)


def remaining_seconds(clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left of the current budget; None outside any."""
    expires = _expires_at.get()
    return None if expires is None else expires - clock()

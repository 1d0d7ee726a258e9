"""The process-wide collaborators, built once on first use (after the stage's environment is set)
and reset by tests. This is the only place that wires settings, clients and the domain together.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from .collector import Collector
from .metrics import Metrics
from .settings import Settings, load_settings


@dataclass
class Services:
    settings: Settings
    dynamodb_client: object | None = None  # None: create the real client on first use
    backoff: object | None = None  # store.Backoff; None: the default retry policy

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self.settings.metrics_environment)

    @cached_property
    def collector(self) -> Collector:
        from .store import EventStore, SaltStore, create_dynamodb_client  # loads boto3: keep it lazy

        client = self.dynamodb_client or create_dynamodb_client()
        return Collector(
            settings=self.settings,
            events=EventStore(client, self.settings.events_table, self.backoff),
            salts=SaltStore(client, self.settings.events_table),
            metrics=self.metrics,
        )


_services: Services | None = None
_lock = threading.Lock()  # chalice local serves requests on threads


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = Services(load_settings())
    return _services


def set_services(services: Services | None) -> None:
    """Tests and tools install their own wiring (or None to rebuild from the environment)."""
    global _services
    _services = services

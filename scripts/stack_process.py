"""The local stack (scripts/local_stack.py) as a child process on free loopback ports, for scripts that need
their own one (make screenshots, bench) and for the end-to-end tests (tests/e2e/conftest.py)."""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60
TOKEN = "local-dev-token"  # the local stage's operator token (.chalice/config.json)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class StackProcess:
    base: str
    api_port: int
    ddb_port: int
    process: subprocess.Popen
    # The stack's last 2,000 log lines: its output is read all the time, or a full pipe would block the server.
    log_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2000))

    def __post_init__(self) -> None:
        threading.Thread(target=lambda: self.log_tail.extend(self.process.stdout), daemon=True).start()

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.ddb_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> StackProcess:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def start(extra_env: dict[str, str] | None = None) -> StackProcess:
    """Starts the stack and waits for GET /health; a stack that does not come up is a RuntimeError with its log."""
    api_port, ddb_port = free_port(), free_port()
    env = {**os.environ, "LIVEINSIGHT_PORT": str(api_port), "LIVEINSIGHT_DDB_PORT": str(ddb_port),
           **(extra_env or {})}
    process = subprocess.Popen([sys.executable, "scripts/local_stack.py"], cwd=PROJECT_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return StackProcess(base=base, api_port=api_port, ddb_port=ddb_port, process=process)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"local stack did not start:\n{process.stdout.read()}") from None
            time.sleep(0.2)

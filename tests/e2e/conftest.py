"""Starts the real local stack (scripts/local_stack.py) as a process on free loopback ports."""

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

import boto3
import pytest

from tests.conftest import PROJECT_DIR

STARTUP_TIMEOUT_SECONDS = 60
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium says "HeadlessChrome", which LiveInsight rightly drops as a bot, so the
# browser plays an ordinary desktop Chrome. It is set on the command line, not per context: requests
# a page sends while it unloads (keepalive, sendBeacon) carry the browser's own user agent.
VISITOR_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
              "Safari/537.36")
# Flags that keep Chromium off the network (this machine has none) and fit running as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", f"--user-agent={VISITOR_UA}"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright: never a downloaded browser."""
    assert os.path.exists(CHROMIUM), "Chromium is missing: apt-get install chromium (make test and .ci/run do)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    base: str
    api_port: int
    process: subprocess.Popen
    dynamodb: object
    # The stack's last 2,000 log lines: its output is read all the time, or a full pipe would block the server.
    log_tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2000))

    def __post_init__(self) -> None:
        threading.Thread(target=lambda: self.log_tail.extend(self.process.stdout), daemon=True).start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_stack(extra_env: dict[str, str]) -> Stack:
    api_port, ddb_port = free_port(), free_port()
    env = {**os.environ, "LIVEINSIGHT_PORT": str(api_port), "LIVEINSIGHT_DDB_PORT": str(ddb_port), **extra_env}
    process = subprocess.Popen([sys.executable, "scripts/local_stack.py"], cwd=PROJECT_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"local stack did not start:\n{process.stdout.read()}")
            time.sleep(0.2)
    dynamodb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{ddb_port}", region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    return Stack(base=base, api_port=api_port, process=process, dynamodb=dynamodb)

"""Starts the real local stack (scripts/local_stack.py) as a process on free loopback ports."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest

from scripts import stack_process
from scripts.stack_process import StackProcess

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


@dataclass
class Stack:
    """scripts/stack_process.py's running stack (its log read all the time) and a client of its DynamoDB."""

    running: StackProcess
    dynamodb: object

    base = property(lambda self: self.running.base)
    api_port = property(lambda self: self.running.api_port)
    process = property(lambda self: self.running.process)
    log_tail = property(lambda self: self.running.log_tail)

    def stop(self) -> None:
        self.running.stop()


def start_stack(extra_env: dict[str, str]) -> Stack:
    try:
        running = stack_process.start(extra_env)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    dynamodb = boto3.client("dynamodb", endpoint_url=running.dynamodb_url, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    return Stack(running, dynamodb)


def clear_of_midnight(zone: str, margin_seconds: int) -> None:
    """Tests whose visits must fall on one of the site's days wait, when its midnight is less than
    margin_seconds away (before or after), until it is margin_seconds behind: at most twice the margin, and
    the test still runs (no skip)."""
    now = datetime.now(ZoneInfo(zone))
    since_midnight = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    to_midnight = ((now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0) - now).total_seconds()
    if since_midnight < margin_seconds:
        time.sleep(margin_seconds - since_midnight)
    elif to_midnight < margin_seconds:
        time.sleep(to_midnight + margin_seconds)

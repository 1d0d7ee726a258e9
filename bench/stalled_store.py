"""The worst-case answer time when DynamoDB stalls: the real collector, the real botocore client and
its timeouts, against an endpoint on loopback that accepts connections and never answers.

    .venv/bin/python -m bench.stalled_store        (make bench records it as stalled_answer_seconds)
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager


@contextmanager
def black_hole():
    """A TCP server that reads requests and never answers: DynamoDB at its worst."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            held.append(connection)  # kept open, never written to

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def measure() -> dict:
    from bench.run import _aws_env, _settings
    from chalicelib.ingest.collector import IngestRequest
    from chalicelib.services import Services

    _aws_env()
    with black_hole() as endpoint:
        saved = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        try:
            services = Services(_settings())
            body = json.dumps({"event_type": "page_view", "page_url": "https://shop.example/",
                               "event_id": "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}).encode()
            request = IngestRequest(body=body, content_type="application/json", source_ip="203.0.113.7",
                                    user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36")
            collector = services.collector  # built outside the timing, as a warm Lambda has it
            started = time.perf_counter()
            result = collector.collect(request)
            elapsed = time.perf_counter() - started
        finally:
            if saved is None:
                os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB")
            else:
                os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = saved
    return {"stalled_answer_seconds": round(elapsed, 2), "status_code": result.status_code,
            "retry_after": result.headers.get("Retry-After"),
            "statuses": [event["status"] for event in result.body.get("events", [])],
            "deadline_seconds": services.settings.request_deadline_seconds}


if __name__ == "__main__":
    print(json.dumps(measure()))

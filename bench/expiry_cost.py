"""Measures one expiry run's DynamoDB cost with N idle and M active sessions stored (moto, in memory).

    .venv/bin/python -m bench.expiry_cost [idle] [active]     (defaults: 1000 10000)

Counts requests with botocore's event hooks and items read from the responses (the index items
the run read), so the figures are exact, not estimates.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter

MIN = 60_000


def measure(idle: int, active: int) -> dict:
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    import boto3
    from moto import mock_aws

    from chalicelib.core.metrics import Metrics
    from chalicelib.schema.tables import SESSIONS, create_tables
    from chalicelib.sessions.expiry import expire_idle_sessions
    from chalicelib.sessions.model import Session, SessionRules
    from chalicelib.store import SessionStore, to_item

    rules = SessionRules(timeout_ms=30 * MIN, shards=8)
    now = int(time.time() * 1000)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, "bench")
        table = SESSIONS.name("bench")
        items = []
        for i in range(idle + active):
            minutes_ago = 45 if i < idle else 5
            record = {"event_id": str(uuid.UUID(int=i)), "event_type": "page_view", "time_ms": now - minutes_ago * MIN,
                      "page_path": "/", "channel": "Direct"}
            session = Session.start("demo", f"visitor-{i}", "0000000001", record)
            session.schedule_expiry(rules)
            items.append({"PutRequest": {"Item": to_item(session.to_record(rules, 86_400))}})
        for start in range(0, len(items), 25):
            client.batch_write_item(RequestItems={table: items[start:start + 25]})

        calls: Counter[str] = Counter()
        items_read = [0]

        def count_call(model, **_):
            calls[model.name] += 1

        def count_items(parsed, model, **_):
            if model.name in ("Query", "GetItem", "BatchGetItem", "Scan"):
                items_read[0] += parsed.get("Count", 1 if "Item" in parsed else 0)

        client.meta.events.register("before-call.dynamodb", count_call)
        client.meta.events.register("after-call.dynamodb", count_items)
        started = time.perf_counter()
        report = expire_idle_sessions(SessionStore(client, table), rules, Metrics("bench", write=lambda _: None),
                                      now_ms=now, budget_seconds=600)
        elapsed = time.perf_counter() - started
    ended = len(report.ended)
    return {
        "idle_sessions": idle, "active_sessions": active, "ended": ended, "items_read": items_read[0],
        "items_read_per_ended_session": round(items_read[0] / max(1, ended), 3),
        "requests": dict(calls), "requests_total": sum(calls.values()), "seconds_on_moto": round(elapsed, 2),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(measure(*(args or [1000, 10000])), indent=2))

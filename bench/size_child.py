"""One process of bench/function_size.py: the event collector serving visits' requests as the SDK sends
them, with this process's CPU time per request measured (DynamoDB is a moto server in the parent:
AWS_ENDPOINT_URL, so its work is not in this process's CPU time).

    python bench/size_child.py -|REQUESTS_FILE REQUESTS WARM_UP

`-`: visits of three pages as the SDK sends them; a file: given requests ([{"body": ..., "ip": ...}], e.g.
the SDK's recorded ones), all of them. The first WARM_UP synthetic requests are not measured.
Prints one line: BENCH {json}.
"""

import json
import statistics
import sys
import time
import uuid
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def api_event(body: str, ip: str) -> dict:
    """The collector's HTTP API event (payload 1.0) for POST /events from a visitor's address: no CloudFront
    header, so the country comes from the address, as in production; no Origin, as bench/run.py replays."""
    return {
        "version": "1.0", "resource": "/events", "path": "/prod/events", "httpMethod": "POST", "body": body,
        "isBase64Encoded": False, "headers": {"content-type": "text/plain;charset=UTF-8", "user-agent": UA},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/events", "httpMethod": "POST", "stage": "prod", "apiId": "bench",
                           "requestId": "bench", "path": "/prod/events", "identity": {"sourceIp": ip}},
    }


def visit_requests(visitor: int, now_ms: int) -> list[str]:
    """What the SDK sends for a visit of three pages: each page view with the last page's engagement."""
    def page(n: int) -> dict:  # as the SDK sends them: its own event ids, no user id (a cookieless visitor)
        return {"event_type": "page_view", "event_id": str(uuid.uuid4()), "timestamp": now_ms + n * 20_000,
                "page_url": f"https://shop.example/p{(visitor + n) % 12}"}

    def engaged(n: int) -> dict:
        return {"event_type": "engagement", "event_id": str(uuid.uuid4()), "timestamp": now_ms + n * 20_000 + 15_000,
                "page_url": f"https://shop.example/p{(visitor + n) % 12}",
                "properties": {"engaged_ms": 15_000, "scroll_pct": 60}}

    return [json.dumps({"events": [page(0)]}),
            json.dumps({"events": [engaged(0), page(1)]}),
            json.dumps({"events": [engaged(1), page(2)]}),
            json.dumps({"events": [engaged(2)]})]


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    source, requests, warm_up = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, str(PROJECT_DIR))
    import botocore.client

    import app

    in_calls = {"wait_ms": 0.0, "calls": 0}
    original = botocore.client.BaseClient._make_api_call

    def timed(self, operation, params):
        cpu, started = time.process_time(), time.perf_counter()
        try:
            return original(self, operation, params)
        finally:  # a call's wall time less the CPU botocore spent in it: waiting for the server
            in_calls["wait_ms"] += ((time.perf_counter() - started) - (time.process_time() - cpu)) * 1000
            in_calls["calls"] += 1

    botocore.client.BaseClient._make_api_call = timed
    now_ms = int(time.time() * 1000)
    synthetic = [(body, f"81.2.{visitor // 250 % 250}.{visitor % 250 + 1}")
                 for visitor in range(requests // 4 + warm_up + 1) for body in visit_requests(visitor, now_ms)]
    if source == "-":
        bodies = synthetic[:requests + warm_up]
    else:
        bodies = synthetic[:warm_up] + [(r["body"], r["ip"]) for r in json.loads(Path(source).read_text())]
    walls, waits, cpus, calls = [], [], [], []
    for n, (body, ip) in enumerate(bodies):
        in_calls.update(wait_ms=0.0, calls=0)
        cpu, started = time.process_time(), time.perf_counter()
        answer = app.app(api_event(body, ip), None)
        wall = (time.perf_counter() - started) * 1000
        assert answer["statusCode"] == 200, answer
        if n >= warm_up:  # the first requests load the parsers and open the clients: a cold start's work
            walls.append(wall)
            waits.append(in_calls["wait_ms"])
            cpus.append((time.process_time() - cpu) * 1000)
            calls.append(in_calls["calls"])
    sys.stdout.flush()

    def p(values, q):
        return round(statistics.quantiles(values, n=100)[q - 1], 2) if len(values) > 1 else round(values[0], 2)

    print("BENCH " + json.dumps({
        "requests": len(walls), "wall_ms_mean": round(statistics.fmean(walls), 2), "wall_ms_p50": p(walls, 50),
        "wall_ms_p95": p(walls, 95), "cpu_ms_mean": round(statistics.fmean(cpus), 2), "cpu_ms_p95": p(cpus, 95),
        "server_wait_ms_mean": round(statistics.fmean(waits), 2),
        "dynamodb_calls_per_request": round(statistics.fmean(calls), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1)}), file=sys.__stderr__)


if __name__ == "__main__":
    main()

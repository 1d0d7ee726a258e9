"""One fresh process of `make bench`: cold start (import + first request, clients included) and
peak memory after N events, for LiveInsight's handler or the baseline. DynamoDB and CloudWatch are
a moto server in the parent process (AWS_ENDPOINT_URL), so this process holds only the handler.

    python bench/child.py {ours,baseline} EVENTS BATCH
prints one JSON line: {"cold_start_ms": ..., "import_ms": ..., "peak_rss_mb": ..., "events": ...}
(import_ms: the handler module's import, what Lambda's init phase runs; the rest of cold_start_ms is the
first request, which loads what that request needs: boto3, the user-agent parser, the country database).
"""

import json
import resource
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def api_event(body: str) -> dict:
    """What API Gateway hands the Lambda for POST /events."""
    return {
        "resource": "/events", "path": "/events", "httpMethod": "POST", "body": body, "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json", "User-Agent": UA, "CloudFront-Viewer-Country": "DE"},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": "/events", "httpMethod": "POST", "stage": "prod", "apiId": "bench",
                           "requestId": "bench", "identity": {"sourceIp": "203.0.113.9"}},
    }


def batch(n: int, visitor: int) -> str:
    events = [{"event_type": "page_view", "page_url": f"https://shop.example/p{i % 20}", "user_id": f"v{visitor}"}
              for i in range(n)]
    return json.dumps({"events": events} if n > 1 else events[0])


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the
    high-water mark of the forked parent across exec, so a child would report the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    target, events, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, str(PROJECT_DIR))
    started = time.perf_counter()
    if target == "ours":
        import app

        handle = app.app
    else:
        from bench import baseline

        handle = baseline.handler
    import_ms = (time.perf_counter() - started) * 1000
    first = handle(api_event(batch(1, 0)), None)
    cold_ms = (time.perf_counter() - started) * 1000
    assert first["statusCode"] == 200, first
    sent = 1
    visitor = 1
    while sent < events:
        response = handle(api_event(batch(min(size, events - sent), visitor % 200)), None)
        assert response["statusCode"] == 200, response
        sent += min(size, events - sent)
        visitor += 1
    rss_mb = peak_rss_mb()
    sys.stdout.flush()
    print("BENCH " + json.dumps({"cold_start_ms": round(cold_ms, 1), "import_ms": round(import_ms, 1),
                                 "peak_rss_mb": round(rss_mb, 1),
                                 "events": sent}), file=sys.__stderr__)


if __name__ == "__main__":
    main()

"""`make local`: the real LiveInsight app on an in-memory DynamoDB emulator, on one laptop.

Starts moto's server on 127.0.0.1 (LIVEINSIGHT_DDB_PORT, default 8001), creates the tables from
chalicelib/schema/tables.py (the same definitions Terraform uses) and serves the app with Chalice's local
server on 127.0.0.1 (LIVEINSIGHT_PORT, default 8000) with the `local` stage, and runs the scheduled
session expiry, statistics rollup and lake compaction on a timer (EXPIRY_INTERVAL_SECONDS, default 60),
since `chalice local` runs no schedules. The event lake lives in the emulator's S3 (bucket
LIVEINSIGHT_LAKE_BUCKET, default liveinsight-local-lake), fed by scripts/local_stream.py polling the
events table's stream as Lambda does (every LAKE_POLL_INTERVAL_SECONDS, default 5); the realtime
statistics are fed from the same stream every STATS_POLL_INTERVAL_SECONDS (default 1). Any LiveInsight
setting exported in the shell (SESSION_TIMEOUT_SECONDS, for one) wins over
the stage's defaults in .chalice/config.json. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STAGE = "local"
DEFAULT_API_PORT = 8000
DEFAULT_LAKE_BUCKET = "liveinsight-local-lake"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        sys.exit(f"{name} must be a port number, got {raw!r}")


def _follow_port(sites_json: str, api_port: int) -> str:
    """The stage's demo site allows the stack's own origins: keep that true on another port."""
    sites = json.loads(sites_json)
    for conf in sites.values():
        conf["origins"] = [
            o.replace(f":{DEFAULT_API_PORT}", f":{api_port}")
            if o.startswith(("http://127.0.0.1:", "http://localhost:")) else o
            for o in conf.get("origins", [])
        ]
    return json.dumps(sites)


class DynamoDBEmulator:
    """moto's server, one request at a time: DynamoDB applies each conditional write atomically,
    and moto does so only when requests do not interleave."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        from scripts.moto_transactions import install

        install()  # transactions at a cost independent of the table size

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ, start_response):
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(HOST, port, serialized, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()


def run_minute_jobs_every(interval_seconds: float, stop: threading.Event) -> threading.Thread:
    """The same minute jobs the deployed schedules run (session expiry, statistics rollup), on a timer."""
    from chalicelib.core.log import log
    from chalicelib.services import get_services

    def loop() -> None:
        while not stop.wait(interval_seconds):
            try:
                report = get_services().expire_sessions()
                if report.ended:
                    print(f"[expiry] ended {len(report.ended)} idle session(s)", flush=True)
                get_services().roll_up_stats()
            except Exception as exc:  # noqa: BLE001 - keep the timer alive, say what went wrong
                log("ERROR", "local minute job failed", error=repr(exc))
            try:
                get_services().compact_lake()
            except Exception as exc:  # noqa: BLE001 - the lake's job fails on its own
                log("ERROR", "local lake compaction failed", error=repr(exc))

    thread = threading.Thread(target=loop, name="minute-jobs", daemon=True)
    thread.start()
    return thread


def start_event_streams(endpoint: str, events_table: str, stop: threading.Event) -> tuple[float, float]:
    """The events table's stream to both stream functions' bodies (the lake writer, the statistics),
    each polled on its own like Lambda polls it; returns their intervals."""
    import boto3

    from chalicelib.services import get_services
    from chalicelib.store import create_dynamodb_client
    from scripts.local_stream import start_polling

    lake_seconds = float(os.environ.get("LAKE_POLL_INTERVAL_SECONDS") or 5)
    # The realtime view's: in AWS a batch waits at most 5 s (app.py); locally every second is cheap.
    stats_seconds = float(os.environ.get("STATS_POLL_INTERVAL_SECONDS") or 1)
    arn = create_dynamodb_client().describe_table(TableName=events_table)["Table"]["LatestStreamArn"]
    # moto serves DynamoDB Streams on the same port; the client needs the endpoint named (FIELD-NOTES).
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    start_polling(streams, arn, lambda event: get_services().write_event_lake(event), lake_seconds, stop)
    start_polling(streams, arn, lambda event: get_services().aggregate_events(event), stats_seconds, stop)
    return lake_seconds, stats_seconds


def main() -> int:
    api_port = _port("LIVEINSIGHT_PORT", DEFAULT_API_PORT)
    ddb_port = _port("LIVEINSIGHT_DDB_PORT", 8001)
    # The emulator accepts any credentials; these keep boto3 from looking for real ones.
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://{HOST}:{ddb_port}"
    os.environ["AWS_ENDPOINT_URL_S3"] = f"http://{HOST}:{ddb_port}"  # moto serves S3 on the same port
    sys.path.insert(0, str(PROJECT_DIR))

    from chalice.cli.factory import CLIFactory

    from chalicelib.schema.tables import EVENTS, create_tables
    from chalicelib.store import create_dynamodb_client
    from chalicelib.store.lake import create_s3_client

    dynamodb = DynamoDBEmulator(ddb_port)
    dynamodb.start()
    stop_expiry = threading.Event()
    try:
        tables = create_tables(create_dynamodb_client(), STAGE)

        factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=STAGE)
        stage_env = dict(config.environment_variables)
        if "LIVEINSIGHT_SITES" in stage_env:
            stage_env["LIVEINSIGHT_SITES"] = _follow_port(stage_env["LIVEINSIGHT_SITES"], api_port)
        stage_env.setdefault("LIVEINSIGHT_LAKE_BUCKET", DEFAULT_LAKE_BUCKET)
        shell = {k: os.environ[k] for k in stage_env if k in os.environ}
        app = factory.load_chalice_app({**stage_env, **shell})  # sets os.environ; the shell wins
        lake_bucket = os.environ["LIVEINSIGHT_LAKE_BUCKET"]
        create_s3_client().create_bucket(Bucket=lake_bucket)
        poll_interval, stats_interval = start_event_streams(f"http://{HOST}:{ddb_port}", EVENTS.name(STAGE),
                                                            stop_expiry)
        server = factory.create_local_server(app, config, HOST, api_port)
        expiry_interval = float(os.environ.get("EXPIRY_INTERVAL_SECONDS") or 60)
        run_minute_jobs_every(expiry_interval, stop_expiry)
        timeout = os.environ.get("SESSION_TIMEOUT_SECONDS")

        base = f"http://{HOST}:{api_port}"
        print(f"""
LiveInsight is running (stage '{STAGE}').
  API          {base}/events   (POST)      health: {base}/health
  DynamoDB     http://{HOST}:{ddb_port}  (moto emulator; tables: {', '.join(tables)})
  Sessions     end after {timeout}s idle; expiry runs every {expiry_interval:g}s
  Statistics   from the events table's stream, polled every {stats_interval:g}s
  Event lake   s3://{lake_bucket}/events/ in the emulator; the stream is polled every {poll_interval:g}s,
               compaction runs every {expiry_interval:g}s
  Dashboard    {base}/dashboard    token: {os.environ.get("LIVEINSIGHT_API_TOKEN", "")}
  Demo site    {base}/demo         (the SDK installed; click around and watch the dashboard)
               or run `make traffic` in another terminal to send demo visits
  Read API     Authorization: Bearer {os.environ.get("LIVEINSIGHT_API_TOKEN", "")}
               e.g. {base}/stats/realtime  {base}/visitors/test/sessions
  Data lives in memory only: it is gone when you stop this with Ctrl-C.

Try:  curl -X POST {base}/events -H "Content-Type: application/json" \\
        -d '{{"user_id":"test","event_type":"page_view","page_url":"https://example.com"}}'
""", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nStopping LiveInsight (in-memory data discarded).", flush=True)
    finally:
        stop_expiry.set()
        dynamodb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make local`: the real LiveInsight app on an in-memory DynamoDB emulator, on one laptop.

Starts moto's server on 127.0.0.1 (LIVEINSIGHT_DDB_PORT, default 8001), creates the tables from
chalicelib/tables.py (the same definitions Terraform uses) and serves the app with Chalice's local
server on 127.0.0.1 (LIVEINSIGHT_PORT, default 8000) with the `local` stage. Any LiveInsight setting
exported in the shell wins over the stage's defaults in .chalice/config.json. Ctrl-C stops both.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STAGE = "local"
DEFAULT_API_PORT = 8000


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


def start_dynamodb(port: int):
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    return server


def main() -> int:
    api_port = _port("LIVEINSIGHT_PORT", DEFAULT_API_PORT)
    ddb_port = _port("LIVEINSIGHT_DDB_PORT", 8001)
    # The emulator accepts any credentials; these keep boto3 from looking for real ones.
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://{HOST}:{ddb_port}"
    sys.path.insert(0, str(PROJECT_DIR))

    from chalice.cli.factory import CLIFactory

    from chalicelib.store import create_dynamodb_client
    from chalicelib.tables import create_tables

    dynamodb = start_dynamodb(ddb_port)
    try:
        tables = create_tables(create_dynamodb_client(), STAGE)

        factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name=STAGE)
        stage_env = dict(config.environment_variables)
        if "LIVEINSIGHT_SITES" in stage_env:
            stage_env["LIVEINSIGHT_SITES"] = _follow_port(stage_env["LIVEINSIGHT_SITES"], api_port)
        shell = {k: os.environ[k] for k in stage_env if k in os.environ}
        app = factory.load_chalice_app({**stage_env, **shell})  # sets os.environ; the shell wins
        server = factory.create_local_server(app, config, HOST, api_port)

        base = f"http://{HOST}:{api_port}"
        print(f"""
LiveInsight is running (stage '{STAGE}').
  API          {base}/events   (POST)      health: {base}/health
  DynamoDB     http://{HOST}:{ddb_port}  (moto emulator; tables: {', '.join(tables)})
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
        dynamodb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

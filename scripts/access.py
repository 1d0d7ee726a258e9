"""`make key-create`, `make keys`, `make key-revoke`, `make share-create`, `make share-revoke`: the read API's
API keys and shared links (docs/access.md) in a stage's Access table.

STAGE=local (the default) talks to `make local`'s DynamoDB on 127.0.0.1:8001 (AWS_ENDPOINT_URL_DYNAMODB
overrides it); a deployed stage's table is reached with boto3's default credentials and the stage's region.
A key or link is printed once, when it is created: only a hash of its secret is stored.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

LOCAL_DYNAMODB = "http://127.0.0.1:8001"  # scripts/local_stack.py's
LOCAL_API = "http://127.0.0.1:8000"


def main(argv: list[str] | None = None, client=None, say=print) -> int:
    from chalicelib.access import admin
    from chalicelib.access.credentials import KEY, LINK

    args = _parser().parse_args(argv)
    store = _store(args.stage, client)
    now_ms = int(time.time() * 1000)
    try:
        if args.command == "key-create":
            record, token = admin.create_key(store, _split(args.site), _split(args.scopes), args.label, now_ms,
                                             known_sites=_known_sites(args.stage))
            say(f"API key {record['id']} for {', '.join(record['sites'])} ({', '.join(record['scopes'])}):")
            say(f"  {token}")
            say("Shown this once: only its hash is stored. Send it as 'Authorization: Bearer <key>'.")
        elif args.command == "share-create":
            password = _password() if args.password else None
            record, token = admin.create_link(store, args.site, args.label, now_ms, password=password,
                                              known_sites=_known_sites(args.stage))
            base = os.environ.get("API_URL", LOCAL_API if args.stage == "local" else "<API base URL>").rstrip("/")
            say(f"Shared link {record['id']} (stats of {record['site']}"
                f"{', password-protected' if password is not None else ''}):")
            say(f"  {base}/dashboard?site={record['site']}#share={token}")
            say("Shown this once: only its hash is stored. `make share-revoke ID=...` ends it and its sessions.")
        elif args.command in ("key-revoke", "share-revoke"):
            record = admin.revoke(store, KEY if args.command == "key-revoke" else LINK, args.id, now_ms)
            say(f"revoked {args.command.split('-')[0]} {record['id']} at {_when(record['revoked_at_ms'])}")
        else:
            _print_list(admin.list_credentials(store), say, args.json)
    except admin.AccessError as exc:
        say(f"error: {exc}")
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/access.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="local")
    commands = parser.add_subparsers(dest="command", required=True)
    key = commands.add_parser("key-create", help="a new API key, printed once")
    key.add_argument("--site", required=True, help="site ids, comma-separated")
    key.add_argument("--scopes", default="stats", help="stats and/or personal_data, comma-separated")
    key.add_argument("--label", default="")
    listing = commands.add_parser("keys", help="every API key and shared link, without secrets")
    listing.add_argument("--json", action="store_true")
    share = commands.add_parser("share-create", help="a shared link: stats of one site, read-only")
    share.add_argument("--site", required=True)
    share.add_argument("--label", default="")
    share.add_argument("--password", action="store_true", help="ask for a password (stdin if not a terminal)")
    for name in ("key-revoke", "share-revoke"):
        commands.add_parser(name).add_argument("--id", required=True)
    return parser


def _store(stage: str, client):
    from chalicelib.schema.tables import ACCESS
    from chalicelib.store.access import AccessStore

    if client is None:
        if stage == "local":
            os.environ.setdefault("AWS_ENDPOINT_URL_DYNAMODB", LOCAL_DYNAMODB)
            for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
                os.environ.setdefault(name, value)
        else:
            os.environ.setdefault("AWS_DEFAULT_REGION", _stage_region(stage))
        from chalicelib.store import create_dynamodb_client

        client = create_dynamodb_client()
    return AccessStore(client, ACCESS.name(stage))


def _stage_region(stage: str) -> str:
    from deploy.hcl import load_hcl

    tfvars = PROJECT_DIR / "terraform" / "environments" / f"{stage}.tfvars"
    return os.environ.get("AWS_REGION") or (load_hcl(tfvars).get("region") if tfvars.exists() else None) or "us-east-1"


def _known_sites(stage: str) -> set[str] | None:
    """The stage's sites, to refuse a typo: LIVEINSIGHT_SITES if exported (make local's shell wins too), else
    the local stage's config; a deployed stage's are in its tfvars, not read here (site ids are still checked)."""
    raw = os.environ.get("LIVEINSIGHT_SITES")
    if raw is None and stage == "local":
        config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
        raw = config["stages"]["local"].get("environment_variables", {}).get("LIVEINSIGHT_SITES")
    try:
        return set(json.loads(raw)) if raw else None
    except (ValueError, TypeError):
        return None


def _password() -> str:
    if not sys.stdin.isatty():  # piped: `echo "$PW" | make share-create SITE=demo PASSWORD=1`
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password of the shared link: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("error: the passwords differ")
    return first


def _print_list(records: list[dict], say, as_json: bool) -> None:
    if as_json:
        say(json.dumps(records, indent=2, default=str))
        return
    if not records:
        say("no API keys or shared links yet (make key-create SITE=..., make share-create SITE=...)")
    for r in records:
        what = ("key  " + ",".join(r["sites"]) + " " + ",".join(r["scopes"]) if r["kind"] == "key"
                else "link " + r["site"] + (" (password)" if r.get("password_protected") else ""))
        state = f"revoked {_when(r['revoked_at_ms'])}" if r["revoked_at_ms"] else "active"
        say(f"{r['id']}  {what}  created {_when(r['created_at_ms'])}  last used {_when(r['last_used_at_ms'])}  "
            f"{state}  {r.get('label') or ''}".rstrip())


def _when(ms: int | None) -> str:
    return "never" if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.core.errors import StoreUnavailable

    try:
        sys.exit(main())
    except (BotoCoreError, ClientError, StoreUnavailable) as exc:
        sys.exit(f"error: DynamoDB did not answer ({exc}); for STAGE=local, is `make local` running?")

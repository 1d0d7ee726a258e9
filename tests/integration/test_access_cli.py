"""The operator's CLI end to end (docs/access.md): `make key-create`, `make keys`, `make key-revoke`,
`make share-create`, `make share-revoke` against a DynamoDB endpoint on loopback (moto's server, as
`make local` runs it, with the stage's tables), then the created key read back through the app."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.access import auth
from chalicelib.schema.tables import ACCESS, create_tables
from chalicelib.store.access import AccessStore
from tests.conftest import PROJECT_DIR

STAGE = "local"


@pytest.fixture(scope="module")
def endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url, aws_access_key_id="local",
                          aws_secret_access_key="local")
    create_tables(client, STAGE)
    yield url, client
    server.stop()


def make(endpoint_url: str, *arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("LIVEINSIGHT_SITES", None)
    env.pop("STAGE", None)
    # -o: the venv this test runs in is taken as installed (make would otherwise refresh it first)
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", *arguments], cwd=PROJECT_DIR,
                          env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_create_list_use_and_revoke_a_key_and_a_link_through_make(endpoint):
    url, client = endpoint
    created = make(url, "key-create", "SITE=demo", "SCOPES=stats,personal_data", "LABEL=it's the CI's")
    assert created.returncode == 0, created.stderr
    [token] = re.findall(r"li_key_[0-9a-f]{12}_[0-9a-f]{64}", created.stdout)
    key_id = token.split("_")[2]
    stored = client.get_item(TableName=ACCESS.name(STAGE), Key={"pk": {"S": f"key#{key_id}"}})["Item"]
    assert token.split("_")[3] not in json.dumps(stored)  # never the secret itself
    assert stored["label"]["S"] == "it's the CI's" and stored["scopes"]["L"] == [{"S": "personal_data"}, {"S": "stats"}]

    # the key works through the app's own check, on the same table
    store = AccessStore(client, ACCESS.name(STAGE))
    principal = auth.authenticate(f"Bearer {token}", "", store, int(time.time() * 1000))
    assert principal.sites == frozenset({"demo"}) and principal.may_read("demo", "personal_data")

    shared = make(url, "share-create", "SITE=demo", "PASSWORD=1", "LABEL=board", stdin="s3cret\n")
    assert shared.returncode == 0, shared.stderr
    [link] = re.findall(r"http://127\.0\.0\.1:8000/dashboard\?site=demo#share=(li_link_[0-9a-f]{12}_[0-9a-f]{64})",
                        shared.stdout)
    link_id = link.split("_")[2]

    listed = make(url, "keys")
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout and link not in listed.stdout
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "key  demo personal_data,stats" in lines[key_id] and "last used 20" in lines[key_id]  # used above
    assert "active" in lines[key_id]
    assert "link demo (password)" in lines[link_id] and "last used never" in lines[link_id]

    assert make(url, "key-revoke", f"ID={key_id}").returncode == 0
    assert make(url, "share-revoke", f"ID={link_id}").returncode == 0
    with pytest.raises(Exception) as refused:
        auth.authenticate(f"Bearer {token}", "", store, int(time.time() * 1000))
    assert getattr(refused.value, "status_code", None) == 401
    relisted = make(url, "keys").stdout
    assert all("revoked 20" in line for line in relisted.splitlines() if line.strip())

    unknown = make(url, "key-revoke", "ID=000000000000")
    assert unknown.returncode != 0 and "no API key 000000000000" in unknown.stdout
    typo = make(url, "key-create", "SITE=demo-typo")
    assert typo.returncode != 0 and "site 'demo-typo' is not configured" in typo.stdout

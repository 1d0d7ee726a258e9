"""Invoking another function of the app and waiting for its answer (the API function hands an erasure
to `erase_visitor`, which has the lake layer and the lake's delete permission)."""

from __future__ import annotations

import json
import os

from chalicelib.core.errors import StoreUnavailable

CONNECT_TIMEOUT_SECONDS = 2


def create_lambda_client(read_timeout_seconds: float):
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                        config=Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=read_timeout_seconds,
                                      retries={"mode": "standard", "total_max_attempts": 1}))


class FunctionInvoker:
    def __init__(self, client, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def invoke(self, payload: dict) -> dict:
        """The function's JSON answer; StoreUnavailable (a 503: retry) when it failed or cannot be reached."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                           Payload=json.dumps(payload).encode())
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"Invoke {self._function} failed: {type(exc).__name__}") from exc
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise StoreUnavailable(f"{self._function} failed: {body[:300]!r}")
        return json.loads(body)

"""The only code that speaks DynamoDB: the client, attribute values and the retry rules.

Low-level client only, from botocore (no boto3: its import and resources cost cold start and hide request counts).
Throttling and transient faults are retried with capped exponential backoff and full jitter; what
still fails becomes StoreUnavailable, so callers never answer 2xx for what was not stored.
"""

from __future__ import annotations

import json
import os
import random
import time
from binascii import a2b_base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.deadline import remaining_seconds
from chalicelib.core.errors import StoreUnavailable

# One attempt of a DynamoDB call takes at most about this long (DynamoDB answers in milliseconds;
# a stalled connection is cut here and retried); an attempt starts only if it fits in the deadline.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
ATTEMPT_SECONDS_MAX = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
BATCH_GET_LIMIT = 100
# Errors worth another try; anything else (validation, access denied, missing table) is a
# deployment fault that retrying cannot fix.
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
RETRYABLE_CODES = THROTTLE_CODES | frozenset({
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
    # a transaction resent (same ClientRequestToken) while its first send is still being applied
    "TransactionInProgressException",
})


def _dynamodb_loader():
    """botocore's data loader, told that DynamoDB is the one service asked for: to check a service's name
    it lists and stats every one of its ~400 service directories, twice per client (~20-35 ms of the
    collector's cold start, bench/child.py). Everything else it loads as botocore's own does."""
    from botocore.loaders import Loader

    class DynamoDBLoader(Loader):
        def list_available_services(self, type_name: str) -> list[str]:
            return ["dynamodb"]

    return DynamoDBLoader()


def read_queries_fast(client) -> None:
    """Makes the client read a Query's answer with json instead of botocore's model walk, which visits every
    attribute value (70% of the minute job's CPU on a busy hour's items: bench/rollup_scale.py). Items are
    the same: DynamoDB's JSON is botocore's answer but for binaries, which stay base64 in it (decoded
    here). botocore is then handed an empty body, and still adds the ResponseMetadata; an error answer is
    left to it. A botocore without the hook would simply parse as before (the Lambda runtime's has it)."""
    client.meta.events.register("before-parse.dynamodb.Query", _parse_query, unique_id="liveinsight-read-queries")


def _parse_query(response_dict: dict, customized_response_dict: dict, **_) -> None:
    if response_dict.get("status_code") != 200 or not response_dict.get("body"):
        return
    answer = json.loads(response_dict["body"])
    if "Items" in answer:
        answer["Items"] = [_decoded_item(item) for item in answer["Items"]]
    if "LastEvaluatedKey" in answer:
        answer["LastEvaluatedKey"] = _decoded_item(answer["LastEvaluatedKey"])
    customized_response_dict.update(answer)
    response_dict["body"] = b"{}"


def _decoded_item(item: dict) -> dict:
    return {name: _decoded(value) for name, value in item.items()}


def _decoded(value: dict) -> dict:
    if "B" in value:
        return {"B": a2b_base64(value["B"])}
    if "BS" in value:
        return {"BS": [a2b_base64(v) for v in value["BS"]]}
    if "M" in value:
        return {"M": _decoded_item(value["M"])}
    if "L" in value:
        return {"L": [_decoded(v) for v in value["L"]]}
    return value


def create_dynamodb_client():
    """One client per process. AWS_ENDPOINT_URL_DYNAMODB points it at the local emulator.

    Made by botocore itself, as boto3.client would (it is a thin wrapper over a botocore session), without
    importing boto3: boto3 brings s3transfer and its resource machinery, ~0.3 s of the collector's cold
    start that a low-level DynamoDB client never uses (bench/child.py, docs/performance.md)."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    session.register_component("data_loader", _dynamodb_loader())
    client = session.create_client(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(
            # Our retries (call() below) are the only ones: each attempt is then bounded, and all of
            # them fit in the request's deadline. botocore's own would multiply the wait unseen.
            # total_max_attempts counts the first attempt; "max_attempts" would count retries only.
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            tcp_keepalive=True,
        ),
    )
    read_queries_fast(client)
    return client


# --- attribute values ---

def to_attribute(value) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float)):
        return {"N": repr(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def from_attribute(attribute: dict):
    (kind, value), = attribute.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "M":
        return {k: from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute(v) for v in value]
    if kind == "NULL":
        return None
    return value  # S, B, BOOL


def to_item(record: dict) -> dict:
    return {k: to_attribute(v) for k, v in record.items()}


def from_item(item: dict) -> dict:
    return {k: from_attribute(v) for k, v in item.items()}


# --- retries ---

@dataclass
class Backoff:
    """Capped exponential backoff with full jitter (the AWS Architecture Blog's recommendation)."""

    attempts: int = 6
    base_seconds: float = 0.05
    cap_seconds: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic  # the deadline's clock (chalicelib.core.deadline)
    # Told of every throttled attempt (the operation's name): the LiveInsight-DynamoDB-Throttles alarm's
    # metric (Metrics.dynamodb_throttled) is counted here, where every DynamoDB call of every function passes.
    on_throttle: Callable[[str], None] | None = None

    def pause(self, attempt: int) -> None:
        self.sleep(self.rand() * min(self.cap_seconds, self.base_seconds * 2 ** attempt))

    def time_left(self) -> float | None:
        return remaining_seconds(self.clock)


def retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_CODES
    return isinstance(exc, BotoCoreError)  # timeouts and connection errors


def throttled(exc: Exception) -> bool:
    """DynamoDB refused for capacity: a throttling error, or a transaction cancelled for one."""
    code = error_code(exc)
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []  # type: ignore[attr-defined]
        return any(reason.get("Code") == "ThrottlingError" for reason in reasons)
    return code in THROTTLE_CODES


def call(backoff: Backoff, operation: Callable, **kwargs):
    """One DynamoDB call, retried on throttling and transient faults while the deadline allows;
    StoreUnavailable after that. Other errors (a failed condition among them) go to the caller."""
    name = getattr(operation, "__name__", "call")
    for attempt in range(backoff.attempts):
        left = backoff.time_left()
        if left is not None and left < ATTEMPT_SECONDS_MAX:  # the answer must not outlive the deadline
            raise StoreUnavailable(f"{name} not attempted: {max(left, 0):.1f} s left of the deadline")
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            if backoff.on_throttle and throttled(exc):
                backoff.on_throttle(name)
            if not retryable(exc):
                raise
            if attempt == backoff.attempts - 1:
                raise StoreUnavailable(f"{name} failed: {error_code(exc)}") from exc
            backoff.pause(attempt)
    raise AssertionError("unreachable")


def condition_failed(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "Unknown")
    return type(exc).__name__

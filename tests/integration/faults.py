"""DynamoDB faults at the botocore level, for tests on moto (mock_aws) or a loopback endpoint.

`FaultInjector(client)` becomes that one client's transport (moto's in-process stub, or the HTTP
send to a loopback endpoint; other clients are untouched) and makes the HTTP attempts its rules
select misbehave as DynamoDB can:

    delay(seconds)          the answer comes late: the clock advances, nobody sleeps
    timeout_before_send()   botocore ConnectTimeoutError (the clock advances by the connect timeout);
                            nothing was applied
    timeout_after_landed()  the request is applied, then botocore ReadTimeoutError (the clock advances by
                            the read timeout): the caller cannot know
    throttle(code)          400 ProvisionedThroughputExceededException (or ThrottlingException...); error()
                            sends any code, e.g. TransactionCanceledException with CancellationReasons
    unprocessed(pick)       BatchWriteItem/BatchGetItem apply only the items `pick` leaves; the others come
                            back as UnprocessedItems/UnprocessedKeys (all picked: 400 throughput exceeded)

Faults act on HTTP attempts, below botocore's retry handler, which retries them as it would real
ones (its waits go to the clock too). A rule selects API calls by operation, by number (1-based,
among the calls the rule matches since it was added) and by a predicate on the call's parameters;
then the attempts of those calls it acts on (default: all of them, so the caller sees the fault
whatever botocore's retry settings; attempts=[1] lets botocore's own retry resend the request).

It also gives TransactWriteItems' ClientRequestToken the meaning AWS gives it and moto ignores: a
repeat of a landed transaction with the same token and parameters within 10 minutes succeeds
without being applied again; with other parameters it is IdempotentParameterMismatchException.
(botocore makes up a token for a call that gives none, so its own retries of one call carry one.)

    clock = Clock()
    client = production_client()              # LiveInsight's client config, inside mock_aws
    faults = FaultInjector(client, clock)
    faults.timeout_after_landed("UpdateItem", calls=1)
    faults.throttle("BatchWriteItem", calls=range(2, 99))
    faults.unprocessed("BatchGetItem", pick=lambda index, key: index == 0)
    faults.delay("Query", 2.5, when=lambda call: call.params.get("IndexName") is None)
    services = wire(client=client)            # with Backoff(sleep=clock.sleep, clock=clock)
    ...; faults.injected  # [Injection(operation, call, attempt, kind)], faults.calls, faults.attempts
"""

from __future__ import annotations

import io
import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

DELAY, TIMEOUT_BEFORE_SEND, TIMEOUT_AFTER_LANDED, ERROR, UNPROCESSED = (
    "delay", "timeout_before_send", "timeout_after_landed", "error", "unprocessed")
PROVISIONED_THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
TOKEN_WINDOW_SECONDS = 600  # how long DynamoDB remembers a ClientRequestToken
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CALL = "liveinsight_fault_call"  # where the call's number and rule ride in botocore's request context
_RETRY_ID = "retry-config-dynamodb"  # botocore's retry handler (legacy, standard and adaptive modes)


class Clock:
    """A monotonic clock that stands still but for what faults and botocore's retry waits add: nobody
    sleeps, and the time the emulator and the test machine take does not count (so a case replays).
    Give it to the stores' Backoff(sleep=clock.sleep, clock=clock) so the request deadline sees the
    delays; reset() sets it to the real monotonic time, before each request whose deadline starts on
    the real clock (Services builds the Collector with time.monotonic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def __call__(self) -> float:
        return self._start + self.injected

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.injected += max(0.0, seconds)

    def reset(self) -> None:
        self._start, self.injected = time.monotonic(), 0.0


@dataclass(frozen=True)
class Call:
    operation: str  # "PutItem"
    number: int  # among this client's calls of the operation, from 1
    params: dict  # as the caller passed them


@dataclass
class Rule:
    kind: str
    operation: str | None  # None: any
    calls: Container[int] | None  # numbers among the calls this rule matches; None: all
    attempts: Container[int] | None  # botocore attempts of a selected call (1 = first); None: all
    when: Callable[[Call], bool] | None
    seconds: float = 0.0
    code: str = ""
    message: str = ""
    fields: dict = field(default_factory=dict)
    pick: Callable[[int, dict], bool] | None = None
    matched: int = 0  # calls that matched operation and predicate
    fired: int = 0  # attempts it acted on

    def selects(self, call: Call) -> bool:
        if self.operation not in (None, call.operation) or (self.when is not None and not self.when(call)):
            return False
        self.matched += 1
        return self.calls is None or self.matched in self.calls


@dataclass(frozen=True)
class Injection:
    operation: str
    call: int
    attempt: int
    kind: str


class FaultInjector:
    def __init__(self, client, clock: Clock | None = None) -> None:
        self.client = client
        self.clock = clock or Clock()
        self.rules: list[Rule] = []
        self.calls: Counter[str] = Counter()  # API calls per operation
        self.attempts: Counter[str] = Counter()  # HTTP attempts per operation
        self.injected: list[Injection] = []
        self._tokens: dict[str, tuple[float, str, bytes]] = {}
        self._lock = threading.Lock()
        events = client.meta.events
        self._stub = _moto_stub()
        if self._stub is not None:
            events.unregister("before-send", self._stub)  # this client's requests now go through _send
        events.register("provide-client-params.dynamodb", self._number_call)
        events.register("before-send.dynamodb", self._send)
        self._retry_handler = self._redirect_retry_waits()

    # --- rules ---

    def delay(self, operation: str | None, seconds: float, **select) -> Rule:
        return self.add(DELAY, operation, seconds=seconds, **select)

    def timeout_before_send(self, operation: str | None, **select) -> Rule:
        return self.add(TIMEOUT_BEFORE_SEND, operation, **select)

    def timeout_after_landed(self, operation: str | None, **select) -> Rule:
        return self.add(TIMEOUT_AFTER_LANDED, operation, **select)

    def throttle(self, operation: str | None, code: str = PROVISIONED_THROUGHPUT_EXCEEDED, **select) -> Rule:
        return self.error(operation, code, "Throughput exceeds the current capacity (injected)", **select)

    def error(self, operation: str | None, code: str, message: str = "injected", fields: dict | None = None,
              **select) -> Rule:
        return self.add(ERROR, operation, code=code, message=message, fields=fields or {}, **select)

    def unprocessed(self, operation: str, pick: Callable[[int, dict], bool] = lambda index, _: index % 2 == 1,
                    **select) -> Rule:
        """`pick(index, item)` says which write requests (or keys), counted across tables, come back."""
        assert operation in ("BatchWriteItem", "BatchGetItem"), operation
        return self.add(UNPROCESSED, operation, pick=pick, **select)

    def add(self, kind: str, operation: str | None, *, calls: int | Iterable[int] | None = None,
            attempts: Iterable[int] | None = None, when: Callable[[Call], bool] | None = None, **details) -> Rule:
        if isinstance(calls, int):
            calls = {calls}
        elif calls is not None and not isinstance(calls, (range, set, frozenset)):
            calls = set(calls)
        rule = Rule(kind, operation, calls, None if attempts is None else set(attempts), when, **details)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def uninstall(self) -> None:
        events = self.client.meta.events
        events.unregister("provide-client-params.dynamodb", self._number_call)
        events.unregister("before-send.dynamodb", self._send)
        if self._retry_handler is not None:
            events.unregister("needs-retry.dynamodb", unique_id=_RETRY_ID)
            events.register("needs-retry.dynamodb", self._retry_handler, unique_id=_RETRY_ID)
        if self._stub is not None:
            events.register("before-send", self._stub)

    # --- botocore hooks ---

    def _number_call(self, params, model, context, **_):
        with self._lock:
            self.calls[model.name] += 1
            call = Call(model.name, self.calls[model.name], params)
            selecting = [r for r in self.rules if r.selects(call)]  # every rule counts its matches
            context[_CALL] = (call, selecting[0] if selecting else None)  # the first added wins

    def _rule_for(self, request, operation: str) -> Rule | None:
        call, rule = request.context.get(_CALL, (None, None))
        attempt = request.context.get("retries", {}).get("attempt", 1)
        with self._lock:
            self.attempts[operation] += 1
            if rule is None or (rule.attempts is not None and attempt not in rule.attempts):
                return None
            rule.fired += 1
            self.injected.append(Injection(operation, call.number, attempt, rule.kind))
        return rule

    def _send(self, request: AWSPreparedRequest, event_name: str, **_) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        rule = self._rule_for(request, operation)
        kind = rule.kind if rule else None
        config = self.client.meta.config
        if kind == DELAY:
            self.clock.sleep(rule.seconds)
        elif kind == TIMEOUT_BEFORE_SEND:
            self.clock.sleep(config.connect_timeout)
            raise ConnectTimeoutError(endpoint_url=request.url)
        elif kind == ERROR:
            return _error(request, rule.code, rule.message, rule.fields)
        held: list = []
        if kind == UNPROCESSED:
            kept, held = _hold_back(request, operation, rule.pick)
            if kept is None:  # nothing left to apply: what DynamoDB answers then
                return _error(request, PROVISIONED_THROUGHPUT_EXCEEDED, "no item processed (injected)")
            request = kept
        response = self._deliver(request, operation)
        if held and response.status_code == 200:
            response = _with_unprocessed(response, operation, held)
        if kind == TIMEOUT_AFTER_LANDED:
            self.clock.sleep(config.read_timeout)
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    def _deliver(self, request: AWSPreparedRequest, operation: str) -> AWSResponse:
        token = _token(request) if operation == "TransactWriteItems" else None
        if token is not None:
            with self._lock:
                known = self._tokens.get(token[0])
            if known is not None and self.clock() - known[0] < TOKEN_WINDOW_SECONDS:
                if known[1] != token[1]:
                    return _error(request, "IdempotentParameterMismatchException",
                                  "the token was used with other parameters")
                return _answer(request, 200, known[2])
        response = self._transport(request)
        if token is not None and response.status_code == 200:
            with self._lock:
                self._tokens[token[0]] = (self.clock(), token[1], response.content)
        return response

    def _transport(self, request: AWSPreparedRequest) -> AWSResponse:
        if self._stub is not None:
            response = self._stub(event_name="before-send.dynamodb", request=request)
            if response is not None:
                return response
        host = urlsplit(request.url).hostname
        if host not in LOOPBACK:
            raise RuntimeError(f"FaultInjector sends to moto or a loopback endpoint only, not {host}")
        return self.client._endpoint.http_session.send(request)

    def _redirect_retry_waits(self):
        """botocore's retry handler decides as ever; its wait goes to the clock instead of time.sleep."""
        emitter = getattr(self.client.meta.events, "_emitter", self.client.meta.events)
        entry = getattr(emitter, "_unique_id_handlers", {}).get(_RETRY_ID)
        if entry is None:
            return None  # botocore changed: its retries then really sleep
        original = entry["handler"]

        def needs_retry(**kwargs):
            wait = original(**kwargs)
            if wait is None or wait is False:
                return wait
            self.clock.sleep(wait)
            return 0

        events = self.client.meta.events
        events.unregister("needs-retry.dynamodb", unique_id=_RETRY_ID)
        events.register("needs-retry.dynamodb", needs_retry, unique_id=_RETRY_ID)
        return original


def production_client():
    """The DynamoDB client LiveInsight makes (timeouts, botocore retry settings), on the active endpoint."""
    from chalicelib.store import create_dynamodb_client

    return create_dynamodb_client()


# --- wire-level helpers ---

def _moto_stub():
    try:
        from moto.core.models import botocore_stubber
    except ImportError:
        return None
    return botocore_stubber


class _Raw(io.BytesIO):
    def stream(self, **_):
        data = self.read()
        if data:
            yield data


def _answer(request: AWSPreparedRequest | AWSResponse, status: int, body: bytes) -> AWSResponse:
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault-injector",
               "x-amz-crc32": str(zlib.crc32(body) & 0xFFFFFFFF), "Content-Length": str(len(body))}
    return AWSResponse(request.url, status, headers, _Raw(body))


def _error(request, code: str, message: str, fields: dict | None = None) -> AWSResponse:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **(fields or {})}
    return _answer(request, 400, json.dumps(body).encode())


def _token(request: AWSPreparedRequest) -> tuple[str, str] | None:
    body = json.loads(request.body)
    token = body.get("ClientRequestToken")
    return (token, json.dumps(body, sort_keys=True)) if token else None


def _hold_back(request: AWSPreparedRequest, operation: str, pick) -> tuple[AWSPreparedRequest | None, list]:
    """The request without the items `pick` chose (None if it chose all), and those items as
    (table, item, the table's other parameters) triples."""
    body = json.loads(request.body)
    held, kept, index = [], {}, 0
    for table, entry in body["RequestItems"].items():
        batch_get = operation == "BatchGetItem"
        items, others = (entry["Keys"], {k: v for k, v in entry.items() if k != "Keys"}) if batch_get else (entry, {})
        staying = []
        for item in items:
            if pick(index, item):
                held.append((table, item, others))
            else:
                staying.append(item)
            index += 1
        if staying:
            kept[table] = {**others, "Keys": staying} if batch_get else staying
    if not kept:
        return None, held
    data = json.dumps({**body, "RequestItems": kept}).encode()
    headers = {**request.headers, "Content-Length": str(len(data))}
    return AWSPreparedRequest(request.method, request.url, headers, data, request.stream_output,
                              request.context), held


def _with_unprocessed(response: AWSResponse, operation: str, held: list) -> AWSResponse:
    body = json.loads(response.content)
    if operation == "BatchGetItem":
        unprocessed = body.setdefault("UnprocessedKeys", {})
        for table, key, others in held:
            unprocessed.setdefault(table, {**others, "Keys": []})["Keys"].append(key)
    else:
        unprocessed = body.setdefault("UnprocessedItems", {})
        for table, item, _ in held:
            unprocessed.setdefault(table, []).append(item)
    return _answer(response, 200, json.dumps(body).encode())

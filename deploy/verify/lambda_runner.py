"""Runs inside the clean interpreter of the Lambda check: imports one function's handler from the
unzipped package and invokes it as the Lambda Python runtime does, then writes what came back.

`python3.13 -I -S lambda_runner.py PLAN.json RESULTS.json`. Standard library only, on purpose: anything
this file imported could hide a module the package lacks. Logs go to stdout like CloudWatch's, with
Lambda's START/END/REPORT lines around each invocation.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import resource
import signal
import sys
import time
import traceback
import uuid

ACCOUNT_ID = "123456789012"  # AWS's documentation account id


class TaskTimedOut(BaseException):
    """Lambda stops a function at its timeout; BaseException, so no `except Exception` swallows it."""


class LambdaContext:
    """The attributes and method the Python runtime's context object has."""

    def __init__(self, plan: dict, timeout_s: float) -> None:
        name = plan["function_name"]
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{os.environ['AWS_REGION']}:{ACCOUNT_ID}:function:{name}"
        self.memory_limit_in_mb = str(plan["memory_mb"])  # a string in the real runtime too
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type: str, exc: BaseException | None = None, message: str | None = None) -> dict:
    return {"errorType": error_type, "errorMessage": message if message is not None else str(exc),
            "stackTrace": traceback.format_exception(exc) if exc else []}


def load_handler(spec: str):
    """Init phase: import the handler's module, as the runtime does before the first event."""
    module_name, _, attribute = spec.rpartition(".")
    if not module_name:
        return None, _error("Runtime.MalformedHandlerName", message=f"Bad handler '{spec}'")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, _error("Runtime.UserCodeSyntaxError", exc)
    except Exception as exc:  # noqa: BLE001 - the runtime reports any import failure this way
        return None, _error("Runtime.ImportModuleError", exc,
                            f"Unable to import module '{module_name}': {exc}")
    handler = getattr(module, attribute, None)
    if handler is None:
        return None, _error("Runtime.HandlerNotFound", message=f"Handler '{attribute}' missing on module "
                                                                f"'{module_name}'")
    return handler, None


def _on_timeout(signum, frame):
    raise TaskTimedOut()


def invoke(handler, init_error: dict | None, plan: dict, event: dict) -> dict:
    context = LambdaContext(plan, plan["timeout_s"])
    print(f"START RequestId: {context.aws_request_id} Version: $LATEST", flush=True)
    started = time.perf_counter()
    answer: dict = {"request_id": context.aws_request_id}
    if init_error:
        answer["error"] = init_error
    else:
        signal.setitimer(signal.ITIMER_REAL, plan["timeout_s"])
        try:
            result = handler(event, context)
        except TaskTimedOut:
            answer["error"] = _error("Sandbox.Timedout", message=f"Task timed out after {plan['timeout_s']:.2f} "
                                                                 "seconds")
        except Exception as exc:  # noqa: BLE001 - an unhandled error is the invocation's answer
            answer["error"] = _error(type(exc).__name__, exc)
        else:
            try:
                answer["payload"] = json.dumps(result)  # what the runtime sends back to the caller
            except (TypeError, ValueError) as exc:
                answer["error"] = _error("Runtime.MarshalError", exc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    answer["max_rss_mb"] = peak_rss_mb()
    print(f"END RequestId: {context.aws_request_id}", flush=True)
    print(f"REPORT RequestId: {context.aws_request_id} Duration: {answer['duration_ms']} ms "
          f"Memory Size: {plan['memory_mb']} MB Max Memory Used: {answer['max_rss_mb']:.0f} MB", flush=True)
    return answer


def peak_rss_mb() -> float:
    """This process's peak resident memory, as Lambda's "Max Memory Used". Not ru_maxrss: Linux
    carries that over from the parent across fork and exec (the check's own process, moto included)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kilobytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kilobytes / 1024, 1)


def probe(modules: list[str]) -> dict:
    """Where each module would be imported from (None: not importable), without importing it."""
    return {name: getattr(importlib.util.find_spec(name), "origin", None) for name in modules}


def main(plan_path: str, results_path: str) -> int:
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    # Lambda's order: the function's code (/var/task) before the runtime's packages (/var/runtime).
    sys.path[:0] = [plan["task_root"], *plan["runtime_path"]]
    os.chdir(plan["task_root"])
    signal.signal(signal.SIGALRM, _on_timeout)
    results: dict = {"python": sys.version, "sys_path": list(sys.path), "probe": probe(plan.get("probe", []))}
    if plan["invocations"]:
        init_started = time.perf_counter()
        handler, init_error = load_handler(plan["handler"])
        results["init_ms"] = round((time.perf_counter() - init_started) * 1000, 1)
        results["invocations"] = [{"name": item["name"], **invoke(handler, init_error, plan, item["event"])}
                                  for item in plan["invocations"]]
    with open(results_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

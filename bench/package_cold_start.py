"""The collector's cold start as Lambda runs the package (issue 16), with the package's bytecode and without.

    .venv/bin/python -m bench.package_cold_start [--runs N]      (make bench: package_cold_start_ms)

`chalice package`'s deployment.zip for prod, unzipped as Lambda unzips it into /var/task, run by the runtime's
clean interpreter (its Python, with only the runtime's boto3 and botocore beside the zip:
deploy/verify/lambda_runtime.py), writing no bytecode (/var/task is read-only): a fresh process imports
`app` (Lambda's init) and serves one page view through the Lambda entry point against a moto server, as
bench/child.py does for the repository's code. Twice over: as `make package` ships it (each module's .pyc
beside it: deploy/bytecode.py), and as `chalice package` alone does (sources only: every cold start
compiles every module it imports); and the baseline's one module beside the same runtime. bench/child.py's
`cold_start_ms` runs the repository, whose bytecode Python has cached: it stands for the first.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

RUNS = 7
CHILD = textwrap.dedent("""
    import importlib, json, sys, time
    task, runtime, body, module, name = sys.argv[1:6]
    sys.dont_write_bytecode = True  # /var/task is read-only on Lambda
    sys.path[:0] = [task, runtime]
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module), name)
    imported = time.perf_counter()
    event = json.loads(body)
    answer = handler(event, None)
    done = time.perf_counter()
    assert answer["statusCode"] == 200, answer
    print(json.dumps({"cold_start_ms": (done - started) * 1000, "import_ms": (imported - started) * 1000}))
""")


def _packages(work: Path) -> dict[str, Path]:
    """The prod package unzipped twice: as make package ships it, and without its bytecode."""
    from deploy.bytecode import add_bytecode, pyc_bytes
    from deploy.package import chalice_package

    chalice_package("prod", work / "chalice")
    sources_only = work / "chalice" / "deployment.zip"
    with_bytecode = work / "deployment.zip"
    shutil.copyfile(sources_only, with_bytecode)
    add_bytecode(with_bytecode)
    found = {}
    for name, archive in (("with_bytecode", with_bytecode), ("sources_only", sources_only)):
        zipfile.ZipFile(archive).extractall(work / name)
        found[name] = work / name
    # The baseline's function: its one module (with its bytecode, its best case) and the runtime's boto3.
    baseline = work / "baseline"
    (baseline / "__pycache__").mkdir(parents=True)
    source = (PROJECT_DIR / "bench" / "baseline.py").read_bytes()
    (baseline / "baseline.py").write_bytes(source)
    (baseline / importlib.util.cache_from_source("baseline.py")).write_bytes(pyc_bytes(source, "baseline.py"))
    found["baseline"] = baseline
    return found


def measure(runs: int = RUNS) -> dict:

    from bench.child import api_event, batch
    from bench.run import cold_start_stage
    from deploy.package import LAMBDA_RUNTIME
    from deploy.verify.lambda_runtime import clean_python, runtime_packages

    python = clean_python(LAMBDA_RUNTIME)
    runtime_dir, _ = runtime_packages(python)
    body = json.dumps(api_event(batch(1, 0)))
    with tempfile.TemporaryDirectory(prefix="package-cold-start-") as tmp, cold_start_stage() as stage:
        tasks = _packages(Path(tmp))
        env = {"PATH": os.defpath, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", **stage}
        timings: dict[str, list[dict]] = {name: [] for name in tasks}
        for _ in range(runs):  # alternated, so the machine's moods fall on both alike
            for name, task in tasks.items():
                handler = ("baseline", "handler") if name == "baseline" else ("app", "app")
                done = subprocess.run([python, "-I", "-c", CHILD, str(task), str(runtime_dir), body, *handler],
                                      env=env, capture_output=True, text=True, timeout=120)
                if done.returncode != 0:
                    raise RuntimeError(f"the package's cold start failed ({name}):\n{done.stderr[-2000:]}")
                timings[name].append(json.loads(done.stdout.strip().splitlines()[-1]))

    def median(name: str, key: str) -> float:
        return round(statistics.median(t[key] for t in timings[name]), 1)

    return {"package_cold_start_ms": median("with_bytecode", "cold_start_ms"),
            "package_cold_start_import_ms": median("with_bytecode", "import_ms"),
            "package_cold_start_ms_without_bytecode": median("sources_only", "cold_start_ms"),
            "package_cold_start_import_ms_without_bytecode": median("sources_only", "import_ms"),
            "baseline_package_cold_start_ms": median("baseline", "cold_start_ms"),
            "baseline_package_cold_start_import_ms": median("baseline", "import_ms"),
            "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.package_cold_start", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS)
    print(json.dumps(measure(parser.parse_args(argv).runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

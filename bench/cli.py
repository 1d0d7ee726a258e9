"""The command line every lake benchmark shares: `--quick`, a `--<child>` mode that measures in a
fresh process (so its peak memory and caches are its own), fake local AWS credentials (nothing
leaves this machine), then the table and one line of JSON."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable


def bench_main(argv: list[str] | None, doc: str | None, measure: Callable[[bool], dict], table: Callable[[dict], str],
               child: tuple[str, tuple[str, str], Callable[[str, int], dict]]) -> int:
    flag, metavar, run_child = child
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(f"--{flag}", nargs=2, metavar=metavar, dest="child")
    args = parser.parse_args(argv)
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    if args.child:
        print(json.dumps(run_child(args.child[0], int(args.child[1]))))
        return 0
    figures = measure(args.quick)
    print(table(figures))
    print(json.dumps(figures))
    return 0

"""Each module's bytecode in the Lambda package, so a cold start imports it instead of compiling it.

`chalice package` ships sources only, and Lambda's /var/task is read-only: without a .pyc beside each
module, every new container compiles every module it imports (our code, Chalice's runtime, ua-parser's
~1,300 rules, the bot lists' code) before it serves a request. `add_bytecode` adds, for each .py in
deployment.zip, `__pycache__/<name>.cpython-3XX.pyc` as this interpreter (the runtime's version: package.py
checks it) compiles it. The .pyc are hash-based and checked (PEP 552): the zip's file times say nothing
on Lambda, and a source changed after packaging (the console's editor) is compiled afresh, never
shadowed by stale bytecode. Run in a process with a fixed PYTHONHASHSEED (`python -m deploy.bytecode
ZIP`, as package.py does), the same sources give the same bytes, so Terraform sees no change.
bench/package_cold_start.py measures what it saves.
"""

from __future__ import annotations

import importlib.util
import marshal
import sys
import zipfile
from pathlib import Path

HASH_BASED_CHECKED = 0b11  # PEP 552 flags: the source's hash is in the header, and the import checks it
PYC_MODE = 0o100644  # readable by Lambda's user, as the sources are


def pyc_bytes(source: bytes, filename: str) -> bytes:
    """The .pyc importlib writes for `source` with a checked hash: magic, flags, source hash, code."""
    # optimize=0: what the runtime (no -O) imports as <name>.cpython-3XX.pyc, whatever flags build it
    code = compile(source, filename, "exec", dont_inherit=True, optimize=0)
    return (importlib.util.MAGIC_NUMBER + HASH_BASED_CHECKED.to_bytes(4, "little")
            + importlib.util.source_hash(source) + marshal.dumps(code))


def add_bytecode(deployment_zip: Path) -> int:
    """Appends a .pyc for every .py of the zip that compiles (a file Python cannot compile is left to fail
    as it would without one); returns how many."""
    with zipfile.ZipFile(deployment_zip) as archive:
        sources = {info.filename: archive.read(info) for info in archive.infolist()
                   if info.filename.endswith(".py") and not info.is_dir()}
        present = set(archive.namelist())
    compiled = {}
    for name, source in sorted(sources.items()):
        target = importlib.util.cache_from_source(name)
        if target in present:
            continue
        try:
            compiled[target] = pyc_bytes(source, name)
        except (SyntaxError, ValueError):  # ValueError: a NUL byte in the source
            continue
    with zipfile.ZipFile(deployment_zip, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for target, data in compiled.items():
            info = zipfile.ZipInfo(target, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = PYC_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return len(compiled)


def main(argv: list[str]) -> int:
    added = add_bytecode(Path(argv[0]))
    print(f"{argv[0]}: bytecode for {added} modules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

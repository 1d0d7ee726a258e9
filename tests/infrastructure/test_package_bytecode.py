"""The Lambda package carries each module's bytecode (deploy/bytecode.py): a cold start in the runtime's
clean interpreter compiles nothing of ours, the bytecode is what Python itself would write for the
source, a changed source still wins over it, and the same sources give the same zip."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from deploy.bytecode import HASH_BASED_CHECKED, add_bytecode, pyc_bytes
from deploy.verify.lambda_runtime import clean_python, runtime_packages
from tests.conftest import PROJECT_DIR

# Imports `app`, as Lambda's init does, in the runtime's clean interpreter with a read-only /var/task's
# rules (no bytecode written), and prints every module file it had to compile.
COMPILES = textwrap.dedent("""
    import importlib.machinery, json, sys
    task, runtime = sys.argv[1], sys.argv[2]
    sys.dont_write_bytecode = True
    sys.path[:0] = [task, runtime]
    compiled = []
    original = importlib.machinery.SourceFileLoader.source_to_code
    def source_to_code(self, data, path, *args, **kwargs):
        compiled.append(path)
        return original(self, data, path, *args, **kwargs)
    importlib.machinery.SourceFileLoader.source_to_code = source_to_code
    import app
    import chalicelib.ingest.collector, chalicelib.enrich.clients, ua_parser, crawleruseragents
    print(json.dumps([path for path in compiled if path.startswith(task)]))
""")


def _compiled_at_import(task: Path) -> list[str]:
    python = clean_python("python3.13")
    runtime_dir, _ = runtime_packages(python)
    done = subprocess.run([python, "-I", "-c", COMPILES, str(task), str(runtime_dir)], capture_output=True,
                          text=True, env={"PATH": os.defpath, "AWS_DEFAULT_REGION": "us-east-1"}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_cold_start_from_the_package_compiles_none_of_its_modules(packaged, tmp_path):
    task = tmp_path / "task"
    zipfile.ZipFile(packaged["prod"] / "deployment.zip").extractall(task)
    assert _compiled_at_import(task) == []
    # without the bytecode (what `chalice package` alone ships) every module is compiled at every cold start
    for pyc in task.rglob("*.pyc"):
        pyc.unlink()
    compiled = _compiled_at_import(task)
    assert str(task / "app.py") in compiled and str(task / "chalicelib" / "ingest" / "collector.py") in compiled
    assert len(compiled) > 50


def test_every_module_of_the_package_has_its_checked_bytecode_for_the_runtime(packaged):
    with zipfile.ZipFile(packaged["prod"] / "deployment.zip") as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        assert len(sources) > 100
        for source in sources:
            pyc = importlib.util.cache_from_source(source)
            assert pyc in names, source
            data, code = archive.read(pyc), archive.read(source)
            assert data[:4] == importlib.util.MAGIC_NUMBER  # this interpreter's: the runtime's version
            assert int.from_bytes(data[4:8], "little") == HASH_BASED_CHECKED
            assert data[8:16] == importlib.util.source_hash(code)
            assert archive.getinfo(pyc).external_attr >> 16 == 0o100644  # Lambda's user reads it


def test_bytecode_loads_as_pythons_own_and_a_changed_source_is_compiled_afresh(tmp_path):
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    source = b"ANSWER = sorted({'b', 'a'})\n"
    (package / "mod.py").write_bytes(source)
    (package / importlib.util.cache_from_source("mod.py")).write_bytes(pyc_bytes(source, "mod.py"))
    importing = textwrap.dedent("""
        import importlib.machinery
        compiled = []
        original = importlib.machinery.SourceFileLoader.source_to_code
        importlib.machinery.SourceFileLoader.source_to_code = \\
            lambda self, data, path, *a, **k: compiled.append(path) or original(self, data, path, *a, **k)
        import mod
        print(mod.ANSWER, "compiled" if compiled else "from bytecode")
    """)
    run = [sys.executable, "-B", "-c", importing]
    assert subprocess.run(run, cwd=package, capture_output=True, text=True).stdout.strip() == "['a', 'b'] from bytecode"
    (package / "mod.py").write_bytes(b"ANSWER = 'edited'\n")  # the console's editor, after packaging
    assert subprocess.run(run, cwd=package, capture_output=True, text=True).stdout.strip() == "edited compiled"


def test_the_same_sources_give_the_same_zip(tmp_path):
    def zipped(name: str) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("app.py", "ROUTES = {'/a', '/b', '/c'}\nNAMES = frozenset({'x', 'y'})\n")
            archive.writestr("lib/util.py", "def f():\n    return {'k': {1, 2}}\n")
            archive.writestr("lib/broken.py", "def (:\n")  # Python cannot compile it: left without bytecode
        return path

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for name in ("one.zip", "two.zip"):
        subprocess.run([sys.executable, "-m", "deploy.bytecode", str(zipped(name))], cwd=PROJECT_DIR, env=env,
                       check=True, capture_output=True)
    one, two = (tmp_path / "one.zip").read_bytes(), (tmp_path / "two.zip").read_bytes()
    assert one == two
    assert set(zipfile.ZipFile(tmp_path / "one.zip").namelist()) == {
        "app.py", "lib/util.py", "lib/broken.py", importlib.util.cache_from_source("app.py"),
        importlib.util.cache_from_source("lib/util.py")}
    assert add_bytecode(tmp_path / "one.zip") == 0  # already there: nothing added twice


def test_the_bytecode_is_what_the_runtime_imports_whatever_flags_build_it():
    """The runtime runs without -O, so <name>.cpython-3XX.pyc must keep asserts even if the package is built
    under PYTHONOPTIMIZE."""
    check = ("import marshal; from deploy.bytecode import pyc_bytes\n"
             "code = marshal.loads(pyc_bytes(b'assert False, \"kept\"', 'm.py')[16:])\n"
             "try:\n    exec(code)\nexcept AssertionError as e:\n    print(e)")
    done = subprocess.run([sys.executable, "-c", check], cwd=PROJECT_DIR, capture_output=True, text=True,
                          env={**os.environ, "PYTHONOPTIMIZE": "2"})
    assert done.stdout.strip() == "kept", done.stderr

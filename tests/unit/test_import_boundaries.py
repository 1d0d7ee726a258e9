"""The architecture's import rules, checked: the event collector stays light, and only the store
speaks to AWS (STYLE.md: domain packages never import boto3, duckdb or chalice; only the HTTP routes,
chalicelib/routes/, are Chalice adapters)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHALICELIB = ROOT / "chalicelib"
AWS = {"boto3", "botocore"}
ENGINES = {"duckdb", "sqlglot"}
# The lake's Parquet codec (bytes in, bytes out) and the query builder are the engines' own homes.
ENGINE_HOMES = {"store", "lake/parquet.py", "query"}
# The blueprints app.py registers: the one place in chalicelib that may speak Chalice.
CHALICE_HOME = "routes/"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules():
    for path in sorted(CHALICELIB.rglob("*.py")):
        yield path.relative_to(CHALICELIB).as_posix(), imported_roots(path)


def test_only_the_store_imports_aws_sdks():
    offenders = {name: roots & AWS for name, roots in modules() if roots & AWS and not name.startswith("store/")}
    assert offenders == {}


def test_the_engines_are_imported_only_where_they_belong():
    def home(name: str) -> bool:
        return any(name == h or name.startswith(h + "/") for h in ENGINE_HOMES)

    offenders = {name: roots & ENGINES for name, roots in modules() if roots & ENGINES and not home(name)}
    assert offenders == {}


def test_no_chalice_in_the_domain():
    assert {name for name, roots in modules() if "chalice" in roots and not name.startswith(CHALICE_HOME)} == set()


def test_the_routes_are_chalice_adapters():
    # The rule above must not pass by finding no routes: the blueprints are where chalice is imported.
    assert "chalice" in imported_roots(CHALICELIB / "routes" / "common.py")


def test_the_event_collector_loads_no_lake_engine_or_lake_code():
    # A cold start of the API function imports app.py: none of the lake's engines may come with it.
    probe = ("import sys, app; heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
             "{'duckdb', 'sqlglot', 'boto3', 'botocore'} or m.startswith(('chalicelib.lake', 'chalicelib.query')));"
             "print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""The AWS provider's argument schema, offline: parsed from the TypeScript bindings that CDK for Terraform
generates from terraform-provider-aws (npm `@cdktf/provider-aws`), and `python -m deploy.verify.provider_schema DIR...`.

The provider itself cannot be downloaded here, but every npm release of `@cdktf/provider-aws` is generated
from one provider release's schema: `lib/<resource>/index.d.ts` has one interface per block, each property's
doc comment links the Terraform name, a property without `?` is required, and a nested block's comment says
`<name> block`. Computed-only attributes are not in those interfaces, so what we parse is exactly the set of
arguments a configuration may write.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path

from deploy import npm

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGE = "@cdktf/provider-aws"
# 20.1.0 is generated from terraform-provider-aws 5.100.0, the last 5.x release: what our pin
# `>= 5.0, < 6.0` resolves to (19.65.1 is 5.99.1; 21.x is 6.x). The integrity is the registry's.
VERSION = "20.1.0"
INTEGRITY = "sha512-ONRJFu5qz/4nqis5f9OxRk8rOZQnuOiDoRtOu3z53fiFxzow0vvA2afnkfntoZGOsynDerqyWPX4/y8A6k6+8g=="
PROVIDER_VERSION = "5.100.0"
CACHE_DIR = PROJECT_DIR / "build" / "provider-schema"
PARSER_VERSION = 3  # bump when the parsed shape changes: old caches are then rebuilt

_INTERFACE = re.compile(r"^export interface (\w+)(?: extends ([\w.]+))? \{\n(.*?)^\}", re.M | re.S)
_PROPERTY = re.compile(r"/\*\*(.*?)\*/\s*readonly (\w+)(\??): (.*?);\s*(?=/\*\*|\Z)", re.S)
_DOCS_LINK = re.compile(r"Docs at Terraform Registry: \{@link https://registry\.terraform\.io/providers/hashicorp/aws/"
                        r"([\d.]+)/docs/(resources|data-sources)/(\w+)#(\w+) ")
_CLASS = re.compile(r'export declare class \w+ extends cdktf\.(TerraformResource|TerraformDataSource) \{\s*'
                    r'static readonly tfResourceType = "(\w+)";')


class SchemaError(RuntimeError):
    """The package is not what we pinned, or its bindings no longer look like what this parser reads."""


def npm_pack(package: str, version: str, integrity: str, destination: Path) -> Path:
    try:
        return npm.npm_pack(package, version, integrity, destination)
    except npm.PackageFetchError as exc:
        raise SchemaError(str(exc)) from None


def _wanted(name: str) -> str | None:
    """The resource directory a tarball member belongs to, when it is one of the .d.ts files we parse."""
    parts = name.split("/")
    if len(parts) == 4 and parts[:2] == ["package", "lib"] and parts[3] == "index.d.ts":
        return parts[2]
    if len(parts) == 5 and parts[:2] == ["package", "lib"] and parts[3] == "index-structs" \
            and parts[4].endswith(".d.ts"):
        return parts[2]  # the largest resources split their block interfaces into index-structs/
    return None


def _read_bindings(tarball: Path) -> tuple[dict, dict[str, str]]:
    """package.json and, per resource directory, its .d.ts text: read from the archive, never written out."""
    texts: dict[str, list[str]] = {}
    package_json = None
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            directory = _wanted(member.name) if member.isfile() else None
            if member.name == "package/package.json":
                package_json = json.load(archive.extractfile(member))
            elif directory and directory != "provider":
                texts.setdefault(directory, []).append(archive.extractfile(member).read().decode())
    if package_json is None:
        raise SchemaError(f"{tarball.name} has no package/package.json")
    return package_json, {directory: "\n".join(parts) for directory, parts in texts.items()}


def _block_schema(name: str, interfaces: dict[str, str], where: str, seen: tuple[str, ...] = ()) -> dict:
    """The arguments of one interface (one Terraform block), nested blocks parsed recursively."""
    if name in seen:
        raise SchemaError(f"{where}: interface {name} contains itself")
    arguments = {}
    properties = _PROPERTY.findall(interfaces[name])
    if len(properties) != interfaces[name].count("readonly "):
        raise SchemaError(f"{where}: {name} has properties this parser cannot read")
    for doc, prop, optional, type_text in properties:
        link = _DOCS_LINK.search(doc)
        if not link:
            raise SchemaError(f"{where}: {name}.{prop} has no Terraform Registry link")
        if link.group(1) != PROVIDER_VERSION:
            raise SchemaError(f"{where}: {name}.{prop} documents provider {link.group(1)}, not {PROVIDER_VERSION}")
        tf_name = link.group(4)
        is_block = re.search(rf"^\s*\* {re.escape(tf_name)} block\s*$", doc, re.M) is not None
        nested = [ref for ref in re.findall(r"\b[A-Z]\w*\b", type_text) if ref in interfaces]
        argument = {"kind": "attribute", "required": not optional}
        if is_block or nested:
            # A struct-typed property without the `block` comment is an attribute of object type
            # (a framework nested attribute, or SDK v2's attributes-as-blocks mode).
            argument["kind"] = "block" if is_block else "object"
            # Very deep schemas (wafv2 statements, QuickSight definitions) are cut off as `any`.
            argument["arguments"] = _block_schema(nested[0], interfaces, where, (*seen, name)) if nested else None
        arguments[tf_name] = argument
    return arguments


def _parse_directory(directory: str, text: str) -> tuple[str, str, dict]:
    found = _CLASS.search(text)
    if not found:
        raise SchemaError(f"lib/{directory}: no TerraformResource or TerraformDataSource class")
    kind = "data_sources" if found.group(1) == "TerraformDataSource" else "resources"
    matches = list(_INTERFACE.finditer(text))
    interfaces = {match.group(1): match.group(3) for match in matches}
    configs = [match.group(1) for match in matches if match.group(2) == "cdktf.TerraformMetaArguments"]
    if len(configs) != 1:
        raise SchemaError(f"lib/{directory}: expected one Config interface, found {configs}")
    return kind, found.group(2), _block_schema(configs[0], interfaces, f"lib/{directory}")


def parse_bindings(package_json: dict, texts: dict[str, str]) -> dict:
    """The schema of every resource and data source in the package's bindings."""
    provider = package_json.get("cdktf", {}).get("provider", {})
    if (package_json.get("name"), package_json.get("version")) != (PACKAGE, VERSION) \
            or provider.get("version") != PROVIDER_VERSION:
        raise SchemaError(f"expected {PACKAGE} {VERSION} generated from aws {PROVIDER_VERSION}, got "
                          f"{package_json.get('name')} {package_json.get('version')} from {provider}")
    schema = {"package": PACKAGE, "version": VERSION, "provider_version": PROVIDER_VERSION,
              "parser": PARSER_VERSION, "resources": {}, "data_sources": {}}
    for directory, text in sorted(texts.items()):
        kind, tf_type, arguments = _parse_directory(directory, text)
        if tf_type in schema[kind]:
            raise SchemaError(f"lib/{directory}: {tf_type} is defined twice")
        schema[kind][tf_type] = {"arguments": arguments}
    if len(schema["resources"]) < 1000 or len(schema["data_sources"]) < 400:
        raise SchemaError(f"only {len(schema['resources'])} resources and {len(schema['data_sources'])} "
                          "data sources parsed: the bindings' layout has changed")
    return schema


def build_schema(cache_dir: Path = CACHE_DIR) -> dict:
    """Downloads the pinned packages (npm), verifies and parses them, and caches the schema as JSON."""
    from deploy.verify import provider_deprecations as deprecations

    with tempfile.TemporaryDirectory(prefix="provider-schema-") as scratch:
        schema = parse_bindings(*_read_bindings(npm_pack(PACKAGE, VERSION, INTEGRITY, Path(scratch))))
        deprecations.add_deprecations(schema, npm_pack(deprecations.PACKAGE, deprecations.VERSION,
                                                       deprecations.INTEGRITY, Path(scratch)))
    target = cache_dir / VERSION / "schema.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True))
    partial.replace(target)  # atomic: a parallel or interrupted run never leaves half a cache
    return schema


def load_schema(cache_dir: Path = CACHE_DIR) -> dict:
    """The parsed schema: from the cache when it was built by this parser for this version."""
    cached = cache_dir / VERSION / "schema.json"
    if cached.exists():
        try:
            schema = json.loads(cached.read_text())
        except ValueError:
            schema = None
        if schema and schema.get("parser") == PARSER_VERSION and schema.get("version") == VERSION:
            return schema
    return build_schema(cache_dir)


def main(argv: list[str] | None = None) -> int:
    from deploy.verify.schema_check import main as check_main

    return check_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())

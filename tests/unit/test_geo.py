"""The country of an address, from the pinned DB-IP database (deploy/geo.py; make test builds it)."""

from __future__ import annotations

import pytest

from chalicelib.enrich.geo import CountryDatabase, country_lookup, no_country
from deploy.geo import DATABASE, VERSION

# Public allocations whose country the registries and DB-IP agree on (as of the pinned data).
KNOWN = [
    ("8.8.8.8", "US"),  # Google Public DNS, ARIN
    ("193.99.144.80", "DE"),  # heise.de, RIPE NCC
    ("133.242.0.3", "JP"),  # JPNIC
    ("81.2.69.142", "GB"),  # the address MaxMind's own test databases use for GB
    ("2a00:1450:4001:80b::200e", "DE"),  # Google's Frankfurt IPv6
]
NOWHERE = ["127.0.0.1", "10.1.2.3", "192.168.100.1", "198.51.100.7", "::1", "2001:db8::1", "fe80::1"]
NOT_ADDRESSES = ["", "IP", "8.8.8", "8.8.8.8.8", "::g", "8.8.8.8/32", " 8.8.8.8", "\x00", "x" * 5000]


@pytest.fixture(scope="module")
def lookup():
    assert DATABASE.is_file(), f"{DATABASE} is missing: make test builds it (python -m deploy.geo)"
    assert DATABASE.with_suffix(".version").read_text() == VERSION
    return CountryDatabase(DATABASE).lookup


@pytest.mark.parametrize("address, country", KNOWN)
def test_public_addresses_have_their_registrys_country(lookup, address, country):
    assert lookup(address) == country


@pytest.mark.parametrize("address", NOWHERE)
def test_private_loopback_and_documentation_addresses_have_none(lookup, address):
    assert lookup(address) is None


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_what_is_not_an_address_has_none_and_raises_nothing(lookup, address):
    assert lookup(address) is None


def test_without_a_database_there_is_no_lookup(tmp_path, capsys):
    assert country_lookup("") is no_country
    assert country_lookup(str(tmp_path / "missing.mmdb")) is no_country
    assert "country database missing" in capsys.readouterr().out  # said once, in the function's log
    assert country_lookup(str(DATABASE))("8.8.8.8") == "US"

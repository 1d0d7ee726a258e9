"""A site's time zone in LIVEINSIGHT_SITES: an IANA name zoneinfo knows, UTC by default, a bad one refused."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.settings import SettingsError, load_settings, parse_sites


def sites(conf: dict) -> str:
    return json.dumps(conf)


def test_a_site_without_a_timezone_is_utc():
    assert parse_sites(sites({"demo": {"origins": []}}))["demo"].timezone == "UTC"


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "UTC", "Etc/GMT+5"])
def test_an_iana_name_is_kept(name):
    assert parse_sites(sites({"demo": {"timezone": name}}))["demo"].timezone == name


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe", "/etc/localtime", "../zoneinfo/UTC", "", "+02:00", 2, None])
def test_a_bad_timezone_is_a_settings_error_naming_the_site(name):
    with pytest.raises(SettingsError) as caught:
        parse_sites(sites({"ok": {}, "shop": {"timezone": name}}))
    assert "shop.timezone" in str(caught.value)
    assert repr(name) in str(caught.value)


def test_load_settings_carries_each_sites_timezone():
    settings = load_settings({"LIVEINSIGHT_STAGE": "local", "LIVEINSIGHT_DEFAULT_SITE": "demo",
                              "LIVEINSIGHT_SITES": sites({"demo": {"timezone": "Europe/Berlin"}, "shop": {}})})
    assert {s.site_id: s.timezone for s in settings.sites.values()} == {"demo": "Europe/Berlin", "shop": "UTC"}


def test_zoneinfo_finds_the_zones_without_the_systems_files():
    """The tzdata wheel alone answers (what a runtime without /usr/share/zoneinfo has)."""
    import subprocess
    import sys

    code = ("import zoneinfo; zoneinfo.reset_tzpath([]); from datetime import datetime; "
            "print(datetime(2026, 3, 29, 12, tzinfo=zoneinfo.ZoneInfo('Europe/Berlin')).utcoffset())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "2:00:00"

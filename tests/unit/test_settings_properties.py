"""A site's custom property keys in LIVEINSIGHT_SITES ("properties", as Plausible's site setting): the
keys the dashboard's Properties card offers; a malformed list refused at load, naming the site."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.settings import SettingsError, parse_sites


def test_a_site_names_its_custom_property_keys_in_order():
    sites = parse_sites(json.dumps({"demo": {"properties": ["plan", "file.name", "utm:x"]}, "other": {}}))
    assert sites["demo"].properties == ("plan", "file.name", "utm:x") and sites["other"].properties == ()


@pytest.mark.parametrize("bad", ["plan", ["plan", "plan"], ["has space"], [""], [7], ["x" * 65],
                                 [f"k{i}" for i in range(51)], {"plan": 1}])
def test_a_malformed_list_is_a_settings_error_naming_the_site(bad):
    with pytest.raises(SettingsError, match=r"demo\.properties"):
        parse_sites(json.dumps({"ok": {}, "demo": {"properties": bad}}))

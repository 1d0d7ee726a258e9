"""The kind of device a User-Agent names, by Matomo device-detector's rules and heuristics.

Matomo's rules (brands, then models, ~17,000 patterns) are what the field's best detectors use;
compiling them all takes seconds. scripts/build_device_rules.py keeps the part that decides the type
and gives each pattern the substrings one of which any match contains: a User-Agent is looked up in
a substring index and only patterns that could match are compiled (each once per process).
The heuristics after the rules follow Matomo's DeviceDetector::parseDevice().
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

RULES_PATH = Path(__file__).parent / "data" / "device_rules.json"

# Our device types, and Matomo's that each stands for.
DESKTOP, MOBILE, TABLET, TV, CONSOLE, CAR, WEARABLE, OTHER, UNKNOWN = (
    "desktop", "mobile", "tablet", "tv", "console", "car", "wearable", "other", "unknown")
DEVICE_TYPES = (DESKTOP, MOBILE, TABLET, TV, CONSOLE, CAR, WEARABLE, OTHER, UNKNOWN)
FROM_MATOMO = {
    "desktop": DESKTOP, "smartphone": MOBILE, "phablet": MOBILE, "feature phone": MOBILE,
    "portable media player": MOBILE, "tablet": TABLET, "tv": TV, "console": CONSOLE, "car browser": CAR,
    "wearable": WEARABLE, "camera": OTHER, "peripheral": OTHER, "smart speaker": OTHER, "smart display": OTHER,
}


def _search(pattern: str):
    return re.compile(pattern, re.IGNORECASE).search


_HBBTV = _search(r"(?:HbbTV|SmartTvA)/([1-9](?:\.[0-9]){1,2})")
_SHELL_TV = _search(r"[ _]Shell[ _]\w{6}|tclwebkit(\d+[.\d]*)")
_NOTEBOOK = _search(r"FBMD/")
_GATES = {"hbbtv": _HBBTV, "shelltv": _SHELL_TV, "notebook": _NOTEBOOK}

_CHROME = _search(r"Chrome/[.0-9]*")
_CHROME_MOBILE = _search(r"(?:Mobile|eliboM)")
_PAD = _search(r"Pad/APad")
_ANDROID_TABLET = _search(r"Android( [.0-9]+)?; Tablet;|Tablet(?! PC)|.*-tablet$")
_ANDROID_MOBILE = _search(r"Android( [.0-9]+)?; Mobile;|.*-mobile$")
_ANDROID_VR = _search(r"Android( [.0-9]+)?; Mobile VR;| VR ")
_OPERA_TABLET = _search(r"Opera Tablet")
_TOUCH = _search(r"Touch")
_OPERA_TV = _search(r"Opera TV Store| OMI/")
_ANDROID_TV = _search(r"Andr0id|(?:Android(?: UHD)?|Google) TV|\(lite\) TV|BRAVIA|Firebolt| TV$")
_SMART_TV = _search(r"SmartTV|Tizen.+ TV .+$")
_TV_TOKEN = _search(r"\(TV;|TV Store|WhaleTV|Smart TVS")
_PUFFIN = _search(r"Puffin/\d+[.\d]*([AIFLMW])([DPT])")
_DESKTOP_TOKEN = _search(r"Desktop (?:x(?:32|64)|WOW64);")
_DESKTOP_FRAGMENT = _search(r"Windows (?:NT|IoT)|X11; Linux x86_64")
_NOT_DESKTOP = _search(r"CE-HTML| Mozilla/|Andr[o0]id|Tablet|Mobile|iPhone|Windows Phone|ricoh|OculusBrowser|"
                       r"PicoBrowser|Lenovo|compatible; MSIE|Trident/|Tesla/|XBOX|FBMD/|ARM; ?([^)]+)")
_TV_CLIENTS = _search(r"Kylo|Espial|LUJO TV|LogicUI|Open TV Browser|Seraphic|Opera Devices|Crow Browser|Vewd|"
                      r"TiviMate|Quick Search TV|QJY TV|TV Bro")
_HTC_KINDLE = _search(r"HTC|Kindle")

# The operating systems Matomo counts as desktop families, as ua-parser names them.
DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Debian", "Fedora", "Red Hat", "SUSE", "openSUSE",
              "Mint", "Gentoo", "Slackware", "Mandriva", "Kubuntu", "Xubuntu", "Lubuntu", "CentOS", "Arch Linux",
              "Chrome OS", "Chromium OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "BeOS", "Haiku", "AmigaOS",
              "PCLinuxOS", "Mageia", "Sabayon", "Knoppix", "elementary OS", "Raspbian", "Zorin OS", "Manjaro"}


class DeviceRules:
    """Matomo's device rules, compiled on demand behind a substring index."""

    def __init__(self, rules: dict) -> None:
        self._bounded = rules["bounded"]
        self._parsers = [(p["name"], p["brands"]) for p in rules["parsers"]]
        self._compiled: dict[str, re.Pattern] = {}
        # (parser, brand) pairs by a literal their pattern requires: one scan of the User-Agent finds
        # every candidate, keyed by the literal's first three characters; two-character literals
        # (a few brands have nothing longer) and patterns with none are listed apart.
        self._index: dict[str, list[tuple[str, int, int]]] = {}
        self._short: list[tuple[str, int, int]] = []
        self._always: list[tuple[int, int]] = []
        for number, (_, brands) in enumerate(self._parsers):
            for position, (_, _, literals, _) in enumerate(brands):
                if literals is None:
                    self._always.append((number, position))
                for literal in literals or ():
                    entry = (literal, number, position)
                    if len(literal) < 3:
                        self._short.append(entry)
                    else:
                        self._index.setdefault(literal[:3], []).append(entry)

    def _matches(self, pattern: str, user_agent: str) -> bool:
        compiled = self._compiled.get(pattern)
        if compiled is None:
            compiled = self._compiled[pattern] = re.compile(self._bounded.format(pattern), re.IGNORECASE)
        return compiled.search(user_agent) is not None

    @staticmethod
    @lru_cache(maxsize=None)
    def _models(models: str) -> list:
        return json.loads(models)  # a brand's model rules, kept as text until it first matches

    def _candidates(self, lowered: str) -> set[tuple[int, int]]:
        found = set(self._always)
        found.update((number, position) for literal, number, position in self._short if literal in lowered)
        index = self._index
        for start in range(len(lowered) - 2):
            for literal, number, position in index.get(lowered[start:start + 3], ()):
                if lowered.startswith(literal, start):
                    found.add((number, position))
        return found

    def match(self, user_agent: str) -> str | None:
        """The Matomo device type of the first brand (in Matomo's parser order) that matches."""
        lowered = user_agent.lower()
        candidates = sorted(self._candidates(lowered))
        for number, (name, brands) in enumerate(self._parsers):
            gate = _GATES.get(name)
            if gate is not None and not gate(user_agent):
                continue
            for position in (position for parser, position in candidates if parser == number):
                pattern, brand_type, _, models = brands[position]
                if self._matches(pattern, user_agent):
                    return self._model_type(models, brand_type, user_agent, lowered)
            if name in ("hbbtv", "shelltv"):
                return "tv"  # the fragment alone makes it a television
        return None

    def _model_type(self, models: str | None, brand_type: str, user_agent: str, lowered: str) -> str:
        for pattern, model_type, literals in self._models(models) if models else ():
            if literals is not None and not any(literal in lowered for literal in literals):
                continue
            if self._matches(pattern, user_agent):
                return model_type or brand_type
        return brand_type


@lru_cache(maxsize=1)
def rules() -> DeviceRules:
    return DeviceRules(json.loads(RULES_PATH.read_text(encoding="utf-8")))


def _version_at_least(version: str | None, major: int) -> bool:
    try:
        return int((version or "").split(".")[0]) >= major
    except ValueError:
        return False


def _android_version(version: str | None) -> float | None:
    match = re.match(r"(\d+)(?:\.(\d))?", version or "")
    return float(f"{match[1]}.{match[2] or 0}") if match else None


def matomo_device_type(user_agent: str, os_name: str, os_version: str | None, browser: str) -> str | None:
    """Matomo's device type: its rules, then its heuristics (DeviceDetector::parseDevice)."""
    device = rules().match(user_agent) if user_agent else None
    if device == "wearable":
        return device
    if os_name == "KaiOS" or (os_name == "Java ME" and device is None):
        return "feature phone"
    if os_name == "Android":
        device = _android_type(user_agent, device, os_version)
    if device is None:
        device = _unmatched_type(user_agent, os_name, os_version)
    if device != "tv" and (_OPERA_TV(user_agent) or _ANDROID_TV(user_agent) or _SMART_TV(user_agent)
                           or _TV_TOKEN(user_agent) or _TV_CLIENTS(browser)):
        return "tv"
    if device == "smartphone" and _PAD(user_agent):
        return "tablet"
    if device != "desktop" and (_DESKTOP_TOKEN(user_agent) or _desktop(user_agent, os_name)):
        return "desktop"
    if device is None and os_name in DESKTOP_OS:
        return "desktop"  # a desktop system no rule named another device for
    return device


def _android_type(user_agent: str, device: str | None, os_version: str | None) -> str | None:
    if device == "feature phone":
        return "smartphone"
    if device is not None:
        return device
    if _ANDROID_VR(user_agent):
        return "wearable"
    if _ANDROID_TABLET(user_agent) or _OPERA_TABLET(user_agent):
        return "tablet"
    if _ANDROID_MOBILE(user_agent):
        return "smartphone"
    if _CHROME(user_agent):  # Chrome says "Mobile" on phones only
        return "smartphone" if _CHROME_MOBILE(user_agent) else "tablet"
    version = _android_version(os_version)  # Android 1.x ran on phones, 3.x on tablets only
    if version is not None and version < 2:
        return "smartphone"
    if version is not None and 3 <= version < 4:
        return "tablet"
    return None


def _unmatched_type(user_agent: str, os_name: str, os_version: str | None) -> str | None:
    """Types the rules did not name: Windows 8+ touch devices are tablets; Puffin says its device."""
    if (os_name == "Windows RT" or (os_name == "Windows" and _version_at_least(os_version, 8))) \
            and _TOUCH(user_agent):
        return "tablet"
    if puffin := _PUFFIN(user_agent):
        return {"D": "desktop", "P": "smartphone", "T": "tablet"}[puffin[2]]
    return None


def _desktop(user_agent: str, os_name: str) -> bool:
    if os_name not in DESKTOP_OS or _HTC_KINDLE(user_agent):
        return False
    if _DESKTOP_FRAGMENT(user_agent) and not _NOT_DESKTOP(user_agent):
        return True
    return os_name == "Mac OS X" or " Desktop" in user_agent

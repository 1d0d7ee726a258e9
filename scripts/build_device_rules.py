"""Build chalicelib/enrich/data/device_rules.json from Matomo's device rules (the device-detector package).

Matomo's rules are ~17,000 regular expressions (brands, then models); compiling them all takes seconds,
too long for a Lambda's first event. This build keeps only what decides a device's *type* and gives
every pattern the literal strings at least one of which any match must contain, so at run time a
User-Agent is checked against a few substrings and only the patterns that could match are compiled.

    python scripts/build_device_rules.py           # rewrite the JSON from the installed package
    python scripts/build_device_rules.py --check   # exit 1 when the JSON differs (tests run this)

The package is pinned in requirements-dev.txt: upgrading it and running this script is how the rules
stay current; tests/unit/test_clients.py fails when the JSON was not rebuilt.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import metadata, resources
from pathlib import Path
from re import _constants as C  # noqa: N812 - the regex parser's opcodes
from re import _parser

import yaml_rs  # what device-detector itself reads its rules with

OUT = Path(__file__).resolve().parents[1] / "chalicelib" / "enrich" / "data" / "device_rules.json"
# Matomo's device parsers in the order it tries them; the first brand that matches decides.
FILES = (
    ("hbbtv", "televisions.yml", "tv"), ("shelltv", "shell_tv.yml", "tv"), ("console", "consoles.yml", "console"),
    ("car", "car_browsers.yml", "car browser"), ("camera", "cameras.yml", "camera"),
    ("media_player", "portable_media_player.yml", "portable media player"), ("notebook", "notebooks.yml", "desktop"),
    ("mobile", "mobiles.yml", "smartphone"),
)
# Matomo anchors every device pattern so it starts a token (a brand name inside a word is no match).
BOUNDED = r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{})"
MIN_LITERAL = 2  # a single character filters nothing; such a pattern is always tried
MAX_STRINGS = 64  # how many exact strings a part may stand for
KEPT_CHARS = 5  # of each required string, at least
# Text every User-Agent shares: required strings are cut to a prefix that is not in it.
COMMON_TEXT = " ".join(
    [f"mozilla/5.0 (linux; android {v}; k) applewebkit/537.36 (khtml, like gecko) chrome/131.0.0.0 mobile "
     f"safari/537.36 samsungbrowser/27.0 version/4.0 build/ wv) u; en-us;" for v in (*range(4, 16), "4.4.2", "7.1.1",
                                                                                  "8.1.0", "5.1.1", "6.0.1")]
    + ["mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/131.0.0.0 "
       "safari/537.36 edg/131.0.0.0", "mozilla/5.0 (iphone; cpu iphone os 18_1 like mac os x) applewebkit/605.1.15 "
       "(khtml, like gecko) version/18.1 mobile/15e148 safari/604.1", "mozilla/5.0 (macintosh; intel mac os x "
       "10_15_7) applewebkit/605.1.15 (khtml, like gecko) version/18.1 safari/605.1.15", "mozilla/5.0 (x11; linux "
       "x86_64; rv:133.0) gecko/20100101 firefox/133.0"])


def required_literals(pattern: str) -> list[str] | None:
    """Lower-cased strings at least one of which every match of `pattern` (case-insensitive)
    contains; None when no such set was found (the pattern must always be tried)."""
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except re.error:
        return None
    found = _required(list(parsed))
    # A match that contains "sm-t510" contains "sm-t5": prefixes keep the test true and make the
    # index a few thousand entries instead of tens of thousands (loaded on every cold start). A
    # prefix every browser's User-Agent has ("andro") would filter nothing: such a string is cut
    # where it stops being common instead.
    return sorted({_prefix(literal) for literal in found}) if found else None


def _prefix(literal: str) -> str:
    for end in range(KEPT_CHARS, len(literal)):
        if literal[:end] not in COMMON_TEXT:
            return literal[:end]
    return literal


def _exact(items: list) -> set[str] | None:
    """Every string the items can match, when they are few (else None)."""
    strings = {""}
    for op, arg in items:
        if op is C.LITERAL and arg < 128:  # ASCII lower-cases the same way on both sides
            options = {chr(arg).lower()}
        elif op is C.IN:
            options = _class(arg)
        elif op is C.SUBPATTERN:
            options = _exact(list(arg[3]))
        elif op is C.BRANCH:
            branches = [_exact(list(branch)) for branch in arg[1]]
            options = None if None in branches else set().union(*branches)
        elif op is C.MAX_REPEAT and arg[0] == 0 and arg[1] == 1:
            inner = _exact(list(arg[2]))
            options = None if inner is None else inner | {""}
        else:
            options = None
        if options is None or len(strings) * len(options) > MAX_STRINGS:
            return None
        strings = {a + b for a in strings for b in options}
    return strings


def _class(members: list) -> set[str] | None:
    """The characters of a small ASCII class ([ _], [1-8]), lower-cased."""
    chars: set[str] = set()
    for op, arg in members:
        if op is C.LITERAL and arg < 128:
            chars.add(chr(arg).lower())
        elif op is C.RANGE and arg[1] < 128 and arg[1] - arg[0] < 10:
            chars.update(chr(code).lower() for code in range(arg[0], arg[1] + 1))
        else:
            return None
    return chars


def _required(items: list) -> set[str] | None:
    """The best requirement a sequence offers: a run of items with few exact strings (their
    product), or a sub-part's own requirement."""
    candidates: list[set[str]] = []
    run = {""}  # the exact strings of the current run of items
    for item in items + [(None, None)]:
        options = _exact([item]) if item[0] is not None else None
        if options is not None and len(run) * len(options) <= MAX_STRINGS:
            run = {a + b for a in run for b in options}
            continue
        if "" not in run:
            candidates.append(run)
        run = options if options is not None else {""}  # too many strings: a new run starts here
        sub = _item(*item) if options is None else None
        if sub:
            candidates.append(sub)
    candidates = [c for c in candidates if min(map(len, c)) >= MIN_LITERAL]
    if not candidates:
        return None
    # The set whose shortest member is longest filters best; fewer members break ties.
    return max(candidates, key=lambda s: (min(min(map(len, s)), 6), -len(s)))


def _item(op, arg) -> set[str] | None:
    if op is C.SUBPATTERN:
        return _required(list(arg[3]))
    if op is C.ATOMIC_GROUP:
        return _required(list(arg))
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _, sub = arg
        return _required(list(sub)) if low >= 1 else None
    if op is C.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            sub = _required(list(branch))
            if not sub:
                return None
            union |= sub
        return union
    return None


def python_pattern(pattern: str) -> str:
    """PCRE allows a look-behind whose alternatives differ in width, Python's re does not:
    (?<!A|BB) is written (?<!A)(?<!BB), the same test."""
    out, position = [], 0
    while (start := pattern.find("(?<!", position)) != -1:
        depth, end, splits = 0, start + 4, []
        while end < len(pattern):
            char = pattern[end]
            if char == "\\":
                end += 2
                continue
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            elif char == "|" and depth == 0:
                splits.append(end)
            end += 1
        bounds = [start + 4, *(i + 1 for i in splits)]
        stops = [*splits, end]
        out.append(pattern[position:start])
        out.extend(f"(?<!{pattern[a:b]})" for a, b in zip(bounds, stops, strict=True))
        position = end + 1
    out.append(pattern[position:])
    return "".join(out)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(BOUNDED.format(pattern), re.IGNORECASE)
    except re.error:
        return False
    return True


def _models(entry: dict, brand_type: str) -> list | None:
    """Model rules matter only up to the last whose type differs from its brand's: past it, any
    match and no match alike give the brand's type."""
    models = [{**m, "regex": python_pattern(m["regex"])} for m in entry.get("models") or []]
    models = [m for m in models if _compiles(m["regex"])]
    while models and models[-1].get("device", brand_type) == brand_type:
        models.pop()
    if not models:
        return None
    # Kept as JSON text: parsed only when its brand first matches, not on every cold start.
    return json.dumps([[m["regex"], m.get("device"), required_literals(m["regex"])] for m in models],
                      separators=(",", ":"), ensure_ascii=False)


def build() -> dict:
    root = resources.files("device_detector") / "regexes" / "upstream" / "device"
    parsers = []
    skipped = 0
    for name, filename, default_type in FILES:
        brands = []
        for entry in yaml_rs.loads((root / filename).read_text(encoding="utf-8")).values():
            entry = {**entry, "regex": python_pattern(entry["regex"])}
            if not _compiles(entry["regex"]):
                skipped += 1  # PCRE-only syntax Python's re lacks (a handful of 17,000)
                continue
            brand_type = entry.get("device", default_type)
            brands.append([entry["regex"], brand_type, required_literals(entry["regex"]), _models(entry, brand_type)])
        parsers.append({"name": name, "brands": brands})
    return {
        "source": f"device-detector {metadata.version('device-detector')} (Matomo device-detector rules, LGPL-3.0)",
        "bounded": BOUNDED,
        "skipped_patterns": skipped,
        "parsers": parsers,
    }


def render(rules: dict) -> str:
    return json.dumps(rules, separators=(",", ":"), ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is not what the package gives")
    text = render(build())
    if parser.parse_args().check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run python scripts/build_device_rules.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

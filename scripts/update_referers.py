"""Regenerate the referrer data of chalicelib/enrich/channels.py from its public sources.

    python scripts/update_referers.py REFERERS_YML --commit SHA --date YYYY-MM-DD [--ga4-categories CSV]

REFERERS_YML is Snowplow referer-parser's database, `resources/referers.yml` of
https://github.com/snowplow-referer-parser/referer-parser (give the commit it was taken from and that
commit's date: they are recorded in the JSON and named in chalicelib/enrich/data/referers.README.md).
It becomes chalicelib/enrich/data/referers.json: {medium: {provider name: [domain, ...]}}, the domains
exactly as listed (search-term parameters are dropped: channels do not use them).

CSV (optional) is Google's list of GA4 source categories (columns source,source_category; Google
publishes it on the "[GA4] Default channel group" help page, and Velir/dbt-ga4 keeps a copy as
seeds/ga4_source_categories.csv). It becomes chalicelib/enrich/data/ga4_source_categories.json:
{category: [source, ...]}, with the category names lower-cased (search, social, shopping, video).

Then it writes chalicelib/enrich/data/referer_lookup.json, the tables channels.py reads, made from
the two files by channels.compile_lookup() (tests/unit/test_channels.py fails when it is stale).

Needs PyYAML (installed with chalice, a development dependency; never imported at run time).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chalicelib.enrich import channels  # noqa: E402 - the repository's root is put on the path first

DATA = channels.DATA
REFERERS_JSON = DATA / "referers.json"
GA4_JSON = DATA / "ga4_source_categories.json"
LOOKUP_JSON = DATA / "referer_lookup.json"
REFERER_PARSER_URL = "https://github.com/snowplow-referer-parser/referer-parser"
GA4_URL = "https://support.google.com/analytics/answer/9756891"
CATEGORY_PREFIX = "SOURCE_CATEGORY_"


def referers(yml_text: str, commit: str, date: str) -> dict:
    database = yaml.safe_load(yml_text)
    media: dict[str, dict[str, list[str]]] = {}
    for medium, providers in database.items():
        media[medium] = {}
        for name, provider in providers.items():
            domains = [str(d).strip().lower() for d in provider.get("domains") or () if str(d).strip()]
            if domains:
                media[medium][str(name)] = domains
    return {
        "about": {"source": REFERER_PARSER_URL + "/blob/" + commit + "/resources/referers.yml",
                  "commit": commit, "date": date,
                  "licence": "GPL-3.0 (referer-parser's README: based on Matomo's lists, GPLv3)"},
        "media": media,
    }


def ga4_categories(csv_text: str, copy: str) -> dict:
    categories: dict[str, list[str]] = {}
    for row in csv.DictReader(csv_text.splitlines()):
        source, category = row["source"].strip().lower(), row["source_category"].strip()
        if not source or not category.startswith(CATEGORY_PREFIX):
            continue
        categories.setdefault(category[len(CATEGORY_PREFIX):].lower(), []).append(source)
    return {
        "about": {"source": GA4_URL, "copy": copy,
                  "note": "Google's published list of sources and their category (GA4 default channel group)"},
        "categories": {name: sorted(set(sources)) for name, sources in sorted(categories.items())},
    }


def write(path: Path, data: dict) -> None:
    # One provider (or category) a line: small, and a data update reads as a short diff.
    body = data.get("media") or data.get("categories")
    key = "media" if "media" in data else "categories"
    lines = ["{", f'"about": {json.dumps(data["about"], ensure_ascii=False)},', f'"{key}": {{']
    groups = list(body.items())
    for g, (group, members) in enumerate(groups):
        if isinstance(members, dict):
            lines.append(f"{json.dumps(group)}: {{")
            items = list(members.items())
            for i, (name, domains) in enumerate(items):
                comma = "," if i < len(items) - 1 else ""
                members_json = json.dumps(domains, ensure_ascii=False)
                lines.append(f"  {json.dumps(name, ensure_ascii=False)}: {members_json}{comma}")
            lines.append("}" + ("," if g < len(groups) - 1 else ""))
        else:
            comma = "," if g < len(groups) - 1 else ""
            lines.append(f"{json.dumps(group)}: {json.dumps(members, ensure_ascii=False)}{comma}")
    lines += ["}", "}", ""]
    text = "\n".join(lines)
    json.loads(text)  # the hand-laid layout is still JSON
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("referers_yml", type=Path, help="referer-parser's resources/referers.yml")
    parser.add_argument("--commit", required=True, help="the referer-parser commit the file comes from")
    parser.add_argument("--date", required=True, help="that commit's date, YYYY-MM-DD")
    parser.add_argument("--ga4-categories", type=Path, help="Google's GA4 source categories (CSV)")
    parser.add_argument("--ga4-copy", default="https://github.com/Velir/dbt-ga4 seeds/ga4_source_categories.csv",
                        help="where the CSV was taken from (repository, path, commit)")
    args = parser.parse_args(argv)
    write(REFERERS_JSON, referers(args.referers_yml.read_text(encoding="utf-8"), args.commit, args.date))
    print(f"wrote {REFERERS_JSON}")
    if args.ga4_categories:
        write(GA4_JSON, ga4_categories(args.ga4_categories.read_text(encoding="utf-8"), args.ga4_copy))
        print(f"wrote {GA4_JSON}")
    write_lookup()
    print(f"wrote {LOOKUP_JSON}")
    return 0


def lookup() -> dict:
    """channels.py's lookup tables, from the two JSON files above."""
    media = json.loads(REFERERS_JSON.read_text(encoding="utf-8"))
    ga4 = json.loads(GA4_JSON.read_text(encoding="utf-8"))
    return {"about": {"referer_parser": media["about"], "ga4_source_categories": ga4["about"]},
            **channels.compile_lookup(media["media"], ga4["categories"])}


def write_lookup() -> None:
    LOOKUP_JSON.write_text(json.dumps(lookup(), ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

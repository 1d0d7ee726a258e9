"""Where a visit came from: its source and its channel, by Google Analytics 4's default channel group.

Channels are GA4's, with GA4's names and rules ("[GA4] Default channel group",
https://support.google.com/analytics/answer/9756891), plus "AI Assistants" for chat assistants.

What the source of a visit is, first to last (each fills only what the ones before left unset):
1. Campaign tags on the page URL: utm_source, utm_medium, utm_campaign (what the site owner wrote wins).
2. Ad click ids, which ad networks add to paid clicks only: gclid, gbraid, wbraid (Google Ads), dclid
   (Google's display ads), msclkid (Microsoft Advertising), yclid (Yandex Direct) make a paid click of
   that network; the referrer tells the network apart: a video site is Paid Video, a shopping site
   Paid Shopping, any other site Display, a search engine or no referrer Paid Search. ttclid (TikTok),
   li_fat_id (LinkedIn), twclid (X), ScCid (Snapchat) make Paid Social.
3. The referrer: its host (or Android app, `android-app://<package>`) looked up in the data below.
   Navigation within the site (same host, ignoring `www.`) is no referrer.
4. fbclid alone: Meta adds it to every outbound link of Facebook and Instagram, organic posts
   included, so it says Organic Social (source facebook), never paid.
5. Nothing: Direct.

Then GA4's rules decide the channel, in GA4's order (CHANNELS), on the source's category (search,
social, video, shopping, plus our email, chatbot, paid), the medium and the campaign name.

Referrer hosts are categorised from public data, never by hand (chalicelib/enrich/data/):
- Snowplow referer-parser's referers.yml (media search, social, email, chatbot, paid, unknown): a host
  matches its own entry or its parent domain's (m.facebook.com is facebook.com). Search engines whose
  company runs other services on sub-domains (referer-parser lists some of them under another medium:
  mail.google.com, support.google.com, gemini.google.com, mail.yandex.ru, news.yahoo.com, ...) lend
  "search" to the hosts listed only, so docs.google.com or translate.google.de are referrals.
- Google's own list of GA4 source categories: its video and shopping sources (youtube.com, vimeo.com,
  twitch.tv, amazon.com, ebay.de, ...) take precedence (GA4 files youtube.com under video, where
  referer-parser has social), and its search and social hosts are used where referer-parser has none.
Webmail referrers (referer-parser's email medium) are Email, and ad servers (its paid medium) Display,
where GA4, from the referrer alone, would say Referral.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlsplit

DIRECT = "Direct"
CROSS_NETWORK = "Cross-network"
PAID_SHOPPING = "Paid Shopping"
PAID_SEARCH = "Paid Search"
PAID_SOCIAL = "Paid Social"
PAID_VIDEO = "Paid Video"
DISPLAY = "Display"
PAID_OTHER = "Paid Other"
ORGANIC_SHOPPING = "Organic Shopping"
ORGANIC_SOCIAL = "Organic Social"
ORGANIC_VIDEO = "Organic Video"
AI_ASSISTANTS = "AI Assistants"
ORGANIC_SEARCH = "Organic Search"
REFERRAL = "Referral"
EMAIL = "Email"
AFFILIATES = "Affiliates"
AUDIO = "Audio"
SMS = "SMS"
MOBILE_PUSH = "Mobile Push Notifications"
UNASSIGNED = "Unassigned"
# Every channel classify returns, in the order the rules are tried (GA4's; AI Assistants, ours, is
# tried after GA4's organic channels of a source category and before Organic Search).
CHANNELS: tuple[str, ...] = (
    DIRECT, CROSS_NETWORK, PAID_SHOPPING, PAID_SEARCH, PAID_SOCIAL, PAID_VIDEO, DISPLAY, PAID_OTHER,
    ORGANIC_SHOPPING, ORGANIC_SOCIAL, ORGANIC_VIDEO, AI_ASSISTANTS, ORGANIC_SEARCH, REFERRAL, EMAIL,
    AFFILIATES, AUDIO, SMS, MOBILE_PUSH, UNASSIGNED,
)

# Source categories: GA4's four, and referer-parser's media that GA4 has no category for.
SEARCH, SOCIAL, VIDEO, SHOPPING = "search", "social", "video", "shopping"
MAIL, CHATBOT, ADS, UNKNOWN = "email", "chatbot", "paid", "unknown"

# GA4's patterns, as published (matched case-insensitively: values are lower-cased first).
_PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
_VIDEO_MEDIUM = re.compile(r"^(.*video.*)$")
_DISPLAY_MEDIUMS = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social-media", "sm", "social network", "social media"})
_EMAIL_VALUES = frozenset({"email", "e-mail", "e_mail", "e mail"})
_REFERRAL_MEDIUMS = frozenset({"referral", "app", "link"})
_AFFILIATE_MEDIUMS = frozenset({"affiliate", "affiliates"})


class _Facts:
    """What GA4's rules look at: the source (name and category), the medium and the campaign name.
    (Plain classes here: a dataclass costs a millisecond of cold start each.)"""

    __slots__ = ("source", "category", "medium", "campaign", "paid", "shop_campaign")

    def __init__(self, source: str, category: str | None, medium: str, campaign: str) -> None:
        self.source, self.category, self.medium, self.campaign = source, category, medium, campaign
        self.paid = bool(_PAID_MEDIUM.match(medium))
        self.shop_campaign = bool(_SHOP_CAMPAIGN.match(campaign))


# GA4's default channel group, rule by rule in GA4's order (the first that holds decides), with
# AI Assistants (a chat assistant's source category) before Organic Search.
_RULES: tuple[tuple[str, Callable[[_Facts], bool]], ...] = (
    (CROSS_NETWORK, lambda f: "cross-network" in f.campaign),
    (PAID_SHOPPING, lambda f: f.paid and (f.category == SHOPPING or f.shop_campaign)),
    (PAID_SEARCH, lambda f: f.paid and f.category == SEARCH),
    (PAID_SOCIAL, lambda f: f.paid and f.category == SOCIAL),
    (PAID_VIDEO, lambda f: f.paid and f.category == VIDEO),
    (DISPLAY, lambda f: f.medium in _DISPLAY_MEDIUMS),
    (PAID_OTHER, lambda f: f.paid),
    (ORGANIC_SHOPPING, lambda f: f.category == SHOPPING or f.shop_campaign),
    (ORGANIC_SOCIAL, lambda f: f.category == SOCIAL or f.medium in _SOCIAL_MEDIUMS),
    (ORGANIC_VIDEO, lambda f: f.category == VIDEO or bool(_VIDEO_MEDIUM.match(f.medium))),
    (AI_ASSISTANTS, lambda f: f.category == CHATBOT),
    (ORGANIC_SEARCH, lambda f: f.category == SEARCH or f.medium == "organic"),
    (REFERRAL, lambda f: f.medium in _REFERRAL_MEDIUMS),
    (EMAIL, lambda f: f.source in _EMAIL_VALUES or f.medium in _EMAIL_VALUES),
    (AFFILIATES, lambda f: f.medium in _AFFILIATE_MEDIUMS),
    (AUDIO, lambda f: f.medium == "audio"),
    (SMS, lambda f: f.source == "sms" or f.medium == "sms"),
    (MOBILE_PUSH, lambda f: f.medium.endswith("push") or "mobile" in f.medium or "notification" in f.medium
     or f.source == "firebase"),
)

# The medium a referrer implies (GA4 sets organic for search engines, referral for other sites);
# webmail is email, ad servers display.
_REFERRER_MEDIUM = {SEARCH: "organic", MAIL: "email", ADS: "display"}

# Click id -> (source, category, medium); medium None: the referrer tells the ad network (see above).
_CLICK_IDS: dict[str, tuple[str, str, str | None]] = {
    "gclid": ("google", SEARCH, None), "gbraid": ("google", SEARCH, None), "wbraid": ("google", SEARCH, None),
    "dclid": ("google", SEARCH, "display"), "msclkid": ("bing", SEARCH, None), "yclid": ("yandex", SEARCH, None),
    "ttclid": ("tiktok", SOCIAL, "cpc"), "li_fat_id": ("linkedin", SOCIAL, "cpc"), "twclid": ("twitter", SOCIAL, "cpc"),
    "sccid": ("snapchat", SOCIAL, "cpc"),
}
_ORGANIC_CLICK_IDS: dict[str, tuple[str, str]] = {"fbclid": ("facebook", SOCIAL)}
# The referrer categories a search network's ad click keeps (with medium cpc); any other is Display.
_AD_NETWORK_CATEGORIES = frozenset({SEARCH, VIDEO, SHOPPING})

_PARAMETERS = frozenset({"utm_source", "utm_medium", "utm_campaign", *_CLICK_IDS, *_ORGANIC_CLICK_IDS})
MAX_TAG_CHARS = 256
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
DATA = Path(__file__).resolve().parent / "data"
# Name priority when a utm_source value names providers of several media (yandex: search and email).
_MEDIUM_PRIORITY = (SEARCH, SOCIAL, CHATBOT, MAIL, ADS, UNKNOWN)


@dataclass(frozen=True)
class Source:
    referrer_host: str | None  # external referrer host without www. (None for direct / same site)
    source: str | None  # normalised source name: google, facebook, chatgpt, a utm_source lower-cased, a host
    channel: str  # one of CHANNELS


class _Origin:
    """A source before the rules: its name, category (None: not known) and medium."""

    __slots__ = ("name", "category", "medium")

    def __init__(self, name: str, category: str | None, medium: str) -> None:
        self.name, self.category, self.medium = name, category, medium


def _slug(name: str) -> str:
    return "-".join(name.lower().replace("!", "").split())


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def compile_lookup(media: dict[str, dict[str, list[str]]], ga4: dict[str, list[str]]) -> dict:
    """The lookup tables classify uses, from referer-parser's media and Google's source categories
    (scripts/update_referers.py stores them as data/referer_lookup.json: building them at each cold
    start would cost more than reading them)."""
    hosts: dict[str, list[list[str]]] = {}
    names: dict[str, list[list[str]]] = {}
    search_provider: dict[str, str] = {}
    for medium, providers in media.items():
        for provider, domains in providers.items():
            # "Google Images" is Google: a provider named after another of its medium takes that name.
            words = provider.split(" ")
            brand = next((b for b in (" ".join(words[:k]) for k in range(1, len(words))) if b in providers), provider)
            for domain in domains:
                host, _, path = domain.partition("/")
                host = _strip_www(host)
                entry = ["/" + path if path else "", medium, _slug(brand)]
                if entry not in hosts.setdefault(host, []):
                    hosts[host].append(entry)
                if medium == SEARCH:
                    search_provider[host] = provider
            names.setdefault(_slug(provider), []).append([medium, _slug(brand)])
    for entries in hosts.values():
        # A path entry saying what the host's own entry says is dropped (google.de/imgres: google.de).
        entries[:] = [e for e in entries if not e[0] or ["", *e[1:]] not in entries]
        entries.sort(key=lambda entry: len(entry[0]), reverse=True)  # the longest path prefix first
    # Search companies with other services on sub-domains of their search hosts.
    multi_service = {search_provider[parent] for host, entries in hosts.items()
                     if any(category != SEARCH for _, category, _ in entries)
                     for parent in _parents(host) if parent in search_provider}
    ordered = {key: min(found, key=lambda f: _MEDIUM_PRIORITY.index(f[0])) for key, found in names.items()}
    return {
        # host -> "category name[ /path]|..." (strings: the JSON reads twice as fast as nested lists)
        "hosts": {host: "|".join(" ".join([*e[1:], e[0]] if e[0] else e[1:]) for e in entries)
                  for host, entries in hosts.items()},
        "walk_stops": sorted(host for host, provider in search_provider.items() if provider in multi_service),
        "first": {s: c for c in (VIDEO, SHOPPING) for s in ga4.get(c, ()) if "." in s},
        "last": {s: c for c in (SEARCH, SOCIAL) for s in ga4.get(c, ()) if "." in s},
        # Google's names (facebook, fb, ig, youtube, netflix...) are what GA4 matches utm_source with.
        "names": {key: " ".join(found) for key, found in {
            **ordered, **{s: [c, s] for c in (SEARCH, SOCIAL, VIDEO, SHOPPING) for s in ga4.get(c, ()) if "." not in s}
        }.items()},
    }


def _parents(host: str) -> list[str]:
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


class _Tables:
    __slots__ = ("hosts", "walk_stops", "first", "last", "names")

    def __init__(self, data: dict) -> None:
        self.hosts: dict[str, str] = data["hosts"]  # host -> "category name[ /path]|..."
        self.walk_stops = frozenset(data["walk_stops"])  # search hosts whose sub-domains are not search
        self.first: dict[str, str] = data["first"]  # host -> video / shopping (Google's list, exact hosts)
        self.last: dict[str, str] = data["last"]  # host -> search / social (Google's list, exact hosts)
        self.names: dict[str, str] = data["names"]  # utm_source value -> "category source-name"


@cache
def _tables() -> _Tables:
    return _Tables(json.loads((DATA / "referer_lookup.json").read_text(encoding="utf-8")))


def _split(url: str | None) -> SplitResult | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - raises ValueError on a malformed host ("[::1")
    except ValueError:
        return None
    return parts


def _host(parts: SplitResult | None) -> str | None:
    host = parts.hostname if parts else None
    return _strip_www(host) if host else None


def referrer_host(referrer: str | None) -> str | None:
    """The referrer's host without a leading `www.`; None when there is no usable referrer."""
    return _host(_split(referrer))


def _referer_parser(host: str, path: str, walk: bool = True) -> tuple[str | None, str | None]:
    """(category, source name) from referer-parser: the host's entry, else its nearest parent's.
    (None, name) when that parent is the search host of a company that lends "search" to its listed
    hosts only (the name is kept: Google's own list may still call the host a search engine)."""
    tables = _tables()
    for candidate in [host, *_parents(host)] if walk else [host]:
        for entry in tables.hosts[candidate].split("|") if candidate in tables.hosts else ():
            category, name, *prefix = entry.split(" ")
            if prefix and not path.startswith(prefix[0]):
                continue
            if candidate != host and category == SEARCH and candidate in tables.walk_stops:
                return None, name
            return category, name
    return None, None


def _named(value: str) -> tuple[str | None, str | None]:
    """(category, source name) of a name of the lists (facebook, fb, yandex); (None, None) if none."""
    found = _tables().names.get(value)
    if found is None:
        return None, None
    category, name = found.split(" ", 1)
    return category, name


def _host_origin(host: str, path: str) -> _Origin:
    tables = _tables()
    category, name = _referer_parser(host, path)
    if host in tables.first:
        category = tables.first[host]
    elif category in (None, UNKNOWN) and host in tables.last:
        # Google's category where referer-parser has none (lens.google.com: search, sites.google.com: social)
        category, name = tables.last[host], (name if category is None else None)
    if category in (None, UNKNOWN):
        return _Origin(host, None, "referral")  # docs.google.com, drive.google.com, blog.example
    if name is None:  # a host of Google's list only: named by its label that is a name of that list
        name = next((n for label in host.split(".") for c, n in [_named(label)] if c == category), host)
    return _Origin(name, category, _REFERRER_MEDIUM.get(category, "referral"))


def _app_origin(package: str) -> _Origin:
    """An Android app: referer-parser lists some packages; else the package's reversed domain
    (com.reddit.frontpage: reddit.com) unless a search company's (their apps are many things), else
    a video, social or shopping name of the lists among its labels (com.google.android.youtube)."""
    category, name = _referer_parser(package, "", walk=False)
    if category and category != UNKNOWN:
        return _Origin(name or package, category, _REFERRER_MEDIUM.get(category, "referral"))
    labels = package.split(".")
    if len(labels) >= 2:
        origin = _host_origin(f"{labels[1]}.{labels[0]}", "/")
        if origin.category not in (None, SEARCH, ADS):
            return origin
    for label in labels[2:]:
        category, name = _named(label)
        if category in (SOCIAL, VIDEO, SHOPPING):
            return _Origin(name, category, "referral")
    return _Origin(package, None, "referral")


def _referrer_origin(parts: SplitResult, host: str) -> _Origin:
    if parts.scheme.lower() == "android-app":
        return _app_origin(host)
    return _host_origin(host, parts.path or "/")


def _tag_origin(value: str) -> _Origin:
    """What a utm_source names: a host (chatgpt.com), else a name of Google's list or referer-parser's."""
    if "." in value and " " not in value:
        host = referrer_host(value if "//" in value else "//" + value)
        if host:
            origin = _host_origin(host, "/")
            if origin.category:
                return _Origin(origin.name, origin.category, "")
    category, name = _named(value)
    name = name or value
    return _Origin(name, None if category == UNKNOWN else category, "")


def _click_origin(tags: dict[str, str], from_referrer: _Origin | None) -> _Origin | None:
    """A paid click's source, from its click id; a search network's ad shown on a video site is
    Paid Video, on a shopping site Paid Shopping, on any other site Display."""
    for key, (name, category, medium) in _CLICK_IDS.items():
        if tags.get(key):
            if medium is None:
                seen = from_referrer.category if from_referrer else SEARCH
                category, medium = (seen, "cpc") if seen in _AD_NETWORK_CATEGORIES else (category, "display")
            return _Origin(name, category, medium)
    return None


def _parameters(page: SplitResult | None) -> dict[str, str]:
    """Campaign tags and click ids of the page URL: first value, lower-cased, without control
    characters, at most MAX_TAG_CHARS."""
    found: dict[str, str] = {}
    for key, value in parse_qsl(page.query if page else "", keep_blank_values=True):
        key = key.lower()
        if key in _PARAMETERS and key not in found:
            found[key] = _CONTROL.sub("", value).strip().lower()[:MAX_TAG_CHARS]
    return found


def channel_of(source: str, category: str | None, medium: str, campaign: str = "") -> str:
    """The GA4 channel of a source (name and category), medium and campaign name, all lower-case."""
    facts = _Facts(source, category, medium, campaign)
    return next((channel for channel, holds in _RULES if holds(facts)), UNASSIGNED)


def classify(referrer: str | None, page_url: str | None) -> Source:
    """The visit's external referrer host, normalised source and GA4 channel (see the module's doc)."""
    parts, page = _split(referrer), _split(page_url)
    host = _host(parts)
    if host is not None and host == _host(page):
        host = None  # navigation inside the site is not a source
    tags = _parameters(page)
    from_referrer = _referrer_origin(parts, host) if parts and host else None
    clicked = _click_origin(tags, from_referrer)
    source, medium, campaign = tags.get("utm_source", ""), tags.get("utm_medium", ""), tags.get("utm_campaign", "")
    if source or medium:  # campaign tags; what they leave out comes from the click id or the referrer
        origin = _tag_origin(source) if source else (clicked or from_referrer)
        medium = medium or (clicked.medium if clicked else "") or (from_referrer.medium if from_referrer else "")
        if origin is not None and origin.category == MAIL and not medium:
            medium = "email"  # utm_source=gmail and nothing else
        name = origin.name if origin else None
        return Source(host, name, channel_of(source or name or "", origin and origin.category, medium, campaign))
    origin = clicked or from_referrer
    if origin is None:
        origin = next((_Origin(name, category, "referral") for key, (name, category) in _ORGANIC_CLICK_IDS.items()
                       if tags.get(key)), None)
    if origin is None:  # no source: Direct, unless the campaign name alone says Cross-network or shopping
        channel = channel_of("", None, "", campaign)
        return Source(None, None, DIRECT if channel == UNASSIGNED else channel)
    return Source(host, origin.name, channel_of(origin.name, origin.category, origin.medium, campaign))

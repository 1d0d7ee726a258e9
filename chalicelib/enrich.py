"""Server-side enrichment: what the request itself tells about an event.

User agent -> browser, OS, device type; bot detection; referrer -> host and channel; UTM tags;
country from CloudFront's header; a cookieless visitor id. The raw IP is used only inside the
visitor hash and is never stored. The user-agent libraries load on first use, not at import, so
a cold start that serves no event never pays for them.

Only the first MAX_USER_AGENT_CHARS characters of a User-Agent are ever looked at: the crawler list
takes time quadratic in the length, so the cap is what bounds a request's CPU.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from . import referrers
from .events import Event

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_UTM_CHARS = 256
# Real browsers' User-Agents are shorter: 99.9% of uap-core's 17,816 test strings are at most 271
# characters, the longest 492. Measured: a worst-case 8 KB string cost 12 s, its first 512 ~70 ms.
MAX_USER_AGENT_CHARS = 512
# Percent-decoding yields control characters (%00, %0A) but never a lone surrogate (bad UTF-8
# becomes U+FFFD); a header holds none of either from a real client.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_UNREADABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
FUTURE_TOLERANCE_MS = 5 * 60_000
PAST_LIMIT_MS = 24 * 3_600_000
COUNTRY_HEADER = "cloudfront-viewer-country"
_COUNTRY = re.compile(r"^[A-Z]{2}$")

# Command-line and server-side HTTP clients: crawler lists flag them, but they do not run page
# scripts, so an event from one was sent on purpose (server-side tracking, the deploy smoke test).
_HTTP_CLIENTS = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|httpie|node-fetch|undici|"
    r"axios|okhttp|go-http-client|apache-httpclient|postmanruntime|insomnia)/",
    re.IGNORECASE,
)

DESKTOP, MOBILE, TABLET, UNKNOWN = "desktop", "mobile", "tablet", "unknown"
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook|Nexus (7|9|10)\b", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|Opera Mini", re.IGNORECASE)
_DESKTOP = re.compile(r"Windows NT|Macintosh|X11|CrOS", re.IGNORECASE)
# ua-parser names mobile builds separately; the device type already says "mobile".
_BROWSER_NAMES = {
    "Chrome Mobile": "Chrome", "Chrome Mobile iOS": "Chrome", "Chrome Mobile WebView": "Chrome WebView",
    "Mobile Safari": "Safari", "Mobile Safari UI/WKWebView": "Safari WebView",
    "Firefox Mobile": "Firefox", "Firefox iOS": "Firefox", "Edge Mobile": "Edge",
    "Opera Mobile": "Opera", "Mac OS X": "macOS",
}


@dataclass(frozen=True)
class ClientInfo:
    browser: str
    browser_version: str | None
    os: str
    os_version: str | None
    device_type: str


@lru_cache(maxsize=1)
def _ua_parser():
    # Lazy matchers compile each rule on first use: ~30 ms to the first answer instead of ~100 ms
    # to build every matcher up front, on every cold start. The cache keeps repeat UAs cheap.
    from ua_parser import BasicResolver, Cache, CachingResolver, Parser, load_lazy_builtins

    return Parser(CachingResolver(BasicResolver(load_lazy_builtins()), Cache(512)))


@lru_cache(maxsize=1)
def _crawler_detector():
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


def device_type(user_agent: str) -> str:
    if _TABLET.search(user_agent) or ("Android" in user_agent and "Mobile" not in user_agent):
        return TABLET
    if _MOBILE.search(user_agent):
        return MOBILE
    if _DESKTOP.search(user_agent):
        return DESKTOP
    return UNKNOWN


def bounded_user_agent(user_agent: str) -> str:
    """The part of a User-Agent the server uses (parsers, bot check, visitor hash): its first
    MAX_USER_AGENT_CHARS characters, with anything that is not readable text made U+FFFD, so what
    the parsers copy from it into an event can always be stored."""
    return _UNREADABLE.sub("\ufffd", user_agent[:MAX_USER_AGENT_CHARS])


def describe_client(user_agent: str) -> ClientInfo:
    return _describe_client(bounded_user_agent(user_agent))


@lru_cache(maxsize=1024)
def _describe_client(user_agent: str) -> ClientInfo:
    if not user_agent:
        return ClientInfo("Unknown", None, "Unknown", None, UNKNOWN)
    parser = _ua_parser()
    ua = parser.parse_user_agent(user_agent)
    os_ = parser.parse_os(user_agent)
    browser = ua.family if ua else "Unknown"
    os_name = os_.family if os_ else "Unknown"
    return ClientInfo(
        browser=_BROWSER_NAMES.get(browser, browser),
        browser_version=ua.major if ua else None,
        os=_BROWSER_NAMES.get(os_name, os_name),
        os_version=(f"{os_.major}.{os_.minor}" if os_.minor else os_.major) if os_ and os_.major else None,
        device_type=device_type(user_agent),
    )


def is_bot(user_agent: str) -> bool:
    """Crawlers, spiders, headless and monitoring browsers: their events are dropped, not stored."""
    return _is_bot(bounded_user_agent(user_agent))


@lru_cache(maxsize=1024)
def _is_bot(user_agent: str) -> bool:
    if not user_agent or _HTTP_CLIENTS.match(user_agent):
        return False
    return bool(_crawler_detector().isCrawler(user_agent))


def country_code(header_value: str | None) -> str | None:
    value = (header_value or "").strip().upper()
    return value if _COUNTRY.match(value) else None


def utm_params(page_url: str | None) -> dict[str, str]:
    if not page_url:
        return {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(page_url).query, keep_blank_values=False):
        key = key.lower()
        if key not in UTM_PARAMETERS or key in params:
            continue
        value = _CONTROL.sub("", value).strip()  # tags are read in reports: %00 and %0A carry nothing
        if value:
            params[key] = value[:MAX_UTM_CHARS]
    return params


def event_time_ms(client_time_ms: int | None, received_ms: int) -> tuple[int, str | None]:
    """The time the event is counted at, and why the client's time was not used (if it was not)."""
    if client_time_ms is None:
        return received_ms, None
    if client_time_ms > received_ms + FUTURE_TOLERANCE_MS:
        return received_ms, "future"
    if client_time_ms < received_ms - PAST_LIMIT_MS:
        return received_ms, "past"
    return client_time_ms, None


def visitor_hash(salt: bytes, site: str, ip: str, user_agent: str) -> str:
    """A cookieless visitor id: stable for one day (the salt's), meaningless once the salt is gone.
    It hashes the bounded User-Agent, as the parsers see it: clients that differ only past its
    first 512 characters are one visitor (no real browser's User-Agent is that long)."""
    digest = hashlib.blake2b(
        "\x1f".join((site, ip, bounded_user_agent(user_agent))).encode("utf-8"), key=salt, digest_size=8
    )
    return "anon-" + digest.hexdigest()


# Where each attribute of the stored event comes from, so a record that cannot be stored names what
# the client sent (attributes not listed are fields of the same name, or properties.<key>).
_SOURCES = {
    "item": "event", "pk": "event_id", "page_host": "page_url", "page_path": "page_url", "referrer_host": "referrer",
    "visitor_id": "user_id", "time_ms": "timestamp", "client_time_ms": "timestamp",
    **dict.fromkeys(UTM_PARAMETERS, "page_url"),
    **dict.fromkeys(("browser", "browser_version", "os", "os_version", "device_type"), "User-Agent"),
    "country": "CloudFront-Viewer-Country",
}


def source_field(attribute: str) -> str:
    """The request field a stored attribute (or attribute path, `properties.plan`) was made from."""
    return _SOURCES.get(attribute.split(".")[0], attribute)


def event_record(
    event: Event,
    *,
    event_id: str,
    received_ms: int,
    visitor_id: str,
    client: ClientInfo,
    country: str | None,
    retention_seconds: int,
) -> dict:
    """The stored event: what the client sent plus what the server knows. Never the IP."""
    time_ms, time_adjusted = event_time_ms(event.client_time_ms, received_ms)
    page = urlsplit(event.page_url) if event.page_url else None
    utm = utm_params(event.page_url)
    source_host, channel = referrers.classify(event.referrer, page.hostname if page else None, utm)
    record = {
        "event_id": event_id,
        "site": event.site,
        "event_type": event.event_type,
        "time_ms": time_ms,
        "received_ms": received_ms,
        "visitor_id": visitor_id,
        "user_id": event.user_id,
        "page_url": event.page_url,
        "page_host": page.hostname if page else None,
        "page_path": (page.path or "/") if page else None,
        "title": event.title,
        "referrer": event.referrer,
        "referrer_host": source_host,
        "channel": channel,
        "browser": client.browser,
        "browser_version": client.browser_version,
        "os": client.os,
        "os_version": client.os_version,
        "device_type": client.device_type,
        "country": country,
        "properties": event.properties or None,
        "expires_at_s": received_ms // 1000 + retention_seconds,
        **utm,
    }
    if time_adjusted:
        record["time_adjusted"] = time_adjusted
        record["client_time_ms"] = event.client_time_ms
    return {k: v for k, v in record.items() if v is not None}

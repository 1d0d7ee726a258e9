"""The stored event: what the client sent plus what the request tells about it.

Country from CloudFront's header, UTM tags, the time the event is counted at and a cookieless
visitor id. The raw IP is used only inside the visitor hash and is never stored.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlsplit

from chalicelib.enrich import channels
from chalicelib.enrich.clients import ClientInfo
from chalicelib.enrich.useragent import bounded_user_agent
from chalicelib.ingest.events import Event

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
MAX_UTM_CHARS = 256
# Percent-decoding yields control characters (%00, %0A); a header holds none from a real client.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
FUTURE_TOLERANCE_MS = 5 * 60_000
# The default of how far behind a client's timestamp may be (Settings.max_event_age_hours sets it).
PAST_LIMIT_MS = 24 * 3_600_000
COUNTRY_HEADER = "cloudfront-viewer-country"
_COUNTRY = re.compile(r"^[A-Z]{2}$")


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


def event_time_ms(client_time_ms: int | None, received_ms: int,
                  past_limit_ms: int = PAST_LIMIT_MS) -> tuple[int, str | None]:
    """The time the event is counted at, and why the client's time was not used (if it was not)."""
    if client_time_ms is None:
        return received_ms, None
    if client_time_ms > received_ms + FUTURE_TOLERANCE_MS:
        return received_ms, "future"
    if client_time_ms < received_ms - past_limit_ms:
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
    past_limit_ms: int = PAST_LIMIT_MS,
) -> dict:
    """The stored event: what the client sent plus what the server knows. Never the IP."""
    time_ms, time_adjusted = event_time_ms(event.client_time_ms, received_ms, past_limit_ms)
    page = urlsplit(event.page_url) if event.page_url else None
    utm = utm_params(event.page_url)
    origin = channels.classify(event.referrer, event.page_url)
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
        "referrer_host": origin.referrer_host,
        "source": origin.source,
        "channel": origin.channel,
        "browser": client.browser,
        "browser_version": client.browser_version,
        "os": client.os,
        "os_version": client.os_version,
        "device_type": client.device_type,
        "country": country,
        "properties": event.properties or None,
        "revenue": event.revenue,  # the lake's revenue_amount / revenue_currency (lake/rows.py)
        "expires_at_s": received_ms // 1000 + retention_seconds,
        **utm,
    }
    if time_adjusted:
        record["time_adjusted"] = time_adjusted
        record["client_time_ms"] = event.client_time_ms
    return {k: v for k, v in record.items() if v is not None}

"""User-Agent Client Hints: what Chromium browsers say about themselves now that their User-Agent is
reduced ("Android 10; K": no model, no real OS version).

Two ways in: the low-entropy hints every Chromium browser sends as headers on secure requests
(Sec-CH-UA, Sec-CH-UA-Mobile, Sec-CH-UA-Platform), and the SDK's `client_hints` (what
`navigator.userAgentData` gives: brands, mobile, platform; beacons carry no such headers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.core.errors import ApiError

HINT_HEADERS = ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform")
MAX_BRANDS = 10
MAX_HINT_CHARS = 64
# Browsers add a made-up brand ("Not A;Brand", "Not)A;Brand", "Not_A Brand") so servers do not
# match on exact lists; "Chromium" is named beside every Chromium-based browser.
_GREASE = re.compile(r"not.?a.?brand", re.IGNORECASE)
_BROWSER_NAMES = {"Google Chrome": "Chrome", "Microsoft Edge": "Edge", "Opera": "Opera", "Brave": "Brave",
                  "Samsung Internet": "Samsung Internet", "Yandex": "Yandex Browser", "Vivaldi": "Vivaldi"}
_OS_NAMES = {"macOS": "macOS", "Windows": "Windows", "Android": "Android", "Chrome OS": "Chrome OS",
             "Chromium OS": "Chrome OS", "Linux": "Linux", "iOS": "iOS"}
_HEADER_BRAND = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*;\s*v\s*=\s*"((?:[^"\\]|\\.)*)"\s*')
_READABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


@dataclass(frozen=True)
class ClientHints:
    mobile: bool | None
    platform: str | None
    brands: tuple[tuple[str, str], ...] = ()

    def browser(self) -> tuple[str, str | None] | None:
        """The browser the brands name (not the GREASE one, not plain Chromium when another is named)."""
        named = [(brand, version) for brand, version in self.brands if not _GREASE.search(brand)]
        specific = [(b, v) for b, v in named if b != "Chromium"] or named
        if not specific:
            return None
        brand, version = specific[0]
        return _BROWSER_NAMES.get(brand, brand), (version.split(".")[0] or None)

    def os(self) -> str | None:
        return _OS_NAMES.get(self.platform or "")


def _text(value, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_HINT_CHARS or not _READABLE.fullmatch(value):
        raise ApiError(400, "invalid_client_hints",
                       f"{field} must be a string of at most {MAX_HINT_CHARS} readable characters", field=field)
    return value


def from_body(raw) -> ClientHints:
    """The SDK's `client_hints`: navigator.userAgentData as JSON ({brands, mobile, platform});
    a known hint of the wrong shape is refused, naming it."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_client_hints", "client_hints must be an object {brands, mobile, platform}",
                       field="client_hints")
    # Other keys are ignored, not refused: a browser whose userAgentData.toJSON() grows a field
    # must not lose its events. Nothing but brands, mobile and platform is read or stored.
    mobile = raw.get("mobile")
    if mobile is not None and not isinstance(mobile, bool):
        raise ApiError(400, "invalid_client_hints", "client_hints.mobile must be true or false",
                       field="client_hints.mobile")
    platform = raw.get("platform")
    brands = raw.get("brands", [])
    if not isinstance(brands, list) or len(brands) > MAX_BRANDS:
        raise ApiError(400, "invalid_client_hints", f"client_hints.brands must be a list of at most {MAX_BRANDS} "
                       "{brand, version} objects", field="client_hints.brands")
    pairs = []
    for brand in brands:
        if not isinstance(brand, dict) or set(brand) != {"brand", "version"}:
            raise ApiError(400, "invalid_client_hints", "each of client_hints.brands must be {brand, version}",
                           field="client_hints.brands")
        pairs.append((_text(brand["brand"], "client_hints.brands"), _text(brand["version"], "client_hints.brands")))
    return ClientHints(mobile, None if platform is None else _text(platform, "client_hints.platform"), tuple(pairs))


def from_headers(headers: dict[str, str]) -> ClientHints | None:
    """The Sec-CH-UA headers a Chromium browser sends (lower-cased names); None without them.
    Malformed values are ignored, not refused: headers are the browser's, not the site's."""
    mobile_header = headers.get("sec-ch-ua-mobile", "").strip()
    platform_header = headers.get("sec-ch-ua-platform", "").strip()
    brands_header = headers.get("sec-ch-ua", "")
    if not (mobile_header or platform_header or brands_header):
        return None
    mobile = {"?1": True, "?0": False}.get(mobile_header)
    platform = platform_header.strip('"')[:MAX_HINT_CHARS]
    brands = tuple((m[1][:MAX_HINT_CHARS], m[2][:MAX_HINT_CHARS])
                   for m in _HEADER_BRAND.finditer(brands_header[:1024])
                   if _READABLE.fullmatch(m[1]) and _READABLE.fullmatch(m[2]))[:MAX_BRANDS]
    return ClientHints(mobile, platform if platform and _READABLE.fullmatch(platform) else None, brands)

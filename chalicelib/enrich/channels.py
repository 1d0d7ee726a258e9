"""Where a visit came from: the referrer's host and its channel (direct, search, social, email, referral).

The host lists are ours: short, covering the sources that bring almost all traffic (the same ground
as GA4's default channel grouping and Plausible's source list). Extend them here, in one place.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

DIRECT, SEARCH, SOCIAL, EMAIL, REFERRAL = "direct", "search", "social", "email", "referral"
CHANNELS = (DIRECT, SEARCH, SOCIAL, EMAIL, REFERRAL)

# Brands whose search runs on many country domains (google.de, yandex.com.tr, ...).
_SEARCH_BRANDS = re.compile(
    r"(^|\.)(google|bing|yahoo|yandex|baidu|naver|seznam|ecosia|qwant|duckduckgo|startpage|"
    r"sogou|ask|aol|daum|kagi|dogpile|mojeek)(\.[a-z]{2,3}){1,2}$"
)
_SEARCH_HOSTS = ("search.brave.com", "so.com", "search.aol.com", "yandex.ru", "ya.ru")
# Webmail is checked before search: mail.google.com is Gmail, not Google search.
_EMAIL_HOSTS = (
    "mail.google.com", "com.google.android.gm", "outlook.live.com", "outlook.office.com",
    "outlook.office365.com", "mail.yahoo.com", "mail.proton.me", "mail.aol.com", "mail.yandex.ru",
    "mail.zoho.com", "app.fastmail.com", "mail.ru", "e.mail.ru", "webmail.gmx.net", "icloud.com",
)
_SOCIAL_HOSTS = (
    "facebook.com", "fb.com", "fb.me", "instagram.com", "twitter.com", "x.com", "t.co",
    "linkedin.com", "lnkd.in", "reddit.com", "redd.it", "youtube.com", "youtu.be", "pinterest.com",
    "tiktok.com", "threads.net", "bsky.app", "mastodon.social", "news.ycombinator.com", "vk.com",
    "weibo.com", "quora.com", "t.me", "telegram.org", "whatsapp.com", "wa.me", "snapchat.com",
    "tumblr.com", "discord.com", "slack.com", "medium.com", "line.me", "xing.com",
    "com.linkedin.android", "com.twitter.android", "com.facebook.katana", "com.reddit.frontpage",
)
_SEARCH_UTM_SOURCES = {"google", "bing", "yahoo", "duckduckgo", "yandex", "baidu", "ecosia", "naver"}
_SOCIAL_UTM_SOURCES = {
    "facebook", "fb", "instagram", "ig", "twitter", "x", "linkedin", "reddit", "youtube",
    "pinterest", "tiktok", "threads", "bluesky", "mastodon", "hackernews", "hn", "whatsapp",
    "telegram",
}
_EMAIL_UTM = {"email", "e-mail", "e_mail", "mail", "newsletter"}
_SOCIAL_UTM_MEDIUMS = {"social", "social-network", "social_network", "social-media", "sm", "social media"}


def _matches(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def referrer_host(referrer: str | None) -> str | None:
    """The referrer's host without a leading `www.`; None when there is no usable referrer."""
    if not referrer:
        return None
    try:
        host = urlsplit(referrer).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def channel_of_host(host: str) -> str:
    if _matches(host, _EMAIL_HOSTS):
        return EMAIL
    if _SEARCH_BRANDS.search(host) or _matches(host, _SEARCH_HOSTS):
        return SEARCH
    if _matches(host, _SOCIAL_HOSTS):
        return SOCIAL
    return REFERRAL


def same_site(host: str, page_host: str | None) -> bool:
    if not page_host:
        return False
    page_host = page_host[4:] if page_host.startswith("www.") else page_host
    return host == page_host


def classify(referrer: str | None, page_host: str | None, utm: dict[str, str]) -> tuple[str | None, str]:
    """Returns (external referrer host or None, channel). Campaign tags win over the referrer."""
    host = referrer_host(referrer)
    if host is not None and same_site(host, page_host):
        host = None  # navigation inside the site is not a source
    medium = utm.get("utm_medium", "").lower()
    source = utm.get("utm_source", "").lower()
    if medium in _EMAIL_UTM or source in _EMAIL_UTM:
        return host, EMAIL
    if medium in _SOCIAL_UTM_MEDIUMS:
        return host, SOCIAL
    if host is not None:
        return host, channel_of_host(host)
    if source:
        if source in _SEARCH_UTM_SOURCES:
            return None, SEARCH
        if source in _SOCIAL_UTM_SOURCES:
            return None, SOCIAL
        return None, REFERRAL
    return None, DIRECT

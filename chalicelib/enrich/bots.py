"""Bots: crawlers, spiders, headless and monitoring browsers. Their events are dropped, not stored."""

from __future__ import annotations

import re
from functools import lru_cache

from .useragent import bounded_user_agent

# Command-line and server-side HTTP clients: crawler lists flag them, but they do not run page
# scripts, so an event from one was sent on purpose (server-side tracking, the deploy smoke test).
_HTTP_CLIENTS = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|httpie|node-fetch|undici|"
    r"axios|okhttp|go-http-client|apache-httpclient|postmanruntime|insomnia)/",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _crawler_detector():
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


def is_bot(user_agent: str) -> bool:
    return _is_bot(bounded_user_agent(user_agent))


@lru_cache(maxsize=1024)
def _is_bot(user_agent: str) -> bool:
    if not user_agent or _HTTP_CLIENTS.match(user_agent):
        return False
    return bool(_crawler_detector().isCrawler(user_agent))

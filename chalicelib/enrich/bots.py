"""Bots: crawlers, spiders, headless and monitoring browsers. Their events are dropped, not stored.

bot_category(user_agent) names the kind of bot (one of CATEGORIES), None for a browser; in order:
1. Command-line and server-side HTTP clients (_HTTP_CLIENTS: curl, wget, python-requests...) are
   not bots here: README's documented policy (server-side tracking, the deploy smoke test).
2. The crawler-user-agents list (PyPI `crawler-user-agents`, MIT; kept current by its pin in
   requirements.txt): its patterns name the bot, its tags give the category (_TAG_CATEGORIES; an AI
   agent fetching for a person is "ai-assistant"). Matched case-sensitively, as its README says the
   patterns are meant to be used, and only where a pattern stands as a name (_is_name: "ViewSonic"
   is no "Sonic") outside an Android browser's device model (_ANDROID_DEVICE).
3. Our own short rule list (_WORDS, _PATTERNS) for bots no list names yet: words only a program
   calls itself, a contact address, a User-Agent that is nothing but a program's name and version;
   their "other" refined by _HINTS (AI, search).

Everything works on the first MAX_USER_AGENT_CHARS characters, in time linear in their number: the
list's literal patterns are found through an index of their first characters, the few real regular
expressions and our rules have no nested repetition. Nothing is loaded at import; the list is read
and indexed on the first call (~20 ms), and answers are cached by User-Agent.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Callable
from functools import lru_cache

from chalicelib.enrich.useragent import bounded_user_agent

CATEGORIES = ("search", "ai-crawler", "ai-assistant", "monitor", "automation", "preview", "scanner",
              "feed-reader", "seo", "other")
# When several patterns match, the most specific category wins.
_PRIORITY = {category: rank for rank, category in enumerate(
    ("ai-assistant", "ai-crawler", "automation", "scanner", "monitor", "preview", "feed-reader", "search", "seo",
     "other"))}

# Command-line and server-side HTTP clients: crawler lists flag them, but they do not run page
# scripts, so an event from one was sent on purpose (server-side tracking, the deploy smoke test).
# A User-Agent that starts with one of these names, followed by "/" or nothing, is one. aiohttp's
# own is "Python/3.12 aiohttp/3.9.1"; Node's built-in fetch sends "node" or "undici".
_HTTP_CLIENTS = ("curl", "wget", "python-requests", "python-urllib", "python-httpx", "aiohttp", "httpie",
                 "node-fetch", "undici", "node", "axios", "okhttp", "go-http-client", "apache-httpclient",
                 "postmanruntime", "insomnia")


def _is_http_client(user_agent: str) -> bool:
    """Whether README's policy keeps this User-Agent's events: a command-line or server-side HTTP client."""
    lower = user_agent.lower()
    if lower.startswith("python/"):
        lower = lower.partition(" ")[2]
    return any(lower.startswith(name) and lower[len(name):len(name) + 1] in ("", "/") for name in _HTTP_CLIENTS)


# crawler-user-agents' tags; "advertising", "archiver", "academic" and "http-library" are "other".
_TAG_CATEGORIES = {
    "ai-crawler": "ai-crawler", "browser-automation": "automation", "scanner": "scanner", "monitoring": "monitor",
    "social-preview": "preview", "feed-reader": "feed-reader", "search-engine": "search", "seo": "seo",
}
# An AI agent that fetches a page because a person asked it to ("ChatGPT-User", "Perplexity-User",
# "Claude-User", "MistralAI-User"; or one the list's description calls an assistant or user-triggered)
# rather than for an index or a training set.
_ASSISTANT_NAME = r"-?User\b"
_ASSISTANT_DESCRIPTION = r"\bassistant\b"
_USER_TRIGGERED = r"user-triggered|on behalf of|when a (?:person|user)"
_AI = r"\bAI\b|\bLLM\b"


# Our own rules, for bots no list names, written with the generic words of isbot (npm `isbot`,
# Unlicense) and Matomo device-detector's "Generic Bot" rule in view, and kept to those no real
# browser of Matomo's fixtures contains. First, words, found case-insensitively; "\b" before one: it starts a
# word; "\b" after: no letter follows it.
_WORDS = (
    ("automation", ("headless", "webdriver", "selenium", "puppeteer", "playwright", "phantomjs", "cypress",
                    "automation")),
    ("monitor", ("uptime", "monitor", "synthetic", "healthcheck", "health-check", "health check", "health_check",
                 "statuscheck", "status-check", "status check", "diagnostic", "probe", "observatory", "measure")),
    ("scanner", (r"scan\b", r"scanner\b", r"scanning\b", r"security\b", "vuln", "exploit", "pentest", "audit",
                 "inspect", "fingerprint", r"recon\b", "phish",
                 "${", "{{", "<?", "jndi:")),  # the last ones: template and code injection probes
    ("preview", ("preview", "externalhit", "linkexpand", "link-expand", "link expand", "unfurl", "thumbnail",
                 "screenshot")),
    ("feed-reader", ("feed", r"\brss", "aggregator")),
    ("seo", (r"\bseo", "backlink", r"serp\b")),
    ("other", (r"bot\b", r"bots\b", "crawl", "spider", r"scrape\b", r"scraper\b", r"scraping\b", "fetch", "grabber",
               "archiv", "harvest", r"indexer\b", r"indexing\b", "analys", "analyz", "lookup", r"check\b",
               r"checker\b", "validat", "verif", "research", "collector", "extractor", r"parser\b", "detector",
               r"finder\b", "transcoder", "prospect", "useragent", "user-agent", "user agent", "user_agent",
               r"agent\b", "classifier", r"cron\b", r"\bcurl\b", r"\bwget\b", "|")),
    # A contact address (browsers name no web site).
    ("other", ("http://", "https://", r"\bwww.", "+http")),
)
# Then regular expressions (each linear: no nested or overlapping repetition).
_PATTERNS = (
    # An agent fetching for a person names itself "<Product>-User" ("ChatGPT-User", "Claude-User").
    ("ai-assistant", r"(?-i:[a-zA-Z]-User\b)"),
    # Google's own fetchers are "Google-Xxx" or "Xxx-Google" ("GoogleTV" is not one).
    ("other", r"google-[a-z]|(?-i:[a-z]-Google\b)"),
    # A name written into the rendering engine's comment, "(KHTML, like Gecko; Google Search Console)".
    ("other", r"\(KHTML, like Gecko;"),
    # An e-mail address or a domain name.
    ("other", r"[\w.-]@[a-z0-9-]+\.[a-z]|(?<![a-z])[a-z]{2,}\.(?:com|net|org|io|co|eu|me|ai)(?![\w.])"),
    # Nothing but a program's name and version ("collectd/5.5.1", "Mozilla/5.0 Keydrop",
    # "Mozilla/5.0 (compatible; Kaupr/1.0)"); a single word with no digit ("Browsershots", "Zeus");
    # words with no product/version at all ("Cloudflare Custom Hostname Verification") unless the
    # last is "Browser".
    ("other", r"^[^/() ]+/[^/() ]+$|^[^/() ]+ v?\d[\d.]*$|^Mozilla/\d\.\d+ [^ ()]+$"
              r"|^Mozilla/\d\.\d+ \((?:compatible(?:; ?[^;()/ ]+/[^;() ]+)?|[^;()/ ]+/[^;() ]+)\)$"
              r"|^[^\d\s/();]+$|^[\d\s.]+$|^(?=[^ ]* )[^/();]+$(?<!browser)"),
)

# What kind of bot one our rules found but could only call "other" is: an AI company's or model's
# name ("xAI-Bot", "Character-AI", "MistralAI-Index", a ".ai" contact, "GPT", "LLM"), or a search
# engine's crawler ("EasouSpider", "YandexComBot ... search"). Only ever consulted for a bot.
_HINTS = (
    ("ai-crawler", r"(?-i:\bAI\b|[a-z]AI\b|\bAI-|-AI\b|LLM|GPT)|[a-z]\.ai\b"),
    ("search", r"search|spider"),
)

# The device-model part of an Android browser's platform comment, "(Linux; Android 15; CPH2655
# Build/AP3A.240617.008)", and the device an in-app browser describes, "Instagram 237.0.0.7.102
# Android (28/9; 480dpi; 1080x2115; CUBOT; X20 PRO; ...)": model names (ViewSonic, HTC Butterfly,
# Cubot, Spider 8) and build ids collide with bot names, and no bot names itself there.
_ANDROID_DEVICE = (
    r"Android[ /]?[\d.]*;(?: ?U;)?(?: ?[a-z]{2}(?:[-_][a-z]{2,4})?;)?(?:[^;()]|\([^;()]*\))*(?:; ?Build/[^;)]*)?"
    r"|Android \(\d+/[\d.]+;[^()]*\)")

_SPECIAL = r"[\\.^$*+?()\[\]{}|]"
_INDEX_WIDTH = 3
_START, _END = "\x02", "\x03"


class _NotLiteral(ValueError):
    """A pattern that needs a regular expression."""


def _expand(pattern: str) -> list[str]:
    """The finite set of strings a simple pattern matches: escaped punctuation, classes of single letters or
    digits, groups of alternatives and anchors (kept as _START/_END marks); anything else raises _NotLiteral."""
    strings, end = _alternatives(pattern, 0)
    if end != len(pattern) or any(_START in string[1:] or _END in string[:-1] for string in strings):
        raise _NotLiteral(pattern)
    return strings


def _alternatives(pattern: str, at: int) -> tuple[list[str], int]:
    strings, sequence = [], [""]
    while at < len(pattern) and pattern[at] != ")":
        if pattern[at] == "|":
            strings += sequence
            sequence, at = [""], at + 1
            continue
        options, at = _atom(pattern, at)
        sequence = [head + option for head in sequence for option in options]
        if len(sequence) > 16:
            raise _NotLiteral(pattern)
    return strings + sequence, at


def _atom(pattern: str, at: int) -> tuple[list[str], int]:
    """The strings one element of a pattern matches, and where the next one starts."""
    char = pattern[at]
    if char == "(":
        options, at = _alternatives(pattern, at + 1)
        if at >= len(pattern):
            raise _NotLiteral(pattern)
        return options, at + 1
    if char == "[":
        close = pattern.find("]", at + 1)
        options = list(pattern[at + 1:close])
        if close < 0 or not options or not all(c.isalnum() for c in options):
            raise _NotLiteral(pattern)
        return options, close + 1
    if char == "\\":
        if at + 1 >= len(pattern) or pattern[at + 1].isalnum() or pattern[at + 1].isspace():
            raise _NotLiteral(pattern)
        return [pattern[at + 1]], at + 2
    if char in "^$":
        return [_START if char == "^" else _END], at + 1
    if char in ".*+?{}]":
        raise _NotLiteral(pattern)
    return [char], at + 1


def _is_name(user_agent: str, start: int, end: int) -> bool:
    """Whether user_agent[start:end] stands as a name rather than inside a longer word ("ViewSonic" is no
    "Sonic", "SogouMobileBrowser" no "Sogou"): it may start at a camel-case hump ("RankSonic") and be
    followed by digits ("trendictionbot0.5"), not by letters."""
    if start and user_agent[start].isalnum() and user_agent[start - 1].isalnum() and not (
            user_agent[start - 1].islower() and user_agent[start].isupper()):
        return False
    return end == len(user_agent) or not (user_agent[end - 1].isalnum() and user_agent[end].isalpha())


class _CrawlerList:
    """crawler-user-agents' patterns. Almost all are literal strings, or a few of them ("[cC]laude[bB]ot"):
    those are found through an index of their first _INDEX_WIDTH characters, one dictionary look-up per
    position of the User-Agent; the handful of real regular expressions are compiled, each searched alone."""

    def __init__(self, entries: list[dict]) -> None:
        self.index: dict[str, list[tuple[str, str]]] = {}
        self.anchored: list[tuple[str, str]] = []  # strings with a _START or _END mark, and very short ones
        self.regexes: list[tuple[re.Pattern, str]] = []
        special = re.compile(_SPECIAL).search
        categorise = _Categories()
        for entry in entries:
            pattern = entry["pattern"]
            category = categorise(entry)
            if special(pattern):
                # Most are literals with escaped punctuation ("Googlebot\/", "Mail\.RU_Bot").
                unescaped = pattern.replace("\\/", "/").replace("\\.", ".")
                try:
                    strings = _expand(pattern) if special(unescaped) else [unescaped]
                except _NotLiteral:
                    self.regexes.append((re.compile(pattern), category))
                    continue
            else:
                strings = [pattern]
            for string in strings:
                if string[0] == _START or string[-1] == _END or len(string) < _INDEX_WIDTH:
                    self.anchored.append((string, category))
                else:
                    self.index.setdefault(string[:_INDEX_WIDTH], []).append((string, category))

    def categories(self, user_agent: str) -> set[str]:
        found = set()
        index = self.index
        for at in range(len(user_agent) - _INDEX_WIDTH + 1):
            candidates = index.get(user_agent[at:at + _INDEX_WIDTH])
            if candidates:
                for string, category in candidates:
                    if user_agent.startswith(string, at) and _is_name(user_agent, at, at + len(string)):
                        found.add(category)
        marked = _START + user_agent + _END
        for string, category in self.anchored:
            at = marked.find(string)
            if at >= 0 and _is_name(marked, at, at + len(string)):
                found.add(category)
        for regex, category in self.regexes:
            if any(_is_name(user_agent, *match.span()) for match in regex.finditer(user_agent)):
                found.add(category)
        return found


class _Categories:
    """A crawler-user-agents entry's category, from its tags (and for AI agents its name and description)."""

    def __init__(self) -> None:
        self.by_tags: dict[tuple[str, ...], str] = {}
        self.assistant_name = re.compile(_ASSISTANT_NAME).search
        self.assistant_description = re.compile(_ASSISTANT_DESCRIPTION, re.IGNORECASE).search
        self.user_triggered = re.compile(_USER_TRIGGERED, re.IGNORECASE).search
        self.ai = re.compile(_AI).search

    def __call__(self, entry: dict) -> str:
        tags = entry.get("tags") or ()
        if "ai-crawler" in tags or "browser-automation" in tags:
            pattern, description = entry["pattern"], entry.get("description", "")
            if self.user_triggered(description) or ("ai-crawler" in tags or self.ai(description)) and (
                    self.assistant_name(pattern) or self.assistant_description(description)):
                return "ai-assistant"
        key = tuple(tags)
        if key not in self.by_tags:
            categories = [_TAG_CATEGORIES[tag] for tag in tags if tag in _TAG_CATEGORIES]
            self.by_tags[key] = min(categories, key=_PRIORITY.__getitem__) if categories else "other"
        return self.by_tags[key]


class _Detector:
    def __init__(self) -> None:
        # Located, not imported: the package's __init__ would parse the same file a second time.
        from importlib.util import find_spec

        path = os.path.join(os.path.dirname(find_spec("crawleruseragents").origin), "crawler-user-agents.json")
        # The file's ~20,000 objects would otherwise make the cyclic garbage collector run several
        # times over them while the index is built (half the load time); none of them is cyclic.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with open(path, "rb") as data:
                self.crawlers = _CrawlerList(json.load(data))
        finally:
            if collecting:
                gc.enable()
        self.android_device = re.compile(_ANDROID_DEVICE, re.IGNORECASE)
        self.words = [(word.removeprefix("\\b").removesuffix("\\b"), category, word.startswith("\\b"),
                       word.endswith("\\b")) for category, words in _WORDS for word in words]
        self.patterns = re.compile("|".join(f"(?P<p{n}>{pattern})" for n, (_, pattern) in enumerate(_PATTERNS)),
                                   re.IGNORECASE).finditer

    def category(self, user_agent: str) -> str | None:
        if not user_agent or _is_http_client(user_agent):
            return None
        masked = self.masked(user_agent)
        found = self.crawlers.categories(masked)
        if found:
            return min(found, key=_PRIORITY.__getitem__)
        found = self.generic(masked)
        if not found:
            return None
        category = min(found, key=_PRIORITY.__getitem__)
        if category == "other":
            hint = _hints()(masked)
            return _HINTS[int(hint.lastgroup[1:])][0] if hint else category
        return category

    def generic(self, user_agent: str) -> set[str]:
        """The categories our own rules give."""
        found = {_PATTERNS[int(match.lastgroup[1:])][0] for match in self.patterns(user_agent)}
        lower = user_agent.lower()
        for word, category, starts, ends in self.words:
            at = lower.find(word)
            while at >= 0:
                end = at + len(word)
                if (not starts or not at or not lower[at - 1].isalnum()) and (
                        not ends or end == len(lower) or not lower[end].isalpha()):
                    found.add(category)
                    break
                at = lower.find(word, at + 1)
        return found

    def masked(self, user_agent: str) -> str:
        """The User-Agent with its Android device models blanked out (NULs, which bounded_user_agent never leaves)."""
        if "ndroid" not in user_agent.lower():
            return user_agent
        return self.android_device.sub(lambda device: "\0" * len(device[0]), user_agent)


@lru_cache(maxsize=1)
def _hints() -> Callable[[str], re.Match | None]:
    """Compiled on first use: most bots are categorised by the list."""
    return re.compile("|".join(f"(?P<h{n}>{hint})" for n, (_, hint) in enumerate(_HINTS)), re.IGNORECASE).search


@lru_cache(maxsize=1)
def _detector() -> _Detector:
    return _Detector()


def bot_category(user_agent: str) -> str | None:
    """The kind of bot that sent this User-Agent, one of CATEGORIES; None for a browser or a command-line client."""
    return _bot_category(bounded_user_agent(user_agent))


def is_bot(user_agent: str) -> bool:
    return bot_category(user_agent) is not None


@lru_cache(maxsize=1024)
def _bot_category(user_agent: str) -> str | None:
    return _detector().category(user_agent)

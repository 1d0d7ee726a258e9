"""Bot detection measured against public data nobody here wrote (issue 12, item 1).

- crawler-user-agents (PyPI `crawler-user-agents`, MIT): every pattern's `instances`, real bot
  User-Agents; the detector uses the same package's patterns, so this checks how it reads them.
- Matomo device-detector's test fixtures (shipped in the PyPI `device-detector` wheel, LGPL-3.0):
  `bots.yml`, 1,348 labelled bot User-Agents the detector has no list of, and ~34,500 real
  browsers (the fixtures whose client type is "browser") that must be kept.
Each figure is printed (pytest -s shows them) and a test fails below the issue's target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml_rs

from chalicelib.enrich import bots
from chalicelib.enrich.useragent import MAX_USER_AGENT_CHARS
from tests.unit import test_enrich

RECALL_TARGET = 0.95
BROWSERS_DROPPED_TARGET = 0.0005  # 0.05%
CHROME = test_enrich.CHROME_WINDOWS


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    assert spec and spec.origin, f"{name} is not installed (requirements-dev.txt pins it)"
    return Path(spec.origin).parent


def _policy_clients(user_agents: list[str]) -> list[str]:
    """The command-line and server-side HTTP clients README's policy keeps (not bots by design)."""
    return [ua for ua in user_agents if bots._is_http_client(ua)]


@pytest.fixture(scope="module")
def crawler_user_agents() -> list[dict]:
    return json.loads((_package_dir("crawleruseragents") / "crawler-user-agents.json").read_bytes())


@pytest.fixture(scope="module")
def matomo() -> dict[str, list]:
    """Matomo's fixtures: "bots" as (user agent, category), "browsers" as (file, user agent)."""
    folder = _package_dir("device_detector") / "tests" / "fixtures" / "upstream"
    fixtures = {"bots": [], "browsers": [], "in-app": []}
    for path in sorted(folder.glob("*.yml")):
        entries = yaml_rs.loads(path.read_text()) or []
        if path.name == "bots.yml":
            fixtures["bots"] = [(e["user_agent"], (e.get("bot") or {}).get("category")) for e in entries]
            continue
        clients = [(path.name, e["user_agent"], e["client"].get("type")) for e in entries
                   if isinstance(e.get("client"), dict)]
        fixtures["browsers"] += [(name, ua) for name, ua, kind in clients if kind == "browser"]
        # Apps' web views (Instagram's, Facebook's...): people reading a page, with the page's scripts.
        fixtures["in-app"] += [(name, ua) for name, ua, kind in clients
                               if kind == "mobile app" and ua.startswith("Mozilla/")]
    assert len(fixtures["bots"]) > 1000 and len(fixtures["browsers"]) > 30000
    return fixtures


def _recall(name: str, user_agents: list[str]) -> float:
    clients = _policy_clients(user_agents)
    judged = [ua for ua in user_agents if ua not in clients]
    missed = [ua for ua in judged if not bots.is_bot(ua)]
    recall = 1 - len(missed) / len(judged)
    print(f"\n{name}: {len(user_agents)} bot User-Agents, {len(clients)} command-line clients left out by policy, "
          f"{len(judged) - len(missed)}/{len(judged)} detected = {recall:.2%}; missed e.g. {missed[:5]}")
    return recall


def test_recall_on_every_crawler_user_agents_instance(crawler_user_agents):
    instances = [ua for entry in crawler_user_agents for ua in entry.get("instances", [])]
    assert len(instances) > 2000
    assert _recall("crawler-user-agents instances", instances) >= RECALL_TARGET


def test_recall_on_matomo_bots(matomo):
    assert _recall("Matomo bots.yml fixtures", [ua for ua, _ in matomo["bots"]]) >= RECALL_TARGET


def test_real_browsers_are_kept(matomo):
    browsers = matomo["browsers"]
    dropped = [(name, ua, bots.bot_category(ua)) for name, ua in browsers if bots.is_bot(ua)]
    rate = len(dropped) / len(browsers)
    print(f"\nMatomo browser fixtures: {len(dropped)} of {len(browsers)} dropped = {rate:.4%}")
    for name, ua, category in dropped:
        print(f"  {category:12} {name:20} {ua[:120]}")
    assert rate <= BROWSERS_DROPPED_TARGET


def test_in_app_browsers_are_kept(matomo):
    """Not a target of the issue, but people all the same: a few are dropped because crawler-user-agents
    lists the app itself (Viber) or an Electron app (VS Code's "Code/")."""
    in_app = matomo["in-app"]
    dropped = [ua for _, ua in in_app if bots.is_bot(ua)]
    print(f"\nMatomo in-app browsers: {len(dropped)} of {len(in_app)} dropped = {len(dropped) / len(in_app):.2%}")
    assert len(in_app) > 1000 and len(dropped) / len(in_app) <= 0.01


@pytest.mark.parametrize("ua", [
    test_enrich.CHROME_WINDOWS, test_enrich.SAFARI_MAC, test_enrich.FIREFOX_LINUX, test_enrich.EDGE_WINDOWS,
    test_enrich.SAFARI_IPHONE, test_enrich.CHROME_ANDROID, test_enrich.SAMSUNG_INTERNET, test_enrich.CHROME_IPAD,
    test_enrich.ANDROID_TABLET, test_enrich.CHROMEBOOK,
    # Names crawler lists are known to take for bots: a device model, Chrome's network stack.
    "Mozilla/5.0 (Linux; Android 5.1; CRONY-7021 Build/LMY47I) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/95.0.4638.74 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36 Cronet/131.0.6778.39",
])
def test_browsers_are_not_bots(ua):
    assert bots.bot_category(ua) is None
    assert not bots.is_bot(ua)


@pytest.mark.parametrize("ua, category", [
    ("anthropic-ai", "ai-crawler"),
    ("cohere-ai", "ai-crawler"),
    ("meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "ai-crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
     "ai-crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     "ai-crawler"),
    ("CCBot/2.0 (https://commoncrawl.org/faq/)", "ai-crawler"),
    ("Mozilla/5.0 (compatible; Google-Extended/1.0; +http://www.google.com/bot.html)", "ai-crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; "
     "+https://perplexity.ai/perplexity-user)", "ai-assistant"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
     "ai-assistant"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)",
     "ai-assistant"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; MistralAI-User/1.0; "
     "+https://docs.mistral.ai/robots)", "ai-assistant"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.35 Safari/537.36 "
     "(Checkly, https://www.checklyhq.com)", "monitor"),
    ("Amazon-Route53-Health-Check-Service (ref b0eb04d5-cb5e-40e7-839b-558e52fc3f0d; report http://amzn.to/1vsZADi)",
     "monitor"),
    ("Amazon Route 53 Health Check Service; ref:xxxxxxxx-xxxx-xxxxxxxxx-xxxxxxxxxxxx; report http://amzn.to/xxxxxxx",
     "monitor"),
    ("Blackbox Exporter/0.20.0-rc.0", "monitor"),
    ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitor"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Playwright/1.40.0", "automation"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36; Selenium", "automation"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
     "Safari/537.36", "automation"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview"),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "preview"),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; like FeedFetcher-Google)", "feed-reader"),
    ("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", "scanner"),
    ("Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)", "scanner"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "search"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "search"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "seo"),
])
def test_named_bots_land_in_their_category(ua, category):
    assert bots.bot_category(ua) == category
    assert bots.is_bot(ua)


def test_every_category_is_reachable_from_the_list(crawler_user_agents):
    found = {bots.bot_category(ua) for entry in crawler_user_agents for ua in entry.get("instances", [])}
    assert set(bots.CATEGORIES) <= found
    assert {"search", "ai-crawler", "ai-assistant", "monitor", "automation", "preview", "scanner"} <= set(
        bots.CATEGORIES)


def test_categories_agree_with_matomo_where_both_name_one(matomo):
    """Matomo labels each bot; where its label maps onto one of ours, report the agreement. The
    taxonomies differ (Matomo calls Google's ad and feed fetchers "Search bot", crawler-user-agents
    tags them advertising and feed-reader), so only a floor is required."""
    ours = {"Search bot": "search", "AI Data Scraper": "ai-crawler", "AI Search Crawler": "ai-crawler",
            "AI Assistant": "ai-assistant", "AI Agent": "ai-assistant", "Site Monitor": "monitor",
            "Security Checker": "scanner", "Feed Fetcher": "feed-reader", "Feed Reader": "feed-reader",
            "Social Media Agent": "preview"}
    compared = [(ours[label], bots.bot_category(ua)) for ua, label in matomo["bots"] if label in ours]
    compared = [(want, got) for want, got in compared if got]
    agree = sum(want == got for want, got in compared)
    print(f"\nMatomo categories: {agree}/{len(compared)} agree = {agree / len(compared):.1%}")
    for category in sorted(set(ours.values())):
        pairs = [got for want, got in compared if want == category]
        print(f"  {category:12} {sum(got == category for got in pairs)}/{len(pairs)}")
    assert agree / len(compared) >= 0.5


@pytest.mark.parametrize("ua", ["curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3", "Python-urllib/3.11",
                                "Python/3.12 aiohttp/3.9.1", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
                                "undici", "node", "Go-http-client/1.1", "okhttp/4.12.0", "axios/1.7.2",
                                "PostmanRuntime/7.39.0", ""])
def test_command_line_clients_are_not_bots(ua):
    # README: an event sent with curl or a server-side library was sent on purpose (server-side tracking).
    assert bots.bot_category(ua) is None


def test_only_the_first_512_characters_are_judged():
    padding = " x" * ((MAX_USER_AGENT_CHARS - len(CHROME)) // 2 + 10)
    assert bots.bot_category(CHROME + padding + " Googlebot/2.1") is None  # beyond the bound
    assert bots.bot_category(CHROME + " Googlebot/2.1" + padding) == "search"
    assert bots.is_bot("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) " + "0" * 8192)


def test_is_bot_is_bot_category_is_not_none(crawler_user_agents):
    for entry in crawler_user_agents[:200]:
        for ua in entry.get("instances", []):
            assert bots.is_bot(ua) == (bots.bot_category(ua) is not None)


def _adversarial() -> dict[str, str]:
    """512-character User-Agents built to make pattern matching backtrack."""
    import random

    rng = random.Random(12)
    shapes = {
        "one letter": "x", "words": "abc ", "Mozilla": "Mozilla/5.0 (", "Android": "Android 1.0; ",
        "parentheses": "(", "KHTML": "(KHTML, like Gecko;", "regex prefix": "ContextualBot ", "Spider": "Spider",
        "Current": "Current ", "AdsBot": "AdsBot-Google-", "domain": "ab.", "e-mail": "a.@", "dashes": "a-User",
        "build": "x; Build/", "spaces": " ", "semicolons": ";", "slashes": "/", "index key": "Goo",
    }
    cases = {name: (piece * MAX_USER_AGENT_CHARS)[:MAX_USER_AGENT_CHARS] for name, piece in shapes.items()}
    cases["Android model"] = ("Linux; Android 4.4; " + "a(b)" * 200)[:MAX_USER_AGENT_CHARS]
    for n in range(20):
        cases[f"random {n}"] = "".join(rng.choice("aA/().;- _@:0Bot") for _ in range(MAX_USER_AGENT_CHARS))
    return cases


def test_time_is_bounded():
    """Uncached answers: a typical browser well under a millisecond, a worst-case 512-character
    User-Agent a few (linear time: no pattern backtracks), on this slow shared machine."""
    detector = bots._detector()
    times = {}
    for name, ua in {"Chrome": CHROME, **_adversarial()}.items():
        start = time.perf_counter()
        for _ in range(5):
            detector.category(ua)
        times[name] = (time.perf_counter() - start) / 5 * 1000
    worst = max(times, key=times.get)
    print(f"\nuncached: Chrome {times['Chrome']:.3f} ms; worst 512-character case {worst!r} {times[worst]:.2f} ms")
    assert times["Chrome"] < 3 and times[worst] < 25  # generous: the machine is shared


def test_import_loads_nothing_and_the_first_call_loads_the_list():
    """The Lambda cold start: importing the module reads no data; the first answer reads and indexes
    the list (figures printed; the bounds are loose because the machine is shared)."""
    script = (
        "import sys, time\n"
        "import chalicelib.enrich.useragent\n"
        "t = time.perf_counter(); import chalicelib.enrich.bots as bots; t = time.perf_counter() - t\n"
        "assert 'crawleruseragents' not in sys.modules and bots._detector.cache_info().currsize == 0\n"
        f"ua = {CHROME!r}\n"
        "f = time.perf_counter(); bots.bot_category(ua); f = time.perf_counter() - f\n"
        "print(f'{t * 1000:.1f} {f * 1000:.1f}')\n"
    )
    root = Path(__file__).resolve().parents[2]
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root,
                             env={**os.environ, "PYTHONPATH": str(root)})
        runs.append([float(x) for x in out.stdout.split()])
    first = sorted(r[1] for r in runs)
    print(f"\nfirst call (list read and indexed): {first[0]:.1f} ms best of 3, {first[1]:.1f} ms median")
    assert first[0] < 150

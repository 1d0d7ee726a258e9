"""Enrichment with real user-agent strings of current browsers, bots and crawlers."""

import pytest

from chalicelib import enrich
from chalicelib.enrich import bots, channels, clients
from chalicelib.ingest.events import Event

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
SAFARI_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.1 Safari/605.1.15")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.6778.135 Mobile Safari/537.36")
SAMSUNG_INTERNET = ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36")
CHROME_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "CriOS/131.0.6778.103 Mobile/15E148 Safari/604.1")
ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.6778.135 Safari/537.36")
CHROMEBOOK = ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")

BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) "
    "Chrome/131.0.6778.139 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
]


@pytest.mark.parametrize("ua, browser, os_name, device", [
    (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
    (SAFARI_MAC, "Safari", "macOS", "desktop"),
    (FIREFOX_LINUX, "Firefox", "Linux", "desktop"),
    (EDGE_WINDOWS, "Edge", "Windows", "desktop"),
    (SAFARI_IPHONE, "Safari", "iOS", "mobile"),
    (CHROME_ANDROID, "Chrome", "Android", "mobile"),
    (SAMSUNG_INTERNET, "Samsung Internet", "Android", "mobile"),
    (CHROME_IPAD, "Chrome", "iOS", "tablet"),
    (ANDROID_TABLET, "Chrome", "Android", "tablet"),
    (CHROMEBOOK, "Chrome", "Chrome OS", "desktop"),
    ("curl/8.5.0", "curl", "Unknown", "unknown"),
    ("", "Unknown", "Unknown", "unknown"),
])
def test_describe_client(ua, browser, os_name, device):
    client = enrich.describe_client(ua)
    assert (client.browser, client.os, client.device_type) == (browser, os_name, device)


def test_versions_are_kept():
    client = enrich.describe_client(SAFARI_IPHONE)
    assert (client.browser_version, client.os_version) == ("18", "18.1")


@pytest.mark.parametrize("ua", BOTS)
def test_bots_are_detected(ua):
    assert enrich.is_bot(ua)


@pytest.mark.parametrize("ua", [CHROME_WINDOWS, SAFARI_MAC, FIREFOX_LINUX, EDGE_WINDOWS, SAFARI_IPHONE,
                                CHROME_ANDROID, SAMSUNG_INTERNET, CHROME_IPAD, ANDROID_TABLET, CHROMEBOOK])
def test_browsers_are_not_bots(ua):
    assert not enrich.is_bot(ua)


@pytest.mark.parametrize("ua", ["curl/8.5.0", "python-requests/2.32.3", "Python-urllib/3.11", "Wget/1.21.4"])
def test_http_clients_are_deliberate_senders_not_bots(ua):
    # The operations guide's own smoke test is a curl request: it must be stored.
    assert not enrich.is_bot(ua)


def test_utm_parameters_from_page_url():
    url = ("https://shop.example/p?utm_source=Newsletter&UTM_MEDIUM=email&utm_campaign=black+friday"
           "&utm_term=shoes&utm_content=hero&utm_id=9&other=1&utm_source=second")
    assert enrich.utm_params(url) == {"utm_source": "Newsletter", "utm_medium": "email",
                                      "utm_campaign": "black friday", "utm_term": "shoes",
                                      "utm_content": "hero"}
    assert enrich.utm_params("https://shop.example/") == {}


@pytest.mark.parametrize("header, expected", [("DE", "DE"), ("us", "US"), ("XX1", None), ("", None), (None, None)])
def test_country_code(header, expected):
    assert enrich.country_code(header) == expected


RECEIVED_MS = 1_795_700_000_000


@pytest.mark.parametrize("client_ms, expected", [
    (None, (RECEIVED_MS, None)),
    (RECEIVED_MS - 60_000, (RECEIVED_MS - 60_000, None)),
    (RECEIVED_MS + 4 * 60_000, (RECEIVED_MS + 4 * 60_000, None)),  # small clock skew is kept
    (RECEIVED_MS + 6 * 60_000, (RECEIVED_MS, "future")),
    (RECEIVED_MS - 25 * 3_600_000, (RECEIVED_MS, "past")),
])
def test_event_time_is_clamped(client_ms, expected):
    assert enrich.event_time_ms(client_ms, RECEIVED_MS) == expected


def test_visitor_hash_is_stable_per_salt_and_never_contains_the_ip():
    salt, other_salt = b"s" * 16, b"t" * 16
    first = enrich.visitor_hash(salt, "demo", "203.0.113.7", CHROME_WINDOWS)
    assert first == enrich.visitor_hash(salt, "demo", "203.0.113.7", CHROME_WINDOWS)
    assert first != enrich.visitor_hash(other_salt, "demo", "203.0.113.7", CHROME_WINDOWS)
    assert first != enrich.visitor_hash(salt, "shop", "203.0.113.7", CHROME_WINDOWS)
    assert first != enrich.visitor_hash(salt, "demo", "203.0.113.8", CHROME_WINDOWS)
    assert first.startswith("anon-") and "203.0.113.7" not in first


def test_event_record_combines_client_and_server_facts():
    event = Event(event_type="page_view", site="demo",
                  page_url="https://shop.example/shoes?utm_source=google&utm_medium=cpc",
                  referrer="https://www.google.de/", title="Shoes", client_time_ms=RECEIVED_MS + 3_600_000)
    record = enrich.event_record(event, event_id="e1", received_ms=RECEIVED_MS, visitor_id="anon-1",
                                 client=enrich.describe_client(SAFARI_IPHONE), country="DE",
                                 retention_seconds=400 * 86_400)
    assert record == {
        "event_id": "e1", "site": "demo", "event_type": "page_view", "time_ms": RECEIVED_MS,
        "received_ms": RECEIVED_MS, "visitor_id": "anon-1",
        "page_url": "https://shop.example/shoes?utm_source=google&utm_medium=cpc",
        "page_host": "shop.example", "page_path": "/shoes", "title": "Shoes",
        "referrer": "https://www.google.de/", "referrer_host": "google.de", "source": "google",
        "channel": "Paid Search",
        "browser": "Safari", "browser_version": "18", "os": "iOS", "os_version": "18.1",
        "device_type": "mobile", "country": "DE", "expires_at_s": RECEIVED_MS // 1000 + 400 * 86_400,
        "utm_source": "google", "utm_medium": "cpc",
        "time_adjusted": "future", "client_time_ms": RECEIVED_MS + 3_600_000,
    }


class TestUserAgentBound:
    """Only the first MAX_USER_AGENT_CHARS characters are ever parsed: pattern lists take superlinear time."""

    @pytest.fixture
    def seen(self, monkeypatch):
        """What the bot lists and ua-parser are given (fresh caches, recording fakes)."""
        seen: list[str] = []

        class Detector:
            def category(self, user_agent):
                seen.append(user_agent)
                return None

        class Parser:
            def parse_user_agent(self, user_agent):
                seen.append(user_agent)

            parse_os = parse_user_agent

        monkeypatch.setattr(bots, "_detector", Detector)
        monkeypatch.setattr(clients, "_ua_parser", Parser)
        bots._bot_category.cache_clear()
        clients._describe_client.cache_clear()
        yield seen
        bots._bot_category.cache_clear()
        clients._describe_client.cache_clear()

    def test_an_8_kb_user_agent_is_cut_to_512_characters_before_any_parser(self, seen):
        user_agent = CHROME_WINDOWS + "x" * (8192 - len(CHROME_WINDOWS))
        enrich.is_bot(user_agent)
        enrich.describe_client(user_agent)
        assert seen and all(ua == user_agent[:enrich.MAX_USER_AGENT_CHARS] for ua in seen)
        assert enrich.MAX_USER_AGENT_CHARS == 512

    def test_real_user_agents_are_parsed_whole(self, seen):
        for user_agent in [CHROME_WINDOWS, SAMSUNG_INTERNET, *BOTS]:
            assert enrich.bounded_user_agent(user_agent) == user_agent
        enrich.is_bot(SAMSUNG_INTERNET)
        assert seen == [SAMSUNG_INTERNET]

    def test_a_bot_named_within_the_bound_is_still_found(self):
        assert enrich.is_bot(BOTS[0] + " " + "0" * 8192)

    def test_the_visitor_hash_uses_the_bounded_user_agent(self):
        salt, base = b"s" * 16, CHROME_WINDOWS.ljust(512, "x")
        assert enrich.visitor_hash(salt, "demo", "203.0.113.7", base + "tail-1") == \
            enrich.visitor_hash(salt, "demo", "203.0.113.7", base + "tail-2")
        assert enrich.visitor_hash(salt, "demo", "203.0.113.7", CHROME_WINDOWS) != \
            enrich.visitor_hash(salt, "demo", "203.0.113.7", FIREFOX_LINUX)

    def test_unreadable_characters_in_a_user_agent_never_reach_a_record(self):
        # No real client sends them, but a header is client input: what ua-parser copies out must be storable.
        assert enrich.bounded_user_agent("Mozilla/5.0 \ud800\x00\x1b\tok") == "Mozilla/5.0 \ufffd\ufffd\ufffd\tok"
        assert enrich.visitor_hash(b"s" * 16, "demo", "203.0.113.7", "\ud800").startswith("anon-")
        client = enrich.describe_client("Mozilla/5.0 (\ud800) Chrome/131.0.0.0 \x00")
        assert all("\ud800" not in (value or "") and "\x00" not in (value or "") for value in vars(client).values())


class TestDerivedValuesAreStorable:
    def test_percent_encoded_surrogates_in_utm_tags_become_replacement_characters(self):
        # UTF-8 for U+D800 (ED A0 80) is invalid UTF-8: urllib's decoding replaces it, never a lone surrogate.
        tags = enrich.utm_params("https://shop.example/?utm_source=%ED%A0%80x&utm_term=%FF&utm_medium=%F0%9F%98%80")
        assert tags == {"utm_source": "\ufffd\ufffd\ufffdx", "utm_term": "\ufffd", "utm_medium": "\U0001F600"}
        assert all(value.encode("utf-8") for value in tags.values())

    def test_control_characters_are_dropped_from_utm_tags(self):
        tags = enrich.utm_params("https://shop.example/?utm_source=news%00letter%0A&utm_medium=%1B%7F&utm_campaign=a+b")
        assert tags == {"utm_source": "newsletter", "utm_campaign": "a b"}  # only controls: no tag at all

    def test_the_referrer_host_is_never_percent_decoded(self):
        assert channels.referrer_host("https://%ED%A0%80.example/") == "%ED%A0%80.example"

    @pytest.mark.parametrize("attribute, field", [
        ("page_path", "page_url"), ("utm_source", "page_url"), ("referrer_host", "referrer"),
        ("visitor_id", "user_id"), ("client_time_ms", "timestamp"), ("browser", "User-Agent"),
        ("properties.plan", "properties.plan"), ("title", "title"), ("pk", "event_id"), ("item", "event"),
    ])
    def test_each_stored_attribute_names_the_request_field_it_came_from(self, attribute, field):
        assert enrich.source_field(attribute) == field

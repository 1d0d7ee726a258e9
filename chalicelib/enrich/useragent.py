"""The part of a User-Agent the server looks at.

Only the first MAX_USER_AGENT_CHARS characters are ever given to a parser, the bot lists or the
visitor hash: pattern lists take time that grows faster than the length, so the cap is what bounds
a request's CPU.
"""

from __future__ import annotations

import re

# Real browsers' User-Agents are shorter: 99.9% of uap-core's 17,816 test strings are at most 271
# characters, the longest 492. Measured: a worst-case 8 KB string cost 12 s, its first 512 ~70 ms.
MAX_USER_AGENT_CHARS = 512
# Percent-decoding yields control characters (%00, %0A) but never a lone surrogate (bad UTF-8
# becomes U+FFFD); a header holds none of either from a real client.
_UNREADABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def bounded_user_agent(user_agent: str) -> str:
    """The first MAX_USER_AGENT_CHARS characters, with anything that is not readable text made
    U+FFFD, so what the parsers copy from it into an event can always be stored."""
    return _UNREADABLE.sub("\ufffd", user_agent[:MAX_USER_AGENT_CHARS])

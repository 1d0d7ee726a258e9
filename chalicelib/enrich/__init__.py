"""Server-side enrichment: what the request itself tells about an event.

useragent: the bounded User-Agent every parser sees; bots: events from bots are dropped;
clients: browser, OS and device type; channels: where a visit came from; record: the stored event.
"""

from chalicelib.enrich import hints
from chalicelib.enrich.bots import bot_category, is_bot
from chalicelib.enrich.clients import ClientInfo, describe_client
from chalicelib.enrich.record import country_code, event_record, event_time_ms, source_field, utm_params, visitor_hash
from chalicelib.enrich.useragent import MAX_USER_AGENT_CHARS, bounded_user_agent

__all__ = [
    "MAX_USER_AGENT_CHARS", "ClientInfo", "bot_category", "bounded_user_agent", "country_code", "describe_client",
    "event_record", "event_time_ms", "hints", "is_bot", "source_field", "utm_params", "visitor_hash",
]

"""The only package that speaks DynamoDB. The domain gets these stores as arguments."""

from chalicelib.store.base import Backoff, create_dynamodb_client, from_item, to_item
from chalicelib.store.events import EventStore
from chalicelib.store.limits import LimitStore
from chalicelib.store.salts import SaltStore
from chalicelib.store.sessions import SessionStore
from chalicelib.store.stats import StatsStore

__all__ = [
    "Backoff", "EventStore", "LimitStore", "SaltStore", "SessionStore", "StatsStore", "create_dynamodb_client",
    "from_item", "to_item",
]

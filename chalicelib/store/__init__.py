"""The only package that speaks DynamoDB. The domain gets these stores as arguments."""

from .base import Backoff, create_dynamodb_client, from_item, to_item
from .events import EventStore
from .limits import LimitStore
from .salts import SaltStore
from .sessions import SessionStore
from .stats import StatsStore

__all__ = [
    "Backoff", "EventStore", "LimitStore", "SaltStore", "SessionStore", "StatsStore", "create_dynamodb_client",
    "from_item", "to_item",
]

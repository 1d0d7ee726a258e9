"""The shared counters of the per-site limit of events per minute (chalicelib/ingest/ratelimit.py).

One small item per site and UTC minute in the statistics table: `pk` "<site>#limit" (site ids
cannot contain '#', so it meets no statistics key), `sk` the minute ("2026-11-26T12:05"), and
`reserved_events`, the events of that minute that processes have taken leases on. Every change is
one conditional ADD, so the counter never passes the limit whatever the number of processes.
TTL removes the item a few minutes after its minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.store.base import Backoff, call, condition_failed, error_code

LIMIT_KEY_SUFFIX = "#limit"
RESERVED_ATTRIBUTE = "reserved_events"
MINUTE_MS = 60_000
# A minute's counter is kept this long after the minute ends (then DynamoDB's TTL removes it, for
# free); nothing reads an old minute, so this only has to outlast clock differences between processes.
COUNTER_KEPT_SECONDS = 300


def limit_key(site: str) -> str:
    return site + LIMIT_KEY_SUFFIX


def minute_label(minute_start_ms: int) -> str:
    """The counter's sort key: the UTC minute, spelt like the minute statistics buckets."""
    return datetime.fromtimestamp(minute_start_ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Reservation:
    """The answer to one attempt at reserving events of a minute."""

    granted: bool
    # The minute's counter after the reservation (granted) or as it stood when it was refused.
    reserved_events: int


class LimitStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None) -> None:
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()

    def reserve(self, site: str, minute_start_ms: int, events: int, limit: int) -> Reservation:
        """Adds `events` to the site's counter of the minute starting at `minute_start_ms` if the
        counter stays at most `limit`. One UpdateItem either way: a refusal comes back with the
        counter as it stood (ReturnValuesOnConditionCheckFailure), so the caller learns what is left
        without a read. StoreUnavailable when DynamoDB cannot answer within the request's deadline.

        An attempt that timed out after it was applied and is retried by call() reserves twice, or
        is refused by its own first attempt: the minute then admits fewer events, never more."""
        if not 0 < events <= limit:
            raise ValueError(f"cannot reserve {events} events of a limit of {limit}")
        label = minute_label(minute_start_ms)
        expires_at_s = (minute_start_ms + MINUTE_MS) // 1000 + COUNTER_KEPT_SECONDS
        try:
            response = call(
                self._backoff, self._client.update_item, TableName=self._table,
                Key={"pk": {"S": limit_key(site)}, "sk": {"S": label}},
                UpdateExpression="ADD #reserved :events SET expires_at_s = :ttl",
                ConditionExpression="attribute_not_exists(#reserved) OR #reserved <= :most_before",
                ExpressionAttributeNames={"#reserved": RESERVED_ATTRIBUTE},
                ExpressionAttributeValues={":events": {"N": str(events)}, ":ttl": {"N": str(expires_at_s)},
                                           ":most_before": {"N": str(limit - events)}},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return Reservation(False, _reserved(exc.response.get("Item", {})))
            # Access denied, a missing table: the counter cannot be reached (the caller fails open).
            raise StoreUnavailable(f"limit counter {limit_key(site)} {label}: {error_code(exc)}") from exc
        return Reservation(True, _reserved(response.get("Attributes", {})))


def _reserved(attributes: dict) -> int:
    value = attributes.get(RESERVED_ATTRIBUTE)
    return int(value["N"]) if value else 0

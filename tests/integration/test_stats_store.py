"""Minute statistics buckets on moto: exactly-once updates and a size bound no flood can pass."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from botocore.exceptions import ReadTimeoutError

from chalicelib.schema.tables import STATS
from chalicelib.stats.buckets import DIMENSIONS, MAX_VALUE_BYTES, value_key
from chalicelib.stats.merging import DIMENSION_BYTES_KEPT, capped, merge
from chalicelib.stats.rollup import minute_buckets
from chalicelib.stats.summary import merged_minute, summary_record
from chalicelib.store import StatsStore
from chalicelib.store.base import Backoff, to_item
from chalicelib.store.stats import (
    MAX_MEMBERS_PER_SET,
    MAX_TOKENS_PER_SET,
    MAX_VALUES_PER_MAP,
    TOKEN_SETS,
    BucketUpdate,
    update_request,
)
from chalicelib.store.storable import MAX_ITEM_BYTES, check_item
from tests.integration.conftest import STAGE, Serialized

PK, MINUTE_LABEL = "demo#m#0", "2026-11-27T10:05"
TTL_S = 2_000_000_000


def update(pages=(), visitors=(), token=None, counters=None) -> BucketUpdate:
    maps = {name: {} for name in DIMENSIONS}
    maps["page"] = dict(Counter(pages))
    return BucketUpdate(counters if counters is not None else {"pageviews": len(pages)}, maps, set(visitors),
                        token or random.randbytes(8), TTL_S)


def items(dynamodb) -> list[dict]:
    return dynamodb.query(TableName=STATS.name(STAGE), KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": {"S": PK}})["Items"]


def merged(store) -> Counter:
    return merge(minute_buckets(store, "demo", 1, 1_795_600_000_000 - 1, 1_895_600_000_000)).counters


@pytest.fixture
def store(dynamodb, no_sleep_backoff):
    return StatsStore(dynamodb, STATS.name(STAGE), no_sleep_backoff)


class LandThenTimeOut:
    """The DynamoDB client whose first UpdateItem is applied and then answered with a read timeout,
    as when the response is lost on the way back: the caller cannot know it landed."""

    def __init__(self, client) -> None:
        self._client, self.timeouts = client, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def update_item(self, **kwargs):
        response = self._client.update_item(**kwargs)
        if self.timeouts == 0 and "ConditionExpression" in kwargs:
            self.timeouts += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        return response


def test_an_update_whose_answer_was_lost_is_applied_once(dynamodb):
    store = StatsStore(dynamodb, STATS.name(STAGE), Backoff(sleep=lambda _: None))
    store.add(PK, MINUTE_LABEL, update(["/a"], [b"v0000000"]))  # creates the item
    flaky = LandThenTimeOut(dynamodb)
    StatsStore(flaky, STATS.name(STAGE), Backoff(sleep=lambda _: None)).add(
        PK, MINUTE_LABEL, update(["/a", "/b"], [b"v0000001"]))
    assert flaky.timeouts == 1  # the update landed, its answer was lost, and it was resent
    counters = merged(store)
    assert (counters["pageviews"], counters["page:/a"], counters["page:/b"]) == (3, 2, 1)


def test_a_retiring_update_whose_answer_was_lost_is_applied_once(dynamodb):
    """The same, for the process's second update of the item: it retires the first one's token in the same
    expression, and its resend finds its own token there (DELETE of a token already gone changes nothing)."""
    flaky = LandThenTimeOut(dynamodb)
    store = StatsStore(flaky, STATS.name(STAGE), Backoff(sleep=lambda _: None))
    flaky.timeouts = 1  # not yet: the first update (it creates the item) is answered
    store.add(PK, MINUTE_LABEL, update(["/a"], [b"v0000000"]))
    flaky.timeouts = 0
    store.add(PK, MINUTE_LABEL, update(["/a"], [b"v0000001"]))  # the first UpdateItem of this store
    assert flaky.timeouts == 1
    store.add(PK, MINUTE_LABEL, update(["/b"], [b"v0000002"]))
    [item] = items(dynamodb)
    assert sum(len(item.get(name, {}).get("BS", [])) for name in TOKEN_SETS) == 1
    counters = merged(store)
    assert (counters["pageviews"], counters["page:/a"], counters["page:/b"]) == (3, 2, 1)


def test_an_item_keeps_one_token_a_process_not_one_an_update(dynamodb, no_sleep_backoff):
    """Each process's next update of an item retires its previous token (its success was seen, so it is
    never resent): the item stops growing 8 bytes a request, and every update still counts once."""
    table = STATS.name(STAGE)
    one, other = StatsStore(dynamodb, table, no_sleep_backoff), StatsStore(dynamodb, table, no_sleep_backoff)
    for i in range(30):
        (one if i % 3 else other).add(PK, MINUTE_LABEL, update([f"/{i % 4}"], [bytes([i]) * 8]))
    [item] = items(dynamodb)
    tokens = [t for name in ("applied", "applied_b") for t in item.get(name, {}).get("BS", [])]
    assert len(tokens) == 2  # the last of each process
    assert merged(one)["pageviews"] == 30 and len(item["visitors"]["BS"]) == 30


class CountingWrites:
    """A client that counts the writes made through it."""

    def __init__(self, client) -> None:
        self._client, self.writes = client, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_item(self, **kwargs):
        self.writes += 1
        return self._client.put_item(**kwargs)

    def update_item(self, **kwargs):
        self.writes += 1
        return self._client.update_item(**kwargs)


def test_a_process_new_to_a_continued_minute_goes_to_its_newest_item(dynamodb, no_sleep_backoff):
    """Each refused write is billed on its item's size: a process that has not yet written a minute
    reads where it continues from the minute's first item, rather than trying every full item."""
    table = STATS.name(STAGE)
    busy = StatsStore(dynamodb, table, no_sleep_backoff)
    for i in range(5 * MAX_VALUES_PER_MAP):  # distinct pages: a new item every MAX_VALUES_PER_MAP
        busy.add(PK, MINUTE_LABEL, update([f"/p{i}"]))
    assert len(items(dynamodb)) == 5
    first = next(i for i in items(dynamodb) if i["sk"]["S"] == MINUTE_LABEL)
    assert first["newest_item"] == {"N": "4"}
    counting = CountingWrites(dynamodb)
    StatsStore(counting, table, no_sleep_backoff).add(PK, MINUTE_LABEL, update(["/p499"]))
    assert counting.writes == 2  # the first item refusing (and naming the newest), the newest item
    counters = merged(busy)
    assert counters["pageviews"] == 5 * MAX_VALUES_PER_MAP + 1 and "newest_item" not in counters


def test_a_bucket_is_updated_first_and_created_when_missing(dynamodb, no_sleep_backoff):
    """Writers update first (a minute's bucket most likely exists: the stream function creates it as the
    minute starts); a missing one costs a refused update (1 unit), a refused create would cost the item."""
    table, counting = STATS.name(STAGE), CountingWrites(dynamodb)
    store = StatsStore(counting, table, no_sleep_backoff)
    store.add(PK, MINUTE_LABEL, update(["/a"]))
    assert counting.writes == 2  # the update refused, the create
    StatsStore(counting, table, no_sleep_backoff).add(PK, MINUTE_LABEL, update(["/b"]))
    assert counting.writes == 3  # the update alone
    assert merged(store)["pageviews"] == 2


def test_a_retried_stream_batch_finds_its_update_in_an_earlier_item_than_the_newest(dynamodb, no_sleep_backoff):
    """A stream batch's update that landed in item 1 of a minute, retried after the minute went on to item 4
    (other batches filled items meanwhile), is found there: a batch's store looks for its token in every
    item of a continued minute before it goes to the newest, where the retry would count it again."""
    table, counting = STATS.name(STAGE), CountingWrites(dynamodb)
    writer = StatsStore(dynamodb, table, no_sleep_backoff)
    for i in range(MAX_VALUES_PER_MAP):  # item 0 full of distinct pages
        writer.add(PK, MINUTE_LABEL, update([f"/p{i}"]))
    batch = update(["/batch"], token=b"batch-01")
    StatsStore(dynamodb, table, no_sleep_backoff, stream_batches=True).add(PK, MINUTE_LABEL, batch)
    for i in range(MAX_VALUES_PER_MAP, 4 * MAX_VALUES_PER_MAP):  # the minute goes on to item 4
        writer.add(PK, MINUTE_LABEL, update([f"/p{i}"]))
    assert next(i for i in items(dynamodb) if i["sk"]["S"] == MINUTE_LABEL)["newest_item"] == {"N": "4"}
    retry = StatsStore(counting, table, no_sleep_backoff, stream_batches=True)
    retry.add(PK, MINUTE_LABEL, batch)
    assert counting.writes == 1  # item 0 refusing (full); then one Query of the minute's items finds the token
    assert retry.items_read == 5
    counters = merged(writer)
    assert counters["page:/batch"] == 1 and counters["pageviews"] == 4 * MAX_VALUES_PER_MAP + 1


def test_the_same_update_sent_twice_counts_once(store):
    same = update(["/a"], [b"v0000000"], token=b"12345678")
    store.add(PK, MINUTE_LABEL, same)
    store.add(PK, MINUTE_LABEL, same)
    assert merged(store)["pageviews"] == 1


def test_a_flood_of_distinct_long_values_spills_into_bounded_items_and_loses_no_count(store, dynamodb):
    rng = random.Random(11)
    pages = ["/" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=MAX_VALUE_BYTES + 40)) for _ in range(2_200)]
    for start in range(0, len(pages), 25):  # requests of 25 page views by distinct visitors
        chunk = pages[start:start + 25]
        store.add(PK, MINUTE_LABEL, update([value_key(p) for p in chunk], [rng.randbytes(8) for _ in chunk]))
    stored = items(dynamodb)
    assert len(stored) > 1  # the minute continued in further items
    assert max(check_item(i) for i in stored) < MAX_ITEM_BYTES
    assert all(len(i["page"]["M"]) <= MAX_VALUES_PER_MAP for i in stored)
    counters = merged(store)
    assert counters["pageviews"] == 2_200
    assert sum(v for k, v in counters.items() if k.startswith("page:")) == 2_200
    assert len(merge(minute_buckets(store, "demo", 1, 1_795_600_000_000, 1_895_600_000_000)).members) == 2_200


def test_concurrent_updates_of_a_new_minute_all_count(dynamodb, no_sleep_backoff):
    store = StatsStore(Serialized(dynamodb), STATS.name(STAGE), no_sleep_backoff)
    threads = [threading.Thread(target=store.add, args=(PK, MINUTE_LABEL, update([f"/{i % 3}"], [bytes([i]) * 8])))
               for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counters = merged(store)
    assert counters["pageviews"] == 20 and len(items(dynamodb)) == 1
    assert (counters["page:/0"], counters["page:/1"], counters["page:/2"]) == (7, 7, 6)


def test_a_bucket_written_before_breakdown_maps_gets_them_and_both_forms_are_read(store, dynamodb):
    dynamodb.put_item(TableName=STATS.name(STAGE), Item={"pk": {"S": PK}, "sk": {"S": MINUTE_LABEL},
                                                         "pageviews": {"N": "2"}, "page:/old": {"N": "2"}})
    store.add(PK, MINUTE_LABEL, update(["/old", "/new"]))
    counters = merged(store)
    assert (counters["pageviews"], counters["page:/old"], counters["page:/new"]) == (4, 3, 1)


def test_the_largest_minute_item_is_under_the_limit():
    """The bound, computed from the caps: every map full of the longest values, both sets full,
    every counter at its largest number."""
    longest = "\u00e9" * (MAX_VALUE_BYTES // 2)
    big = {"N": "9" * 38}
    item = {"pk": {"S": "s" * 64 + "#m#99"}, "sk": {"S": MINUTE_LABEL + "#999"}, "expires_at_s": big,
            **{name: big for name in ("pageviews", "events", "sessions", "ended", "bounces", "duration_ms",
                                      "session_pageviews")},
            **{name: {"M": {f"{longest[:-4]}{i:04d}": big for i in range(MAX_VALUES_PER_MAP)}} for name in DIMENSIONS},
            "visitors": {"BS": [i.to_bytes(8, "big") for i in range(MAX_MEMBERS_PER_SET)]},
            **{name: {"BS": [(i + 1 << 32 | n).to_bytes(8, "big") for i in range(MAX_TOKENS_PER_SET)]}
               for n, name in enumerate(TOKEN_SETS)}}
    assert check_item(item) < MAX_ITEM_BYTES


def test_the_largest_hour_item_is_under_the_limit():
    counters = Counter({f"{d.prefix}{'x' * (MAX_VALUE_BYTES - 4)}{i:04d}": 10**15 + i
                        for d in DIMENSIONS.values() for i in range(1_000)})
    kept = capped(counters)
    item = {"pk": {"S": "s" * 64 + "#h"}, "sk": {"S": "2026-11-27T10"}, "hll": {"B": b"\xff" * 66_000},
            "unique_visitors": {"N": "9" * 38}, "expires_at_s": {"N": "9" * 38},
            **{name: {"N": "9" * 38} for name in kept}}
    assert all(sum(len(k) + 21 for k in kept if k.startswith(d.prefix)) <= DIMENSION_BYTES_KEPT
               for d in DIMENSIONS.values())
    assert check_item(item) < MAX_ITEM_BYTES


def test_the_largest_minute_summary_is_under_the_limit():
    """A minute of 1,000 distinct 200-byte values in every dimension and a million visitors: its summary
    keeps the realtime view's four dimensions capped and a sketch, whatever came in."""
    items = [{"sk": "2026-11-27T10:05", **{name: {f"{'x' * (MAX_VALUE_BYTES - 4)}{i:04d}": 10**15 for i in range(1_000)}
                                            for name in DIMENSIONS},
              "pageviews": 10**15, "visitors": [i.to_bytes(8, "big") for i in range(n, 1_000_000, 50)]}
             for n in range(50)]
    record = summary_record("s" * 64, 1_795_700_000_000, merged_minute(items), 1_795_700_000_000)
    assert "hll" in record and "members" not in record
    assert {name.split(":", 1)[0] for name in record if ":" in name} == {"page", "referrer", "country", "device"}
    assert check_item(to_item(record)) < 200_000 < MAX_ITEM_BYTES


def test_every_expression_stays_under_dynamodbs_4_kb():
    maps = {name: {f"value-{name}-{i}": 10**15 for i in range(40)} for name in DIMENSIONS}
    whole = BucketUpdate({name: 10**15 for name in ("pageviews", "events", "sessions", "ended", "bounces",
                                                     "duration_ms", "session_pageviews")},
                         maps, {i.to_bytes(8, "big") for i in range(2_500)}, b"12345678", TTL_S)
    parts = list(whole.parts())
    assert len(parts) > 1 and len({p.token for p in parts}) == len(parts)
    assert sum(sum(m.values()) for p in parts for m in p.maps.values()) == 40 * len(DIMENSIONS) * 10**15
    for part in parts:
        request = update_request(part)
        assert len(request["UpdateExpression"].encode()) < 4096
        assert len(request["ConditionExpression"].encode()) < 4096

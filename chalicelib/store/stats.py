"""Statistics buckets: idempotent, size-bounded updates of minute buckets, and reading buckets by key range.

A minute bucket (one site, minute and shard) holds plain counters, one map per breakdown
(`page` -> {"/pricing": 3}), the set of hashed visitor ids seen and the set of update tokens
applied. Every update is one conditional UpdateItem whose condition makes it exact and bounded:

- **exactly once**: it adds its random token to a token set and requires it absent from both, so an
  update resent after a timeout that had in fact landed is recognised, not counted twice. A token is
  needed only until its sender has seen the update succeed (no one resends it after that), so a
  process's next update of the same item deletes its previous token: an item keeps about one token per
  process writing it, not one per update, and stops growing 8 bytes with every request (issue 16's scale
  curve). DynamoDB allows one action per attribute in an expression, so a process alternates between
  the two sets `applied` and `applied_b`, adding to one and deleting its previous token from the other;
- **bounded**: it requires each map, the visitor set and the token set to stay within their caps
  (MAX_VALUES_PER_MAP, MAX_MEMBERS_PER_SET, MAX_TOKENS_PER_SET), so no flood of distinct values can push the item
  towards DynamoDB's 400 KB limit. A full bucket is not an error: the update goes to the minute's
  next item (sort key `<minute>#1`, `#2`, ...), which readers sum like the first. Nothing is capped
  away and every item has a proven size bound (tests/unit/test_store.py computes it).

When a condition fails, DynamoDB returns the old item (ReturnValuesOnConditionCheckFailure), which
says why: no item yet (create it), our token already there (done), a map missing (add it), or full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

from botocore.exceptions import ClientError

from chalicelib.core.errors import StoreUnavailable
from chalicelib.schema.tables import SPILL_NEWEST, spill_index, spill_key, spill_last
from chalicelib.store.base import Backoff, call, condition_failed, error_code, from_item, to_item

MAX_VALUES_PER_MAP = 100  # distinct values of one breakdown in one item
MAX_MEMBERS_PER_SET = 4_000  # visitor hashes in one item (8 bytes each)
# update tokens in each of an item's two token sets: about one a process writing the item, since each
# process retires its previous one; a minute item written by more processes at once continues in the next
MAX_TOKENS_PER_SET = 1_000
VALUES_PER_UPDATE = 40  # keeps an update's expressions under DynamoDB's 4 KB per expression
MEMBERS_PER_UPDATE = 1_000
SPILL_ITEMS_MAX = 1_000  # a minute's items: past this the update is refused (an operator sees it)
VISITORS, APPLIED, EXPIRES_AT = "visitors", "applied", "expires_at_s"
TOKEN_SETS = (APPLIED, "applied_b")  # a process adds to one, and retires its previous token from the other
APPLIED_OUT, CREATE, ADD_MAPS, FULL = "applied", "create", "add_maps", "full"


@dataclass
class BucketUpdate:
    """What one request adds to one bucket. `maps` names every breakdown of the bucket (empty ones
    too: a new item is created with all its maps). `token`: 8 random bytes, the same on every
    resend of this update."""

    counters: dict[str, int]
    maps: dict[str, dict[str, int]]
    members: set[bytes]
    token: bytes
    expires_at_s: int
    token_set: int = 0  # which of TOKEN_SETS the token goes to
    retire: bytes | None = None  # this process's previous token on the item, in the other set: deleted

    def parts(self) -> Iterator[BucketUpdate]:
        """Splits an update whose expressions would be too long: each part has its own token."""
        values = [(name, key, count) for name, entries in self.maps.items() for key, count in entries.items() if count]
        members = sorted(self.members)
        index = 0
        while index == 0 or values or members:
            chunk, values = values[:VALUES_PER_UPDATE], values[VALUES_PER_UPDATE:]
            part_members, members = members[:MEMBERS_PER_UPDATE], members[MEMBERS_PER_UPDATE:]
            maps: dict[str, dict[str, int]] = {name: {} for name in self.maps}
            for name, key, count in chunk:
                maps[name][key] = count
            token = self.token if index == 0 else hashlib.blake2b(self.token + index.to_bytes(4, "big"),
                                                                                   digest_size=8).digest()
            yield BucketUpdate(self.counters if index == 0 else {}, maps, set(part_members), token,
                               self.expires_at_s)
            index += 1


class _Expression:
    """Placeholders for one update: names #n0.., values :v0.."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict] = {}

    def name(self, attribute: str) -> str:
        for placeholder, known in self.names.items():
            if known == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute_value: dict) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attribute_value
        return placeholder


def _number(n: int) -> dict:
    return {"N": str(n)}


def update_request(update: BucketUpdate) -> dict:
    """The UpdateItem arguments (without table and key) of one part."""
    x = _Expression()
    adds, sets, deletes = [], [f"{x.name(EXPIRES_AT)} = {x.value(_number(update.expires_at_s))}"], []
    token, tokens = x.value({"B": update.token}), x.name(TOKEN_SETS[update.token_set])
    conditions = ["attribute_exists(pk)",
                  *(f"NOT contains({x.name(name)}, {token})" for name in TOKEN_SETS),
                  f"(attribute_not_exists({tokens}) OR size({tokens}) < {x.value(_number(MAX_TOKENS_PER_SET))})"]
    adds.append(f"{tokens} {x.value({'BS': [update.token]})}")
    if update.retire is not None:
        deletes.append(f"{x.name(TOKEN_SETS[1 - update.token_set])} {x.value({'BS': [update.retire]})}")
    for counter, count in update.counters.items():
        if count:
            adds.append(f"{x.name(counter)} {x.value(_number(count))}")
    if update.members:
        visitors = x.name(VISITORS)
        adds.append(f"{visitors} {x.value({'BS': sorted(update.members)})}")
        room = x.value(_number(MAX_MEMBERS_PER_SET - len(update.members)))
        conditions.append(f"(attribute_not_exists({visitors}) OR size({visitors}) <= {room})")
    zero = None
    for map_name, entries in update.maps.items():
        entries = {k: v for k, v in entries.items() if v}
        if not entries:
            continue
        map_ref, exists = x.name(map_name), []
        zero = zero or x.value(_number(0))
        for key, count in entries.items():
            path = f"{map_ref}.{x.name(key)}"
            sets.append(f"{path} = if_not_exists({path}, {zero}) + {x.value(_number(count))}")
            exists.append(f"attribute_exists({path})")
        # Room for every value of this part, or none of them new: the map never passes its cap.
        room = x.value(_number(MAX_VALUES_PER_MAP - len(entries)))
        conditions.append(f"attribute_exists({map_ref}) AND (size({map_ref}) <= {room} OR ({' AND '.join(exists)}))")
    delete = f" DELETE {', '.join(deletes)}" if deletes else ""
    return {"UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}{delete}",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": x.names, "ExpressionAttributeValues": x.values}


def new_item(pk: str, sk: str, update: BucketUpdate) -> dict:
    item = {"pk": pk, "sk": sk, **{k: v for k, v in update.counters.items() if v},
            **{name: {k: v for k, v in entries.items() if v} for name, entries in update.maps.items()},
            EXPIRES_AT: update.expires_at_s}
    item = to_item(item)
    item[TOKEN_SETS[update.token_set]] = {"BS": [update.token]}
    if update.members:
        item[VISITORS] = {"BS": sorted(update.members)}
    return item


def why_refused(old: dict | None, update: BucketUpdate) -> str:
    if old is None:
        return CREATE
    if any(update.token in old.get(name, {}).get("BS", []) for name in TOKEN_SETS):
        return APPLIED_OUT  # an earlier send of this very update landed
    if any(entries and name not in old for name, entries in update.maps.items()):
        return ADD_MAPS
    return FULL


class StatsStore:
    def __init__(self, client, table_name: str, backoff: Backoff | None = None, *,
                 stream_batches: bool = False) -> None:
        """`stream_batches`: the updates are stream batches' (stats/stream.py), which Lambda resends in a
        later invocation when a batch is retried. Then an update that finds the minute's item full looks
        for its token in every item of the minute (one Query) before it goes on to the newest (which may
        be past the one an earlier send landed in), and no token is ever retired. Make a new store for
        each batch: its hints are only good within one."""
        self._client = client
        self._table = table_name
        self._backoff = backoff or Backoff()
        self._stream_batches = stream_batches
        self._open_item: dict[tuple[str, str], int] = {}  # (pk, minute) -> first item not known full
        self._last_token: dict[tuple[str, str], tuple[bytes, int]] = {}  # (pk, sk) -> this process's token, set
        self.items_read = 0  # for cost measurements

    def add(self, pk: str, label: str, update: BucketUpdate) -> None:
        """Applies an update to the minute's buckets exactly once. StoreUnavailable if it cannot be
        applied within the deadline (the caller loses the statistics, never the events)."""
        for part in update.parts():
            self._add_part(pk, label, part)

    def _add_part(self, pk: str, label: str, part: BucketUpdate) -> None:
        self._bound_hints()
        # Update first: a bucket most likely exists (the stream function creates each minute's as the
        # minute starts, and ended sessions count in their start's), and a refused create is billed on
        # the whole item, a refused update of a missing one at 1 unit.
        create, index, searched = False, self._open_item.get((pk, label), 0), False
        for _ in range(2 * SPILL_ITEMS_MAX):  # each turn creates, completes or skips an item
            if index >= SPILL_ITEMS_MAX:
                break
            sk = spill_key(label, index)
            key, item_part = {"pk": {"S": pk}, "sk": {"S": sk}}, self._retiring(part, pk, sk)
            if create:
                create = False
                if self._created(pk, label, index, part, item_part):
                    break
                # it exists: update it
            reason, old = self._refusal(self._client.update_item, part, Key=key, **update_request(item_part))
            if self._landed(reason, pk, sk, item_part):
                break
            if reason == CREATE:
                create = True
            elif reason == ADD_MAPS:
                self._add_maps(key, part)
            else:  # FULL: the minute continues in its newest item, or its next (most likely new)
                following = self._following(pk, label, index, old, None if searched else part.token)
                if following is None:
                    break
                (index, create), searched = following, self._stream_batches
        else:
            raise StoreUnavailable(f"statistics of {pk} {label} kept changing")
        if index >= SPILL_ITEMS_MAX:
            raise StoreUnavailable(f"statistics of {pk} {label} fill {SPILL_ITEMS_MAX} items")
        self._open_item[(pk, label)] = index

    def _created(self, pk: str, label: str, index: int, part: BucketUpdate, item_part: BucketUpdate) -> bool:
        """Tries to create item `index` of the minute with the part; False if it exists already."""
        sk = spill_key(label, index)
        reason, _ = self._refusal(self._client.put_item, part, Item=new_item(pk, sk, item_part),
                                  ConditionExpression="attribute_not_exists(pk)")
        if self._landed(reason, pk, sk, item_part):
            if reason is None and index:
                self._note_newest(pk, label, index)
            return True
        return False

    def _following(self, pk: str, label: str, index: int, old: dict | None,
                   token: bytes | None) -> tuple[int, bool] | None:
        """Where the minute goes on after item `index` refused as full: (the item, whether to create it
        first). A stream batch's update (given its token) first looks for the token in the minute's
        items, since a retried batch's may be in any of them: None when it is there."""
        newest = int((old or {}).get(SPILL_NEWEST, {}).get("N") or 0)
        if self._stream_batches and token is not None:
            applied, newest = self._token_in_minute(pk, label, token)
            if applied:
                return None
        return (newest, False) if newest > index else (index + 1, True)

    def _token_in_minute(self, pk: str, label: str, token: bytes) -> tuple[bool, int]:
        """Whether any item of the minute holds `token`, and the minute's newest item: one strongly
        consistent Query (billed 1 read unit a 4 KB of items, a fifth of a write unit's price),
        where trying every full item would be billed a write of each."""
        found, newest, kwargs = False, 0, {}
        while True:
            response = call(self._backoff, self._client.query, TableName=self._table, ConsistentRead=True,
                            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                            ProjectionExpression="pk, sk, #a, #b",
                            ExpressionAttributeNames={"#a": TOKEN_SETS[0], "#b": TOKEN_SETS[1]},
                            ExpressionAttributeValues={":pk": {"S": pk}, ":first": {"S": label},
                                                       ":last": {"S": spill_last(label)}}, **kwargs)
            self.items_read += response.get("Count", 0)
            for item in response.get("Items", []):
                newest = max(newest, spill_index(item["sk"]["S"]))
                found = found or any(token in item.get(name, {}).get("BS", []) for name in TOKEN_SETS)
            if "LastEvaluatedKey" not in response:
                return found, newest
            kwargs = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def _bound_hints(self) -> None:
        """Per-process hints only: forgetting one costs a refusal, or leaves a token in its item."""
        for hints in (self._open_item, self._last_token):
            if len(hints) > 10_000:
                hints.clear()

    def _landed(self, reason: str | None, pk: str, sk: str, item_part: BucketUpdate) -> bool:
        """Whether the part is in the item now (applied, or an earlier send was); then its token is the
        one this process's next update of the item retires."""
        if reason not in (None, APPLIED_OUT):
            return False
        self._last_token[(pk, sk)] = (item_part.token, item_part.token_set)
        return True

    def _retiring(self, part: BucketUpdate, pk: str, sk: str) -> BucketUpdate:
        """The part as this process sends it to one item: into the token set its last update of the item
        did not use, deleting that update's token (whose success it saw, so nobody resends it)."""
        last = self._last_token.get((pk, sk))
        if last is None or self._stream_batches:  # a retried batch resends every token it had sent
            return part
        token, token_set = last
        return replace(part, token_set=1 - token_set, retire=token)

    def _refusal(self, operation, part: BucketUpdate, **kwargs) -> tuple[str | None, dict | None]:
        """(None, None) when the write was applied now; else why DynamoDB refused it, and the item it found."""
        try:
            call(self._backoff, operation, TableName=self._table, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                 **kwargs)
        except ClientError as exc:
            if not condition_failed(exc):
                raise StoreUnavailable(f"statistics update failed: {error_code(exc)}") from exc
            old = exc.response.get("Item")
            return why_refused(old, part), old
        return None, None

    def _note_newest(self, pk: str, label: str, index: int) -> None:
        """Tells the minute's first item that the minute now continues in item `index`, so that other
        processes new to the minute go there directly: one write of the first item per item created,
        instead of a refused (and billed) write of every full item by every process."""
        try:
            call(self._backoff, self._client.update_item, TableName=self._table,
                 Key={"pk": {"S": pk}, "sk": {"S": spill_key(label, 0)}},
                 UpdateExpression="SET #newest = :index",
                 ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#newest) OR #newest < :index)",
                 ExpressionAttributeNames={"#newest": SPILL_NEWEST},
                 ExpressionAttributeValues={":index": {"N": str(index)}})
        except ClientError as exc:
            if not condition_failed(exc):  # a newer item was noted meanwhile: nothing to do
                raise StoreUnavailable(f"statistics update failed: {error_code(exc)}") from exc

    def _add_maps(self, key: dict, part: BucketUpdate) -> None:
        """Adds the breakdown maps an item lacks (an item written before maps existed)."""
        x = _Expression()
        empty = x.value({"M": {}})
        sets = [f"{ref} = if_not_exists({ref}, {empty})" for ref in (x.name(name) for name in part.maps)]
        try:
            call(self._backoff, self._client.update_item, TableName=self._table, Key=key,
                 UpdateExpression="SET " + ", ".join(sets), ExpressionAttributeNames=x.names,
                 ExpressionAttributeValues=x.values)
        except ClientError as exc:
            raise StoreUnavailable(f"statistics update failed: {error_code(exc)}") from exc

    def buckets(self, pk: str, first_sk: str, last_sk: str) -> list[dict]:
        """Every bucket of one key whose sort key lies in [first_sk, last_sk]."""
        return list(self.iter_buckets(pk, first_sk, last_sk))

    def iter_buckets(self, pk: str, first_sk: str, last_sk: str) -> Iterator[dict]:
        """buckets(), a page of the Query at a time: a reader that merges as it goes holds one page."""
        kwargs = {}
        while True:
            response = call(self._backoff, self._client.query, TableName=self._table,
                            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                            ExpressionAttributeValues={":pk": {"S": pk}, ":first": {"S": first_sk},
                                                       ":last": {"S": last_sk}}, **kwargs)
            self.items_read += response.get("Count", 0)
            items = response.pop("Items", [])[::-1]
            while items:  # each item's wire form is let go of once it is converted
                yield from_item(items.pop())
            if "LastEvaluatedKey" not in response:
                return
            kwargs = {"ExclusiveStartKey": response["LastEvaluatedKey"]}

    def put(self, record: dict) -> None:
        call(self._backoff, self._client.put_item, TableName=self._table, Item=to_item(record))

    def mark(self, pk: str, sk: str, expires_at_s: int) -> None:
        """A small marker item (the rollup job's to-do list for late data)."""
        call(self._backoff, self._client.update_item, TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
             UpdateExpression="ADD version :one SET expires_at_s = :ttl",
             ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(expires_at_s)}})

    def unmark(self, pk: str, sk: str, version: int) -> None:
        """Removes a marker unless it was set again meanwhile (then the job sees it next run)."""
        try:
            call(self._backoff, self._client.delete_item, TableName=self._table,
                 Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConditionExpression="version = :v",
                 ExpressionAttributeValues={":v": {"N": str(version)}})
        except ClientError as exc:
            if not condition_failed(exc):
                raise StoreUnavailable(f"DeleteItem failed: {error_code(exc)}") from exc

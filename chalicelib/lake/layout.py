"""Where the lake's objects live and which of them a query reads.

    events/site=<site>/date=<YYYY-MM-DD>/s-<shard>-<sequence>.parquet   written by the stream writer
    events/site=<site>/date=<YYYY-MM-DD>/c-<generation>.parquet         written by compaction
    events/site=<site>/date=<YYYY-MM-DD>/_c-<generation>.json           its manifest (Athena skips `_` files)
    events/site=<site>/date=<YYYY-MM-DD>/_v-<generation>.parquet        its visit parts (query/sql_visit_parts.py)

A stream object is named by its shard and the sequence number of its first record in that partition,
so a re-delivered or re-split batch writes the same names again (an overwrite, never a second copy).
A compacted object replaces the objects its manifest lists; the manifest is written before it and the
replaced objects are deleted after it, so between any two steps `live_objects` names every event once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from chalicelib.schema.lake import EVENTS_PREFIX, PARTITION_DATE_FORMAT

STREAM_PREFIX, COMPACTED_PREFIX, MANIFEST_PREFIX, VISIT_PARTS_PREFIX = "s-", "c-", "_c-", "_v-"
PARQUET, JSON = ".parquet", ".json"
GENERATION_DIGITS = 6
_NAME = re.compile(r"^(?:(?P<stream>s-[0-9a-f]{8}-[0-9]{1,64})|c-(?P<generation>[0-9]{6}))\.parquet$")


@dataclass(frozen=True, order=True)
class Partition:
    site: str
    date: str  # YYYY-MM-DD, UTC

    @property
    def prefix(self) -> str:
        return f"{EVENTS_PREFIX}site={self.site}/date={self.date}/"

    @classmethod
    def of(cls, site: str, time_ms: int) -> Partition:
        moment = datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc)
        return cls(site, moment.strftime(PARTITION_DATE_FORMAT))

    @classmethod
    def from_key(cls, key: str) -> Partition:
        match = re.match(rf"^{re.escape(EVENTS_PREFIX)}site=([^/]+)/date=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/", key)
        if not match:
            raise ValueError(f"not a lake event object: {key!r}")
        return cls(match.group(1), match.group(2))


def site_prefix(site: str) -> str:
    return f"{EVENTS_PREFIX}site={site}/"


def partitions_between(site: str, first: date, last: date) -> list[Partition]:
    """Every partition of a site from `first` to `last` (UTC dates, inclusive)."""
    return [Partition(site, (first + timedelta(days=n)).strftime(PARTITION_DATE_FORMAT))
            for n in range((last - first).days + 1)]


def shard_tag(shard_id: str) -> str:
    """8 hex digits naming a stream shard (shard ids are long and full of dashes)."""
    return hashlib.blake2b(shard_id.encode(), digest_size=4).hexdigest()


def stream_object_key(partition: Partition, shard_id: str, first_sequence_number: str) -> str:
    if not first_sequence_number.isdigit():
        raise ValueError(f"a stream sequence number is decimal digits, not {first_sequence_number!r}")
    return f"{partition.prefix}{STREAM_PREFIX}{shard_tag(shard_id)}-{first_sequence_number}{PARQUET}"


def compacted_object_key(partition: Partition, generation: int) -> str:
    return f"{partition.prefix}{COMPACTED_PREFIX}{generation:0{GENERATION_DIGITS}d}{PARQUET}"


def manifest_key(partition: Partition, generation: int) -> str:
    return f"{partition.prefix}{MANIFEST_PREFIX}{generation:0{GENERATION_DIGITS}d}{JSON}"


def visit_parts_key(partition: Partition, generation: int) -> str:
    return f"{partition.prefix}{VISIT_PARTS_PREFIX}{generation:0{GENERATION_DIGITS}d}{PARQUET}"


@dataclass(frozen=True)
class LakeObject:
    key: str
    size_bytes: int


@dataclass(frozen=True)
class PartitionFiles:
    """A partition's listing, read as the rules above say: the objects a query reads."""

    partition: Partition
    live: tuple[LakeObject, ...]
    generation: int  # of the newest compacted object; 0 when none
    superseded: tuple[LakeObject, ...]  # replaced by the compacted object, waiting to be deleted
    # The visit parts of the compacted object, when it is the only live object and they were written: a
    # query may read the day's visits from them instead of its events.
    visit_parts: LakeObject | None = None

    @property
    def size_bytes(self) -> int:
        return sum(o.size_bytes for o in self.live)


def manifest_body(replaced_keys: Iterable[str]) -> bytes:
    return json.dumps({"replaces": sorted(replaced_keys)}, separators=(",", ":")).encode()


def parse_manifest(body: bytes) -> frozenset[str]:
    return frozenset(json.loads(body)["replaces"])


def resolve(partition: Partition, listing: Iterable[LakeObject],
            read_manifest: Callable[[str], bytes]) -> PartitionFiles:
    """The live objects of one partition: the newest compacted object and every stream object its
    manifest does not list. Objects of other kinds (manifests, stray names) are never read."""
    stream: list[LakeObject] = []
    compacted: dict[int, LakeObject] = {}
    parts_listed: dict[str, LakeObject] = {}
    for obj in listing:
        name = obj.key[len(partition.prefix):] if obj.key.startswith(partition.prefix) else ""
        match = _NAME.match(name)
        if not match:
            if name.startswith(VISIT_PARTS_PREFIX):
                parts_listed[obj.key] = obj
            continue
        if match.group("stream"):
            stream.append(obj)
        else:
            compacted[int(match.group("generation"))] = obj
    if not compacted:
        return PartitionFiles(partition, tuple(sorted(stream, key=lambda o: o.key)), 0, ())
    generation = max(compacted)
    replaced = parse_manifest(read_manifest(manifest_key(partition, generation)))
    live = [compacted[generation]] + sorted((o for o in stream if o.key not in replaced), key=lambda o: o.key)
    superseded = [o for o in stream if o.key in replaced] + [o for g, o in compacted.items() if g != generation]
    parts = parts_listed.get(visit_parts_key(partition, generation)) if len(live) == 1 else None
    return PartitionFiles(partition, tuple(live), generation, tuple(sorted(superseded, key=lambda o: o.key)), parts)

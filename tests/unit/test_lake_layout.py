"""Object names and the rule of which objects a query reads."""

from datetime import date

import pytest

from chalicelib.lake import layout
from chalicelib.lake.layout import LakeObject, Partition

P = Partition("shop", "2026-11-27")


def obj(name: str, size: int = 10) -> LakeObject:
    return LakeObject(P.prefix + name, size)


def test_partition_of_an_event_is_its_site_and_utc_date():
    assert Partition.of("shop", 1764287999999) == Partition("shop", "2025-11-27")
    assert Partition.of("shop", 1764288000000) == Partition("shop", "2025-11-28")  # UTC midnight
    assert P.prefix == "events/site=shop/date=2026-11-27/"
    assert Partition.from_key(P.prefix + "c-000001.parquet") == P


def test_stream_object_names_are_deterministic_per_shard_and_first_record():
    key = layout.stream_object_key(P, "shardId-00000001764000000000-0a1b2c3d", "4421584500000000017450439091")
    assert key == layout.stream_object_key(P, "shardId-00000001764000000000-0a1b2c3d", "4421584500000000017450439091")
    assert key.startswith(P.prefix + "s-") and key.endswith("-4421584500000000017450439091.parquet")
    assert key != layout.stream_object_key(P, "shardId-00000001764000000000-ffffffff", "4421584500000000017450439091")
    with pytest.raises(ValueError):
        layout.stream_object_key(P, "shard", "12/../x")


def test_without_compaction_every_stream_object_is_live():
    files = layout.resolve(P, [obj("s-0a0b0c0d-2.parquet"), obj("s-0a0b0c0d-1.parquet")], read_manifest=None)
    assert [o.key for o in files.live] == [P.prefix + "s-0a0b0c0d-1.parquet", P.prefix + "s-0a0b0c0d-2.parquet"]
    assert files.generation == 0 and files.size_bytes == 20


def test_the_newest_compacted_object_replaces_what_its_manifest_lists():
    manifests = {layout.manifest_key(P, 2): layout.manifest_body(
        [P.prefix + "s-0a0b0c0d-1.parquet", P.prefix + "c-000001.parquet"])}
    listing = [obj("c-000001.parquet"), obj("c-000002.parquet"), obj("_c-000002.json"),
               obj("s-0a0b0c0d-1.parquet"), obj("s-0a0b0c0d-9.parquet"), obj("notes.txt")]
    files = layout.resolve(P, listing, manifests.__getitem__)
    assert [o.key for o in files.live] == [P.prefix + "c-000002.parquet", P.prefix + "s-0a0b0c0d-9.parquet"]
    assert {o.key for o in files.superseded} == {P.prefix + "c-000001.parquet", P.prefix + "s-0a0b0c0d-1.parquet"}
    assert files.generation == 2


def test_partitions_between_covers_each_day_once():
    days = layout.partitions_between("shop", date(2026, 2, 27), date(2026, 3, 2))
    assert [p.date for p in days] == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]

"""One lake partition rewritten into its next compacted object (compaction merges it; erasure also drops a
visitor's rows), by layout.py's protocol, so a query between any two steps sees every event exactly once:

    (1) PUT _c-<g>.json listing every object c-<g> replaces   (ignored until c-<g> exists)
        PUT _v-<g>.parquet, c-<g>'s visit parts               (ignored until c-<g> exists)
    (2) PUT c-<g>.parquet                                    (from now on the listed objects are superseded)
    (3) DELETE the replaced objects, older manifests and older visit parts (nothing live is deleted)

A crash between two steps leaves a state `resolve` reads correctly, and the next run starts over at
step (1) with the same generation (overwriting a manifest whose object never came) or only finishes (3).
Two rewriters of one partition must not overlap (compaction runs hourly; erasure re-checks after itself).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.lake import layout
from chalicelib.lake.layout import LakeObject, Partition, PartitionFiles
from chalicelib.lake.parquet import connect, copy_to_parquet
from chalicelib.schema.lake import COLUMN_NAMES

MANIFEST, PARTS, OBJECT, DELETE = "manifest", "parts", "object", "delete"  # the steps, for hooks and tests
_MANIFEST_NAME = re.compile(rf"^{re.escape(layout.MANIFEST_PREFIX)}([0-9]{{{layout.GENERATION_DIGITS}}})"
                            rf"{re.escape(layout.JSON)}$")
_PARTS_NAME = re.compile(rf"^{re.escape(layout.VISIT_PARTS_PREFIX)}([0-9]{{{layout.GENERATION_DIGITS}}})"
                         rf"{re.escape(layout.PARQUET)}$")
_DATA_NAME = re.compile(r"^(?:s-[0-9a-f]{8}-[0-9]{1,64}|c-[0-9]{6})\.parquet$")
# Columns a row may be erased by (a fixed list: the column name is ours, the value a parameter).
ERASABLE_BY = ("visitor_id", "user_id")
_SELECT_COLUMNS = ", ".join(f'"{name}"' for name in COLUMN_NAMES)

StepHook = Callable[[str], None]


@dataclass(frozen=True)
class PartitionState:
    """One partition's listing, resolved."""

    files: PartitionFiles
    listing: tuple[LakeObject, ...]

    @property
    def partition(self) -> Partition:
        return self.files.partition

    def _by_generation(self, name: re.Pattern) -> dict[int, str]:
        found = {}
        for obj in self.listing:
            match = name.match(obj.key[len(self.partition.prefix):])
            if match:
                found[int(match.group(1))] = obj.key
        return found

    def manifests(self) -> dict[int, str]:
        return self._by_generation(_MANIFEST_NAME)

    def visit_parts(self) -> dict[int, str]:
        return self._by_generation(_PARTS_NAME)

    def data_keys(self) -> list[str]:
        """Every stream and compacted object, live or superseded: what a new compacted object replaces."""
        return sorted(o.key for o in self.listing if _DATA_NAME.match(o.key[len(self.partition.prefix):]))

    def old_manifests(self) -> list[str]:
        """Manifests and visit parts of generations before the live one: read by nobody. A newer one (a
        rewrite that has not yet written its object) is left alone: the next rewrite overwrites it."""
        older = [*self.manifests().items(), *self.visit_parts().items()]
        return sorted(key for g, key in older if g < self.files.generation)

    @property
    def is_clean(self) -> bool:
        """One compacted object with its visit parts and nothing else to delete: a rewrite would change nothing."""
        return (len(self.files.live) == 1 and self.files.generation > 0 and not self.files.superseded
                and not self.old_manifests() and self.files.visit_parts is not None)

    @property
    def lacks_only_parts(self) -> bool:
        """One compacted object and nothing to delete, but no visit parts (compacted before they were
        written): writing the parts of the live generation is enough."""
        return (len(self.files.live) == 1 and self.files.generation > 0 and not self.files.superseded
                and not self.old_manifests() and self.files.visit_parts is None)

    @property
    def needs_only_cleanup(self) -> bool:
        """The live data is one compacted object; superseded objects or old manifests are left over
        (a crash in step (3)): finishing step (3) is enough."""
        return (len(self.files.live) == 1 and self.files.generation > 0 and not self.is_clean
                and not self.lacks_only_parts)


def group_by_partition(listing: Iterable[LakeObject]) -> dict[Partition, list[LakeObject]]:
    groups: dict[Partition, list[LakeObject]] = {}
    for obj in listing:
        try:
            groups.setdefault(layout.Partition.from_key(obj.key), []).append(obj)
        except ValueError:
            continue  # not an object of a partition (a stray name): never touched
    return groups


def resolve_listing(objects, partition: Partition, listing: Iterable[LakeObject]) -> PartitionState:
    listing = tuple(sorted(listing, key=lambda o: o.key))
    return PartitionState(layout.resolve(partition, listing, objects.get), listing)


def read_partition(objects, partition: Partition) -> PartitionState:
    """Lists and resolves one partition (raises ObjectMissing if a rewrite deleted its manifest meanwhile)."""
    return resolve_listing(objects, partition, objects.list(partition.prefix))


@dataclass(frozen=True)
class Exclusion:
    """Rows whose `column` equals `value` are left out of the rewrite (erasure)."""

    column: str
    value: str

    def __post_init__(self) -> None:
        if self.column not in ERASABLE_BY:
            raise ValueError(f"rows are erased by one of {ERASABLE_BY}, not {self.column!r}")


@dataclass
class Merged:
    body: bytes
    rows_before: int  # rows of the live objects
    rows_after: int  # rows of the new object
    excluded_event_ids: list[str] = field(default_factory=list)
    visit_parts: bytes = b""  # the new object's (query/sql_visit_parts.py)


def _download(objects, files: PartitionFiles, work_dir: str) -> list[str]:
    paths = []
    for index, obj in enumerate(files.live):
        path = os.path.join(work_dir, f"{index}.parquet")
        Path(path).write_bytes(objects.get(obj.key))  # ObjectMissing: a rewrite ran meanwhile
        paths.append(path)
    return paths


def _where(exclusion: Exclusion | None) -> tuple[str, list]:
    if exclusion is None:
        return "", []
    return f'WHERE "{exclusion.column}" IS DISTINCT FROM ?', [exclusion.value]


def merge(objects, files: PartitionFiles, exclusion: Exclusion | None = None) -> Merged:
    """The live objects' rows as one Parquet object: one row per event id, sorted by time."""
    with tempfile.TemporaryDirectory(prefix="lake-rewrite-") as work:
        paths = _download(objects, files, work)
        con = connect(work)
        try:
            con.read_parquet(paths, union_by_name=True).create_view("live")
            rows_before = con.execute("SELECT count(*) FROM live").fetchone()[0]
            excluded = []
            if exclusion is not None:
                excluded = [r[0] for r in con.execute(
                    f'SELECT DISTINCT event_id FROM live WHERE "{exclusion.column}" = ? ORDER BY 1',
                    [exclusion.value]).fetchall()]
                if not excluded:  # nothing of this visitor here: no rewrite
                    return Merged(b"", rows_before, rows_before, [])
            where, parameters = _where(exclusion)
            # A re-delivered event may sit in two objects: the first received copy stays.
            select = (f"SELECT {_SELECT_COLUMNS} FROM live {where} "
                      "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_time, time) = 1 "
                      "ORDER BY time, event_id")
            out = os.path.join(work, "out.parquet")
            copy_to_parquet(con, select, out, parameters)
            rows_after = con.execute("SELECT count(*) FROM read_parquet(?)", [out]).fetchone()[0]
            return Merged(Path(out).read_bytes(), rows_before, rows_after, excluded, _visit_parts(con, out, work))
        finally:
            con.close()


def _visit_parts(con, merged_path: str, work: str) -> bytes:
    from chalicelib.query.sql_visit_parts import parts_of

    con = con.cursor()  # a connection of its own: the caller's may hold an unread result
    try:
        con.read_parquet(merged_path).create_view("merged")
        out = os.path.join(work, "parts.parquet")
        copy_to_parquet(con, parts_of("merged").sql(dialect="duckdb"), out)
        return Path(out).read_bytes()
    finally:
        con.close()


def visit_parts_of(objects, files: PartitionFiles) -> bytes:
    """The visit parts of a partition's one compacted object (one compacted before parts were written)."""
    with tempfile.TemporaryDirectory(prefix="lake-parts-") as work:
        (path,) = _download(objects, files, work)
        con = connect(work)
        try:
            return _visit_parts(con, path, work)
        finally:
            con.close()


def add_visit_parts(objects, state: PartitionState, after_step: StepHook | None = None) -> int:
    """Writes the live generation's visit parts (the object exists: readers use them at once); bytes."""
    body = visit_parts_of(objects, state.files)
    objects.put(layout.visit_parts_key(state.partition, state.files.generation), body)
    _step(after_step, PARTS)
    return len(body)


@dataclass
class Applied:
    generation: int
    replaced: list[str]
    size_bytes: int
    requests: int  # S3 PUT and DELETE requests


def apply(objects, state: PartitionState, merged: Merged, after_step: StepHook | None = None) -> Applied:
    """Steps (1)-(3) for a new compacted object (`merged`) replacing every data object of `state`."""
    partition, generation = state.partition, state.files.generation + 1
    replaced = state.data_keys()
    objects.put(layout.manifest_key(partition, generation), layout.manifest_body(replaced), "application/json")
    _step(after_step, MANIFEST)
    objects.put(layout.visit_parts_key(partition, generation), merged.visit_parts)
    _step(after_step, PARTS)
    objects.put(layout.compacted_object_key(partition, generation), merged.body)
    _step(after_step, OBJECT)
    older = [*state.manifests().items(), *state.visit_parts().items()]
    obsolete = replaced + sorted(key for g, key in older if g < generation)
    objects.delete(obsolete)
    _step(after_step, DELETE)
    return Applied(generation, replaced, len(merged.body), 4)


def finish_cleanup(objects, state: PartitionState, after_step: StepHook | None = None) -> list[str]:
    """Step (3) alone, for a partition whose rewrite stopped after writing its object."""
    obsolete = sorted(o.key for o in state.files.superseded) + state.old_manifests()
    objects.delete(obsolete)
    _step(after_step, DELETE)
    return obsolete


def _step(hook: StepHook | None, name: str) -> None:
    if hook is not None:
        hook(name)

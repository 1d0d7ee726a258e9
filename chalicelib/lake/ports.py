"""What the lake needs from an object store (store.lake.S3LakeObjects implements it on S3; tests may
use an in-memory one). Keys are relative to the lake's bucket."""

from __future__ import annotations

from typing import Protocol

from chalicelib.lake.layout import LakeObject


class ObjectMissing(KeyError):
    """The object is not there (deleted by compaction or erasure after it was listed)."""


class LakeObjects(Protocol):
    def list(self, prefix: str) -> list[LakeObject]: ...

    def get(self, key: str) -> bytes: ...  # raises ObjectMissing

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None: ...

    def delete(self, keys: list[str]) -> None: ...  # absent keys are not an error

"""An in-memory LakeObjects (chalicelib/lake/ports.py) for tests of the lake's use cases, with a
log of every call so tests can count S3 requests (cost shape) and inject failures."""

from __future__ import annotations

from chalicelib.lake.layout import LakeObject
from chalicelib.lake.ports import ObjectMissing


class MemoryLakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, key or prefix)
        self.fail_puts: set[str] = set()  # keys whose next put raises (then succeeds)

    def list(self, prefix: str) -> list[LakeObject]:
        self.calls.append(("list", prefix))
        return [LakeObject(k, len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    def get(self, key: str) -> bytes:
        self.calls.append(("get", key))
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectMissing(key) from None

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.calls.append(("put", key))
        if key in self.fail_puts:
            self.fail_puts.discard(key)
            raise ConnectionError(f"injected failure putting {key}")
        self.objects[key] = bytes(body)

    def delete(self, keys: list[str]) -> None:
        self.calls.append(("delete", ",".join(keys)))
        for key in keys:
            self.objects.pop(key, None)

    def count(self, operation: str) -> int:
        return sum(1 for op, _ in self.calls if op == operation)


class MemoryLeases:
    """An in-memory lake/leases.Leases with the store's rules (free, lapsed or our own)."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, int]] = {}  # name -> (holder, held_until_ms)
        self.taken: list[str] = []

    def acquire(self, name: str, holder: str, now_ms: int, hold_ms: int) -> bool:
        current = self.held.get(name)
        if current and current[0] != holder and current[1] >= now_ms:
            return False
        self.held[name] = (holder, now_ms + hold_ms)
        self.taken.append(name)
        return True

    def release(self, name: str, holder: str) -> None:
        if self.held.get(name, ("",))[0] == holder:
            del self.held[name]

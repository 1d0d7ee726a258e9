"""HyperLogLog: unique counts that merge (max per register) across time buckets.

Precision 16 (65,536 one-byte registers): standard error 1.04/sqrt(m) = 0.41%, so an estimate of
100,000 visitors is within 2% at five standard errors; tested. Stored zlib-compressed, which keeps a
small site's sketch to a few hundred bytes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

PRECISION = 16
REGISTERS = 1 << PRECISION
_ALPHA = 0.7213 / (1 + 1.079 / REGISTERS)
_VALUE_BITS = 64 - PRECISION


class HyperLogLog:
    __slots__ = ("registers",)

    def __init__(self, registers: bytes | bytearray | None = None) -> None:
        self.registers = bytearray(registers) if registers is not None else bytearray(REGISTERS)
        if len(self.registers) != REGISTERS:
            raise ValueError(f"a sketch has {REGISTERS} registers, got {len(self.registers)}")

    def add_hash(self, hash64: int) -> None:
        """Adds one item given as a uniformly distributed 64-bit hash."""
        index = hash64 >> _VALUE_BITS
        rest = hash64 & ((1 << _VALUE_BITS) - 1)
        rank = _VALUE_BITS - rest.bit_length() + 1
        if rank > self.registers[index]:
            self.registers[index] = rank

    def update(self, hashes: Iterable[int]) -> HyperLogLog:
        for value in hashes:
            self.add_hash(value)
        return self

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        self.registers = bytearray(map(max, self.registers, other.registers))
        return self

    def estimate(self) -> int:
        zeros = self.registers.count(0)
        if zeros == REGISTERS:
            return 0
        raw = _ALPHA * REGISTERS * REGISTERS / sum(2.0 ** -r for r in self.registers)
        if raw <= 2.5 * REGISTERS and zeros:
            return round(REGISTERS * math.log(REGISTERS / zeros))  # linear counting for small sets
        return round(raw)

    def to_bytes(self) -> bytes:
        return zlib.compress(bytes(self.registers), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> HyperLogLog:
        return cls(zlib.decompress(data))

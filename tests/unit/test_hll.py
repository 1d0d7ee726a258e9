import hashlib

from chalicelib.core.hll import HyperLogLog


def hashes(prefix: str, n: int):
    return (int.from_bytes(hashlib.blake2b(f"{prefix}{i}".encode(), digest_size=8).digest(), "big") for i in range(n))


def test_100000_visitors_within_2_percent():
    estimate = HyperLogLog().update(hashes("visitor-", 100_000)).estimate()
    assert abs(estimate - 100_000) / 100_000 <= 0.02


def test_small_counts_are_near_exact():
    for n in (0, 1, 10, 250):
        assert abs(HyperLogLog().update(hashes("s", n)).estimate() - n) <= max(1, n * 0.01)


def test_merging_sketches_counts_the_union_once():
    monday = HyperLogLog().update(hashes("v", 60_000))
    tuesday = HyperLogLog().update(hashes("v", 30_000)).update(hashes("w", 30_000))  # half return
    union = HyperLogLog(monday.registers).merge(tuesday).estimate()
    assert abs(union - 90_000) / 90_000 <= 0.02
    assert monday.estimate() + tuesday.estimate() > 115_000  # summing days would overcount


def test_round_trip_and_compact_storage():
    sketch = HyperLogLog().update(hashes("x", 1000))
    data = sketch.to_bytes()
    assert HyperLogLog.from_bytes(data).registers == sketch.registers
    assert len(data) < 8_000

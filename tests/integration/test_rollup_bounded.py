"""The minute job holds a page of minute items at a time, however many the hour has (bench/rollup_scale.py:
an hour at 10,000 visitors a minute took 182 MB of the job's 256 MB when it held them all), and the buckets
it writes are the ones a merge of all the items at once makes, the sketch past the exact maximum included."""

from __future__ import annotations

import itertools

from chalicelib.core.metrics import Metrics
from chalicelib.sessions.model import STARTS_SESSION
from chalicelib.stats import rollup
from chalicelib.stats.buckets import (
    HOUR,
    MINUTE,
    Rollup,
    bucket_pk,
    bucket_start_ms,
    label,
    label_start_ms,
    write_rollup,
)
from chalicelib.stats.merging import capped, merge
from chalicelib.stats.rollup import minute_buckets, roll_up
from chalicelib.stats.summary import MinuteWindow, merged_minute, summary_pk, summary_record

MIN = 60_000
HOUR_MS = 60 * MIN
NOW = 1_795_600_000_000 - 1_795_600_000_000 % HOUR_MS + 59 * MIN + 45_000  # late in an hour: 60 minutes to read


def _hour_of_traffic(services, visitors_a_minute: int) -> None:
    """Every minute of NOW's hour: each minute's visitors, a third of them new that minute."""
    hour_ms = bucket_start_ms(HOUR, NOW)
    for minute in range(60):
        first = minute * visitors_a_minute // 3
        batch = Rollup(services.settings.stats_shards)
        batch.add_events({"site": "demo", "visitor_id": f"v{v}", "time_ms": hour_ms + minute * MIN + v % 60 * 1000,
                          "event_type": "page_view", "page_path": f"/p{v % 40}", "event_id": f"{minute}-{v}",
                          **({STARTS_SESSION: True, "referrer_host": f"r{v % 7}.example", "country": "DE",
                              "device_type": "mobile", "browser": f"b{v % 3}"} if v % 3 == 0 else {})}
                         for v in range(first, first + visitors_a_minute))
        write_rollup(services.stats, batch, NOW, services.settings.max_event_age_ms)


class _Probe:
    """Put on each item the store yields: counts the items alive at once."""

    alive = peak = made = 0

    def __init__(self) -> None:
        _Probe.alive += 1
        _Probe.made += 1
        _Probe.peak = max(_Probe.peak, _Probe.alive)

    def __del__(self) -> None:
        _Probe.alive -= 1


def test_the_job_holds_two_minute_items_at_most_however_many_the_hour_has(wire, monkeypatch):
    services = wire()
    _hour_of_traffic(services, 90)
    store = services.stats
    real = store.iter_buckets

    def probed(pk, first, last):
        for item in real(pk, first, last):
            if "#m#" in pk:  # the minute items: what grows with the site's traffic
                item["probe"] = _Probe()
            yield item

    monkeypatch.setattr(store, "iter_buckets", probed)
    _Probe.alive = _Probe.peak = _Probe.made = 0
    report = roll_up(store, ["demo"], services.settings.stats_shards, Metrics("Test", write=lambda _: None),
                     now_ms=NOW, retention_seconds=86_400)
    assert report.hours == [("demo", label(HOUR, bucket_start_ms(HOUR, NOW)))]
    assert report.summaries == 29  # every finished minute of the realtime window
    # the hour's items, the summaries' minutes and the current visitors' five minutes were all read ...
    assert _Probe.made >= 60 * services.settings.stats_shards + 5 * services.settings.stats_shards
    # ... and never more than the one being merged and the next one at once
    assert _Probe.peak <= 2


def test_an_hour_merged_a_page_at_a_time_is_the_merge_of_all_its_items_with_the_sketch_past_the_maximum(
        wire, monkeypatch):
    services = wire()
    _hour_of_traffic(services, 90)
    store = services.stats
    shards = services.settings.stats_shards
    hour_ms = bucket_start_ms(HOUR, NOW)
    items = minute_buckets(store, "demo", shards, hour_ms, hour_ms + HOUR_MS - 1)
    everything = merge(items)
    assert everything.exact and len(everything.members) == 59 * 30 + 90  # 1,860 distinct visitors

    monkeypatch.setattr(rollup, "EXACT_VISITORS_MAX", 500)  # far fewer than the hour's visitors
    roll_up(store, ["demo"], shards, Metrics("Test", write=lambda _: None), now_ms=NOW, retention_seconds=86_400)

    (hour,) = store.buckets(bucket_pk("demo", HOUR), label(HOUR, hour_ms), label(HOUR, hour_ms))
    sketch = everything.to_sketch()
    assert bytes(hour["hll"]) == sketch.to_bytes()  # folding early makes the same registers
    assert hour["unique_visitors"] == sketch.estimate() != 1_860  # an estimate past the maximum ...
    assert abs(hour["unique_visitors"] - 1_860) <= 1_860 * 0.02  # ... within 2%
    counted = {k: v for k, v in hour.items() if isinstance(v, int) and k not in ("unique_visitors", "expires_at_s")}
    assert counted == dict(capped(everything.counters))

    # each summary is the one made from all of its minute's items at once
    window = MinuteWindow(NOW)
    summaries = {s["sk"]: s for s in store.buckets(summary_pk("demo"), label(MINUTE, window.first_ms),
                                                   label(MINUTE, window.newest_ms))}
    by_minute = {k: list(g) for k, g in itertools.groupby(sorted(items, key=lambda i: i["sk"]),
                                                          key=lambda i: i["sk"].split("#")[0])}
    assert sorted(summaries) == sorted(m for m in by_minute if window.first_ms <= _start(m) <= window.newest_ms)
    for minute, stored in summaries.items():
        expected = summary_record("demo", _start(minute), merged_minute(by_minute[minute]), NOW)
        assert {k: v for k, v in stored.items() if k != "expires_at_s"} == \
            {k: v for k, v in expected.items() if k != "expires_at_s"}


def _start(minute_label: str) -> int:
    return label_start_ms(MINUTE, minute_label)

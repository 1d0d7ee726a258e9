"""The realtime view over the minute job's minute summaries (stats/summary.py), on moto: the same answer as
from the raw items, a read that no longer grows with a minute's items, and nothing recent or late left out."""

from __future__ import annotations

import time

import pytest

from chalicelib.sessions.model import STARTS_SESSION
from chalicelib.stats.buckets import MINUTE, Rollup, bucket_start_ms, label, write_rollup
from chalicelib.stats.rollup import minute_buckets
from chalicelib.stats.summary import (
    REALTIME_MINUTES,
    SUMMARY_EXACT_VISITORS_MAX,
    WATERMARK_SK,
    summary_pk,
)

MIN = 60_000
HOUR = 60 * MIN


def _now() -> int:
    """10 minutes and 45 seconds into the current hour: the realtime window reaches 20 minutes into the
    previous hour, past the job's 5-minute grace, and the last finished minute is 45 s old (summarised)."""
    return bucket_start_ms("hour", int(time.time() * 1000)) + 10 * MIN + 45_000


def _batch(services, now: int, minute_ms: int, visitors: range, pages: int = 12) -> None:
    """One stream batch's writes: an update per bucket it touches, with its own token (a new item part)."""
    rollup = Rollup(services.settings.stats_shards)
    rollup.add_events({"site": "demo", "visitor_id": f"v{v}", "time_ms": minute_ms + v % 50 * 1000,
                       "event_type": "page_view", "page_path": f"/p{v % pages}", "event_id": f"{minute_ms}-{v}",
                       **({STARTS_SESSION: True, "referrer_host": f"r{v % 3}.example", "country": "DE",
                           "device_type": "desktop"} if v % 4 == 0 else {})}
                      for v in visitors)
    write_rollup(services.stats, rollup, now, services.settings.max_event_age_ms)


def _traffic(services, now: int) -> None:
    """Every minute of the window, in three batches each (each bucket then holds three updates' tokens)."""
    first = bucket_start_ms(MINUTE, now) - (REALTIME_MINUTES - 1) * MIN
    for n, minute_ms in enumerate(range(first, now, MIN)):
        for batch in range(3):
            _batch(services, now, minute_ms, range(n * 5 + batch * 7, n * 5 + batch * 7 + 20))


def _read(services, now: int) -> tuple[dict, int]:
    before = services.stats.items_read
    answer = services.stats_reader.realtime({"site": "demo"}, now)
    return answer, services.stats.items_read - before


def test_after_the_minute_job_realtime_answers_the_same_from_summaries_and_reads_one_item_a_finished_minute(wire):
    services = wire()
    now = _now()
    _traffic(services, now)
    from_raw, raw_items = _read(services, now)

    report = services.roll_up_stats(now_ms=now)
    from_summaries, items = _read(services, now)

    assert from_summaries == from_raw  # counts, visitors (exact sets), per-minute series, top values
    assert from_raw["pageviews"] == 30 * 3 * 20
    assert report.summaries == REALTIME_MINUTES - 1  # every finished minute, the previous hour's past the grace too
    live = minute_buckets(services.stats, "demo", services.settings.stats_shards, bucket_start_ms(MINUTE, now), now)
    assert items == (REALTIME_MINUTES - 1) + 1 + len(live)  # summaries, the watermark, the live minute's raw items
    assert items < raw_items
    # nothing changed: the next run rewrites nothing
    assert services.roll_up_stats(now_ms=now + 5_000).summaries == 0


def test_the_live_minute_counts_at_once_and_a_late_batch_in_a_summarised_minute_after_the_next_run(wire):
    services = wire()
    now = _now()
    _traffic(services, now)
    services.roll_up_stats(now_ms=now)
    before, _ = _read(services, now)

    _batch(services, now, bucket_start_ms(MINUTE, now), range(1000, 1004))  # the live minute: raw items
    _batch(services, now, bucket_start_ms(MINUTE, now) - 10 * MIN, range(2000, 2006))  # late, summarised minute
    at_once, _ = _read(services, now)
    assert at_once["pageviews"] == before["pageviews"] + 4

    services.roll_up_stats(now_ms=now + 10_000)
    after, _ = _read(services, now)
    assert after["pageviews"] == before["pageviews"] + 10
    assert after["per_minute"][-11]["pageviews"] == before["per_minute"][-11]["pageviews"] + 6


def test_a_minute_of_more_visitors_than_the_exact_cap_is_summarised_as_a_sketch_within_2_percent(wire):
    services = wire()
    now = _now()
    minute_ms = bucket_start_ms(MINUTE, now) - 3 * MIN
    visitors = SUMMARY_EXACT_VISITORS_MAX + 2_000
    for start in range(0, visitors, 1_500):
        _batch(services, now, minute_ms, range(start, min(visitors, start + 1_500)))
    exact, _ = _read(services, now)
    services.roll_up_stats(now_ms=now)
    summary = services.stats.buckets(summary_pk("demo"), label(MINUTE, minute_ms), label(MINUTE, minute_ms))[0]
    assert "hll" in summary and "members" not in summary
    estimated, _ = _read(services, now)
    assert exact["per_minute"][-4]["visitors"] == visitors
    assert estimated["per_minute"][-4]["visitors"] == pytest.approx(visitors, rel=0.02)
    assert estimated["pageviews"] == exact["pageviews"] == visitors  # counters stay exact
    assert estimated["top"] == exact["top"]


def test_an_idle_site_s_job_reads_no_summaries_and_a_site_without_them_reads_raw_items(wire):
    services = wire()
    now = _now()
    assert services.roll_up_stats(now_ms=now).summaries == 0
    assert services.stats.buckets(summary_pk("demo"), "0", WATERMARK_SK) == []
    _batch(services, now, bucket_start_ms(MINUTE, now) - 2 * MIN, range(3))
    answer, _ = _read(services, now)  # no watermark yet: every minute from raw items
    assert answer["pageviews"] == 3

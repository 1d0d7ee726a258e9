"""Minute summaries: each finished minute of a site as one item, so `GET /stats/realtime` reads about 30
summaries and the raw items of the live minutes only, however busy the site (a realtime read of raw items
was 60 MB at 100,000 visitors a minute: docs/performance.md).

The minute job (rollup.py) summarises a minute once it has been over for SUMMARY_DELAY_MS (its stream
batches are written by then), from every item of every shard of it, and summarises it again whenever
those items have changed (a late batch: the job re-reads the hours it rolls up, and a write to an earlier
hour marks it). A watermark item says through which minute every summary has been written; the reader
takes summaries up to it and raw items after it, so nothing recent is ever missing from the view.

A summary holds the counters, the top values of the dimensions the realtime view shows (capped as hour
buckets are: rollup.capped) and the minute's visitors: their exact hashes up to SUMMARY_EXACT_VISITORS_MAX,
a HyperLogLog past it (docs/stats.md states the error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from chalicelib.schema.tables import spill_label
from chalicelib.stats.buckets import (
    BUCKET_MS,
    COUNTERS,
    DIMENSIONS,
    HOUR,
    MINUTE,
    bucket_start_ms,
    label,
    label_start_ms,
)
from chalicelib.stats.merging import PACKED_VISITORS, Merged, capped

if TYPE_CHECKING:
    from chalicelib.store import StatsStore

REALTIME_MINUTES = 30  # the realtime view's window, the current minute included
REALTIME_TOP = ("page", "referrer", "country", "device")  # the dimensions it shows
# A minute is summarised this long after it ends: its stream batches (5 s window, app.py) are in by then.
SUMMARY_DELAY_MS = 30_000
SUMMARY_EXACT_VISITORS_MAX = 4_000  # 8 bytes each: 32 KB, about a dense sketch's compressed size
SUMMARY_TTL_SECONDS = 2 * 3_600  # the realtime view reads the last 30 minutes only
WATERMARK_SK = "~through"  # sorts after every minute label: one Query reads a window's summaries and it
THROUGH = "through"  # the watermark's attribute: the label of the newest minute summarised
_SHOWN_PREFIXES = tuple(DIMENSIONS[d].prefix for d in REALTIME_TOP)


def summary_pk(site: str) -> str:
    return f"{site}#s"


def summary_record(site: str, minute_ms: int, merged: Merged, now_ms: int) -> dict:
    """One minute's items (every shard, every spill item), merged by MinuteWindow.add, as its summary."""
    counters = {name: count for name, count in capped(merged.counters).items()
                if name in COUNTERS or name.startswith(_SHOWN_PREFIXES)}
    record = {"pk": summary_pk(site), "sk": label(MINUTE, minute_ms), **counters,
              "expires_at_s": now_ms // 1000 + SUMMARY_TTL_SECONDS}
    if merged.exact and len(merged.members) <= SUMMARY_EXACT_VISITORS_MAX:
        if merged.members:
            record[PACKED_VISITORS] = b"".join(sorted(merged.members))
    else:
        record["hll"] = merged.to_sketch().to_bytes()
    return record


class MinuteWindow:
    """The finished minutes of the realtime window that a summary may be written for, each merged as its
    summary needs it (counters, the shown dimensions, visitors up to the exact maximum), from items
    added one at a time as the job reads them: the job never holds the minutes' items."""

    def __init__(self, now_ms: int) -> None:
        self.first_ms = bucket_start_ms(MINUTE, now_ms) - (REALTIME_MINUTES - 1) * BUCKET_MS[MINUTE]
        self.newest_ms = bucket_start_ms(MINUTE, now_ms - SUMMARY_DELAY_MS) - BUCKET_MS[MINUTE]
        self._first, self._newest = label(MINUTE, self.first_ms), label(MINUTE, self.newest_ms)
        self.minutes: dict[str, Merged] = {}

    def add(self, item: dict) -> None:
        minute = spill_label(item["sk"])
        if self._first <= minute <= self._newest:
            self.minutes.setdefault(minute, Merged(exact_visitors_max=SUMMARY_EXACT_VISITORS_MAX)).add(_shown(item))


def merged_minute(items: Iterable[dict]) -> Merged:
    """A minute's items merged as its summary needs them (for a summary made outside the job)."""
    merged = Merged(exact_visitors_max=SUMMARY_EXACT_VISITORS_MAX)
    for item in items:
        merged.add(_shown(item))
    return merged


def _shown(item: dict) -> dict:
    # A dimension the realtime view does not show is dropped before it is merged, not after.
    return {k: v for k, v in item.items() if not (k in DIMENSIONS and k not in REALTIME_TOP)}


def _same(stored: dict | None, record: dict) -> bool:
    if stored is None:
        return False
    return {k: v for k, v in stored.items() if k != "expires_at_s"} == \
        {k: v for k, v in record.items() if k != "expires_at_s"}


def summarise(store: StatsStore, site: str, window: MinuteWindow, read_hours: set[int], now_ms: int,
              read_minutes: Callable[[int, int], Iterable[dict]]) -> int:
    """Writes the summaries of the realtime window's finished minutes that are missing or out of date, and
    moves the watermark; returns the summaries written. `window`: the minutes of the items the job read this
    run, those of the hours starting at `read_hours`; `read_minutes(first_ms, last_ms)` reads others it needs."""
    first_ms, newest_ms = window.first_ms, window.newest_ms
    if newest_ms < first_ms:
        return 0
    stored = {s["sk"]: s for s in store.buckets(summary_pk(site), label(MINUTE, first_ms), WATERMARK_SK)}
    watermark = stored.pop(WATERMARK_SK, None)
    through_ms = max(first_ms - BUCKET_MS[MINUTE], label_start_ms(MINUTE, watermark[THROUGH]) if watermark else 0)
    # Minutes past the watermark in an hour the job did not read this run (it was down for a while). The
    # window is shorter than an hour and the current hour is always read, so these are the previous
    # hour's only, one run of minutes that no read above holds.
    unread = [m for m in range(through_ms + BUCKET_MS[MINUTE], newest_ms + 1, BUCKET_MS[MINUTE])
              if bucket_start_ms(HOUR, m) not in read_hours]
    for item in read_minutes(unread[0], unread[-1] + BUCKET_MS[MINUTE] - 1) if unread else ():
        window.add(item)
    written = 0
    for minute_ms in range(first_ms, newest_ms + 1, BUCKET_MS[MINUTE]):
        minute = label(MINUTE, minute_ms)
        if minute not in window.minutes:
            continue  # no traffic (or an hour not read this run, summarised when it was)
        record = summary_record(site, minute_ms, window.minutes[minute], now_ms)
        if not _same(stored.get(minute), record):
            store.put(record)
            written += 1
    if newest_ms > through_ms:
        store.put({"pk": summary_pk(site), "sk": WATERMARK_SK, THROUGH: label(MINUTE, newest_ms),
                   "expires_at_s": now_ms // 1000 + SUMMARY_TTL_SECONDS})
    return written


def realtime_buckets(store: StatsStore, site: str, first_ms: int, now_ms: int,
                     read_minutes: Callable[[int, int], list[dict]]) -> list[dict]:
    """The window's buckets for the realtime view: summaries through the watermark, raw items after it."""
    found = store.buckets(summary_pk(site), label(MINUTE, first_ms), WATERMARK_SK)
    watermark = next((s for s in found if s["sk"] == WATERMARK_SK), None)
    through = watermark[THROUGH] if watermark else None
    summaries = [s for s in found if s["sk"] != WATERMARK_SK and through is not None and s["sk"] <= through]
    raw_from_ms = max(first_ms, label_start_ms(MINUTE, through) + BUCKET_MS[MINUTE]) if through else first_ms
    return summaries + (read_minutes(raw_from_ms, now_ms) if raw_from_ms <= now_ms else [])

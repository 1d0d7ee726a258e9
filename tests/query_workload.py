"""A known workload of lake rows for the query engine's golden tests and bench: several sites and
days, visitors with several visits, custom events with properties, engagement, visits that cross
midnight, late events and duplicate copies; written to a MemoryLakeObjects as the stream writer and
compaction lay it out. Deterministic (seeded)."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import datetime, timezone

from chalicelib.lake.layout import (
    Partition,
    compacted_object_key,
    manifest_body,
    manifest_key,
    stream_object_key,
)
from chalicelib.lake.parquet import rows_to_parquet

SITES = ("alpha", "beta", "gamma")
START_MS = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp() * 1000)
DAYS = 5
PAGES = ("/", "/pricing", "/blog/one", "/blog/two", "/docs", "/Docs/Setup", "/signup")
SOURCES = [("Google", "Organic Search", "www.google.com"), ("Facebook", "Organic Social", "facebook.com"),
           ("news.example", "Referral", "news.example"), (None, "Direct", None)]
DEVICES = [("desktop", "Chrome", "Windows"), ("mobile", "Safari", "iOS"), ("mobile", "Chrome", "Android"),
           ("tablet", "Safari", "iPadOS"), (None, None, None)]
COUNTRIES = ("US", "DE", "FR", "JP", None)


def _session_rows(rnd: random.Random, site: str, visitor: str, start_ms: int) -> list[dict]:
    source, channel, ref_host = rnd.choice(SOURCES)
    device, browser, os_name = rnd.choice(DEVICES)
    country = rnd.choice(COUNTRIES)
    session_id = uuid.UUID(int=rnd.getrandbits(128)).hex[:20]
    utm = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": rnd.choice(["nov", "Winter Sale"])} \
        if rnd.random() < 0.2 else {}
    rows, time_ms = [], start_ms
    for n in range(rnd.choice([1, 1, 2, 3, 5, 8])):
        first = n == 0
        row = _row(rnd, site, visitor, session_id, time_ms, "page_view", page=rnd.choice(PAGES))
        if first:  # the visit's acquisition and device facts are its first event's
            row.update({k: v for k, v in {"source": source, "channel": channel, "referrer_host": ref_host,
                                          "referrer": f"https://{ref_host}/q?x=1" if ref_host else None,
                                          "country": country, **utm}.items() if v is not None})
        else:  # later events may say otherwise (a tab reopened from a link): the visit ignores them
            if rnd.random() < 0.3:
                row.update({"source": "Bing", "channel": "Organic Search", "country": "CA"})
        row.update({k: v for k, v in {"device_type": device, "browser": browser, "os": os_name}.items() if v})
        rows.append(row)
        time_ms += rnd.randint(1_000, 400_000)
        if rnd.random() < 0.3:
            rows.append(_row(rnd, site, visitor, session_id, time_ms, "engagement", page=row["page_path"],
                             engaged_ms=rnd.choice([3_000, 9_999, 10_000, 45_000])))
            time_ms += rnd.randint(1_000, 60_000)
        if rnd.random() < 0.15:
            name = rnd.choice(["signup", "outbound_click", "Download"])
            props = {"plan": rnd.choice(["free", "pro", "Pro"])} if name == "signup" else {"lang": "en"}
            rows.append(_row(rnd, site, visitor, session_id, time_ms, name, page=row["page_path"], properties=props))
            time_ms += rnd.randint(1_000, 60_000)
    return rows


def _row(rnd, site, visitor, session_id, time_ms, event_type, page, engaged_ms=None, properties=None) -> dict:
    host = f"{site}.example" if rnd.random() < 0.9 else f"www.{site}.example"
    late = rnd.random() < 0.03  # delivered from an offline queue hours later
    row = {"site": site, "event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)), "event_type": event_type,
           "time": time_ms, "received_time": time_ms + (rnd.randint(3_600_000, 20_000_000) if late else 150),
           "session_id": session_id, "visitor_id": visitor, "page_url": f"https://{host}{page}",
           "page_host": host, "page_path": page, "title": f"Title of {page}"}
    if engaged_ms is not None:
        row["engaged_ms"] = engaged_ms
        row["properties"] = {"engaged_ms": str(engaged_ms)}
    if properties:
        row["properties"] = properties
    return row


def events(seed: int = 13, visitors_per_site: int = 80) -> list[dict]:
    """Every event once (the truth); `copies` adds the duplicates the lake may hold."""
    rnd = random.Random(seed)
    rows = []
    for site in SITES:
        for v in range(visitors_per_site):
            visitor = f"anon-{site}-{v:04d}"
            for _ in range(rnd.choice([1, 1, 2, 3])):
                day = rnd.randrange(DAYS)
                # some visits start just before midnight and cross into the next day's partition
                offset = 86_400_000 - rnd.randint(60_000, 900_000) if rnd.random() < 0.08 \
                    else rnd.randint(0, 86_400_000 - 1)
                rows.extend(_session_rows(rnd, site, visitor, START_MS + day * 86_400_000 + offset))
    return rows


def by_partition(rows: list[dict]) -> dict[Partition, list[dict]]:
    out: dict[Partition, list[dict]] = defaultdict(list)
    for row in rows:
        out[Partition.of(row["site"], row["time"])].append({k: v for k, v in row.items() if k != "site"})
    return out


def with_site(rows: list[dict], site: str) -> list[dict]:
    return [{**r, "site": site} for r in rows]


def stream_lake(rows: list[dict]):
    """A memory lake holding the rows as the stream writer leaves them (write_stream_layout)."""
    from tests.lakefakes import MemoryLakeObjects

    objects = MemoryLakeObjects()
    write_stream_layout(objects, rows)
    return objects


def write_stream_layout(objects, rows: list[dict], seed: int = 7, duplicate_share: float = 0.02,
                        objects_per_partition: int = 3) -> None:
    """Each partition as several stream objects; a few events twice (in two objects)."""
    rnd = random.Random(seed)
    for partition, part_rows in sorted(by_partition(rows).items()):
        chunks: list[list[dict]] = [[] for _ in range(objects_per_partition)]
        for i, row in enumerate(part_rows):
            chunks[i % objects_per_partition].append(row)
            if rnd.random() < duplicate_share:
                chunks[(i + 1) % objects_per_partition].append(row)
        for n, chunk in enumerate(chunks):
            if chunk:
                objects.put(stream_object_key(partition, "shardId-0001", str(1000 + n)), rows_to_parquet(chunk))


def compact_partition(objects, partition: Partition, generation: int = 1, delete_replaced: bool = False) -> None:
    """What compaction does to one partition (manifest, then compacted object, then deletes)."""
    from chalicelib.lake.parquet import parquet_rows

    replaced = [o.key for o in objects.list(partition.prefix) if o.key.rsplit("/", 1)[1].startswith("s-")]
    merged = {}
    for key in replaced:
        for row in parquet_rows(objects.get(key)):
            merged[row["event_id"]] = row
    objects.put(manifest_key(partition, generation), manifest_body(replaced))
    objects.put(compacted_object_key(partition, generation), rows_to_parquet(list(merged.values())))
    if delete_replaced:
        objects.delete(replaced)

"""include.comparisons and Accept: text/csv end to end on moto: events of today and of yesterday posted
through the real collector -> the stream writer -> Parquet on S3 -> POST /api/v2/query "day" compared
with the previous period -> each number and change equals a plain-Python count of the posted events
and Plausible's change rule; the CSV answer parsed with the csv module equals the JSON answer."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import set_services
from tests.integration.conftest import AUTH, STAGE
from tests.integration.lakepipe import lake_pipeline
from tests.integration.test_api_v2_query import SITE, query

# Per visitor: (day: 0 today / 1 yesterday, pages viewed in order). One visit each.
VISITS = {"u-01": (0, ["/pricing", "/docs"]), "u-02": (0, ["/pricing"]), "u-03": (0, ["=cmd|' /C calc'!A0"]),
          "u-04": (1, ["/pricing"]), "u-05": (1, ["/docs", "/pricing", "/docs"]), "u-06": (1, ["/blog"]),
          "u-07": (1, ["/pricing"])}


@pytest.fixture
def posted(dynamodb, settings, no_sleep_backoff, tmp_path, monkeypatch):
    lake = lake_pipeline(dynamodb, settings, no_sleep_backoff, cache_dir=tmp_path / "cache", monkeypatch=monkeypatch)
    now_ms = int(time.time() * 1000)
    midnight_ms = now_ms - now_ms % 86_400_000
    # today's visits between midnight and now; yesterday's between now - 24 h (the collector's limit) and midnight
    starts = {0: midnight_ms + (now_ms - midnight_ms) // 4, 1: midnight_ms - (86_400_000 - (now_ms - midnight_ms)) // 2}
    events = []
    for user, (day, pages) in VISITS.items():
        for n, page in enumerate(pages):
            events.append({"site": SITE, "event_type": "page_view", "user_id": user,
                           "timestamp": starts[day] + n * 1000,
                           "event_id": f"00000000-0000-4000-8000-{user[-2:]}00000000{n:02d}",
                           "page_url": f"https://shop.example{page}" if page.startswith("/") else
                           f"https://shop.example/?q={page}", "title": page})
    lake.post_visits(events)
    yield datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).date()
    set_services(None)


def counts(day: int, page: str | None = None) -> dict:
    """Plain Python over VISITS: visitors, pageviews, bounce rate and views per visit of one day."""
    visits = {u: pages for u, (d, pages) in VISITS.items() if d == day and (page is None or page in pages)}
    views = sum(len(p) if page is None else p.count(page) for p in visits.values())
    bounces = sum(len(p) == 1 for p in visits.values())
    return {"visitors": len(visits), "pageviews": views, "bounce_rate": round(bounces * 100 / len(visits), 1),
            "views_per_visit": round(views / len(visits), 2)}


def plausible_change(old, new) -> int:  # compare.ex percent_change, Elixir's round (half away from zero)
    if old == 0:
        return 100 if new > 0 else 0
    ratio = (new - old) / old * 100
    return int(ratio + 0.5) if ratio >= 0 else -int(-ratio + 0.5)


def test_previous_period_numbers_and_changes_equal_a_plain_python_count(posted):
    today = posted
    metrics = ["visitors", "pageviews", "bounce_rate", "views_per_visit"]
    with Client(app, stage_name=STAGE) as api:
        status, body = query(api, {"site_id": SITE, "metrics": metrics, "date_range": "day",
                                   "include": {"comparisons": {"mode": "previous_period"}}})
        assert status == 200, body
        now, before = counts(0), counts(1)
        assert body["results"] == [{"dimensions": [], "metrics": [now[m] for m in metrics], "comparison": {
            "dimensions": [], "metrics": [before[m] for m in metrics],
            "change": [plausible_change(before["visitors"], now["visitors"]),
                       plausible_change(before["pageviews"], now["pageviews"]),
                       round(now["bounce_rate"] - before["bounce_rate"], 1),
                       plausible_change(before["views_per_visit"], now["views_per_visit"])]}}]
        assert body["results"][0]["comparison"]["change"][:2] == [-25, -33]  # 3 vs 4 visitors, 4 vs 6 pageviews
        yesterday = (today - timedelta(days=1)).isoformat()
        assert body["meta"]["comparison_date_range"] == [f"{yesterday}T00:00:00+00:00", f"{yesterday}T23:59:59+00:00"]
        assert body["query"]["include"] == {"comparisons": {"mode": "previous_period"}}

        # by page with percentage: /blog, seen only yesterday, is not added
        request = {"site_id": SITE, "metrics": ["visitors", "percentage"], "date_range": "day",
                   "dimensions": ["event:page"], "order_by": [["event:page", "asc"]],
                   "include": {"comparisons": {"mode": "previous_period"}}}
        status, body = query(api, request)
        assert status == 200, body
        pages = sorted({p for d, ps in VISITS.values() if d == 0 for p in ps if p.startswith("/")} | {"/"})
        want = []
        for page in pages:
            key = page if page != "/" else "=cmd|' /C calc'!A0"
            n, o = counts(0, key)["visitors"], counts(1, key)["visitors"] if any(
                key in ps for d, ps in VISITS.values() if d == 1) else 0
            share_now, share_then = round(n * 100 / 3, 1), round(o * 100 / 4, 1)
            want.append({"dimensions": [page], "metrics": [n, share_now], "comparison": {
                "dimensions": [page], "metrics": [o, share_then],
                "change": [plausible_change(o, n), plausible_change(share_then, share_now)]}})
        assert body["results"] == want
        assert [r["dimensions"][0] for r in want] == ["/", "/docs", "/pricing"]

        # the same answer as CSV
        response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json", "Accept": "text/csv",
                                                           **AUTH}, body=json.dumps(request).encode())
        assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(response.body.decode())))
        assert rows[0] == ["event:page", "visitors", "percentage", "comparison:visitors", "comparison:percentage",
                           "change:visitors", "change:percentage"]
        assert rows[1:] == [[str(c) for c in (r["dimensions"] + r["metrics"] + r["comparison"]["metrics"]
                                              + r["comparison"]["change"])] for r in body["results"]]


def test_csv_of_a_plain_query_and_its_formula_guard(posted):
    with Client(app, stage_name=STAGE) as api:
        request = {"site_id": SITE, "metrics": ["visitors", "pageviews"], "date_range": "day",
                   "dimensions": ["event:page", "visit:entry_page"]}
        status, body = query(api, request)
        assert status == 200, body
        response = api.http.post("/api/v2/query", headers={"Content-Type": "application/json",
                                                           "Accept": "text/csv, application/json;q=0.5", **AUTH},
                                 body=json.dumps(request).encode())
        assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(response.body.decode())))
        assert rows[0] == ["event:page", "visit:entry_page", "visitors", "pageviews"]
        assert rows[1:] == [[str(c) for c in r["dimensions"] + r["metrics"]] for r in body["results"]]
        # a bad query is still Plausible's JSON error, whatever was accepted
        response = api.http.post("/api/v2/query", headers={"Accept": "text/csv", **AUTH},
                                 body=json.dumps({**request, "metrics": ["nope"]}).encode())
        assert response.status_code == 400 and "unknown metric 'nope'" in json.loads(response.body)["error"]

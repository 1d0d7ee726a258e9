"""Golden tests of funnels on the lake: visitors per step answered by DuckDB (stream objects with
duplicate copies) and by the Athena SQL (parsed as Trino, run as its DuckDB twin), compared with a
plain-Python computation over the same events that tries every step-1 event and walks each chain
greedily (the earliest matching event strictly after the previous step, within the window of the
start); goals matched by core/goals.py's event_converts, filters by the query golden test's own
matcher over visits built by sessions/model.py. Equal, not approximately equal. Also: hand-made
visitors for ties, out-of-order steps, the window's edge and the range's edges; Plausible's
percentage strings (funnel.ex) and the 400s of the request."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace

import pytest
import sqlglot

from chalicelib.core.goals import event_converts, parse_goals
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Site
from chalicelib.query import funnel as funnels
from chalicelib.query.description import QueryError
from chalicelib.query.funnel_sql import answer, build_funnel, counts_of
from chalicelib.query.runner import athena_scan, plan
from chalicelib.store.athena import AthenaResult
from chalicelib.store.lake_duckdb import LakeCache, run_sql
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects
from tests.unit.test_query_golden import SETTINGS, SITE, matches, visits_of

GOALS = {g["name"]: g for g in [
    {"name": "Home", "page": "/"}, {"name": "Pricing", "page": "/pricing"}, {"name": "Blog", "page": "/blog*"},
    {"name": "Docs", "page": "/docs"}, {"name": "Signup page", "page": "/signup"},
    {"name": "Signup", "event": "signup"}, {"name": "Pro", "event": "signup", "props": {"plan": "pro"}},
    {"name": "Download", "event": "Download"}]}
DAY = ["2026-11-01", "2026-11-05"]
PARTIAL = {"time_range_ms": [workload.START_MS + 30 * 3_600_000, workload.START_MS + 60 * 3_600_000]}
CASES = [  # (steps, window seconds, filters, range)
    (["Home", "Pricing", "Signup page", "Signup"], 86_400, [], {}),
    (["Home", "Pricing", "Signup page", "Signup"], 60, [], {}),  # windows that cut chains
    (["Home", "Pricing", "Signup page", "Signup"], 600, [], {}),
    (["Home", "Pricing", "Signup page", "Signup"], 31 * 86_400, [], {}),  # across visits and days
    (["Home", "Pricing", "Signup page", "Signup"], 86_400, [["is", "visit:country", ["US", "DE"]]], {}),
    (["Home", "Pricing", "Signup page", "Signup"], 3_600, [["is", "visit:device", ["mobile"]]], PARTIAL),
    (["Blog", "Signup"], 86_400, [], {}),
    (["Blog", "Pro"], 1_800, [["is_not", "event:hostname", ["www.alpha.example"]]], {}),
    (["Pricing", "Home"], 86_400, [["contains", "event:page", ["i"]]], {}),  # event filter: Home never matches
    (["Docs", "Download"], 86_400, [["or", [["is", "visit:channel", ["Direct"]],
                                           ["not", ["is", "visit:browser", ["Safari"]]]]]], PARTIAL),
    (["Home", "Home", "Home"], 7_200, [], {}),  # a repeated step needs later events of its own
    (["Home", "Blog", "Pricing", "Signup page", "Signup", "Docs", "Download", "Home"], 31 * 86_400, [], {}),
    (["Home", "Blog", "Pricing", "Signup page", "Signup", "Docs", "Download", "Home"], 86_400,
     [["is_not", "visit:source", ["Google"]]], {}),
]


# --- the independent computation ------------------------------------------------------------------

def reference(events: list[dict], site: str, steps: list[str], window_seconds: int, filters: list,
              start_ms: int, end_ms: int) -> tuple[int, list[int]]:
    """(all visitors, visitors reaching each step): every step-1 event tried as the start of a chain
    walked greedily; a visitor reaches step k when some start's chain does."""
    goals = [parse_goals([GOALS[name]])[0] for name in steps]
    site_events = [e for e in events if e["site"] == site]
    visits = visits_of(site_events)
    kept = [e for e in site_events if start_ms <= e["time"] < end_ms
            and all(matches(f, e, visits[e["session_id"]]) for f in filters)]
    by_visitor: dict[str, list[dict]] = {}
    for event in kept:
        by_visitor.setdefault(event["visitor_id"], []).append(event)
    reached = [0] * len(goals)
    for rows in by_visitor.values():
        best = 0
        for start in (e["time"] for e in rows if event_converts(goals[0], e)):
            level, last = 1, start
            for goal in goals[1:]:
                later = [e["time"] for e in rows if event_converts(goal, e) and last < e["time"]
                         and e["time"] - start <= window_seconds * 1000]
                if not later:
                    break
                level, last = level + 1, min(later)
            best = max(best, level)
        for k in range(best):
            reached[k] += 1
    return len(by_visitor), reached


def time_range(extra: dict) -> tuple[int, int]:
    if "time_range_ms" in extra:
        return tuple(extra["time_range_ms"])
    return workload.START_MS, workload.START_MS + workload.DAYS * 86_400_000


def request(steps: list[str], window_seconds: int, filters: list, extra: dict, site: str = SITE) -> dict:
    if "time_range_ms" in extra:
        return funnels.funnel_request(site, [GOALS[s] for s in steps], window_seconds=window_seconds,
                                      filters=filters, time_range_ms=extra["time_range_ms"])
    return funnels.funnel_request(site, [GOALS[s] for s in steps], DAY, window_seconds, filters=filters)


# --- journeys: visitors walking the funnel's pages, with skips, reversals, ties and long pauses ------

JOURNEY = ["/", "/blog/one", "/pricing", "/signup", "signup", "/docs", "Download"]
GAPS_MS = [0, 0, 1, 900, 5_000, 40_000, 61_000, 300_000, 599_999, 600_000, 600_001, 3_600_000, 7_200_000]


def journeys(seed: int = 3, visitors: int = 220) -> list[dict]:
    """Visitors of SITE with 1-3 visits over the five days (some crossing midnight or the range's
    start), each visit a walk that mostly takes the journey's next step, sometimes a random one
    (so steps come out of order too), separated by gaps that straddle the windows tested; events
    at the same millisecond happen (gap 0)."""
    rnd = random.Random(seed)
    rows: list[dict] = []
    for v in range(visitors):
        visitor = f"walker-{v:04d}"
        country, device, source, browser = (rnd.choice(["US", "DE", "FR", None]), rnd.choice(["desktop", "mobile"]),
                                            rnd.choice(["Google", "Direct", None]), rnd.choice(["Safari", "Chrome"]))
        for n in range(rnd.choice([1, 1, 2, 3])):
            time_ms = workload.START_MS + rnd.randrange(-2, workload.DAYS * 24) * 3_600_000 + rnd.randrange(3_600_000)
            session, at = f"walk-{v}-{n}", rnd.randrange(2)
            facts = {"country": country, "device_type": device, "source": source, "browser": browser,
                     "channel": "Direct" if source in (None, "Direct") else "Organic Search"}
            for _ in range(rnd.randint(2, 9)):
                at = at + 1 if rnd.random() < 0.75 else rnd.randrange(len(JOURNEY))
                step = JOURNEY[min(at, len(JOURNEY) - 1)]
                page = step if step.startswith("/") else "/signup"
                row = {"site": SITE, "event_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                       "event_type": "page_view" if step.startswith("/") else step, "time": time_ms,
                       "received_time": time_ms + 200, "session_id": session, "visitor_id": visitor,
                       "page_url": f"https://{SITE}.example{page}", "page_host": f"{SITE}.example",
                       "page_path": page, "title": page}
                if step == "signup":
                    row["properties"] = {"plan": rnd.choice(["free", "pro"])}
                # every event of the visit carries its facts (a tie at the visit's first moment
                # would otherwise leave its first event, and so its facts, to chance)
                row.update({k: v for k, v in facts.items() if v is not None})
                rows.append(row)
                time_ms += rnd.choice(GAPS_MS) + (rnd.randrange(1_000) if rnd.random() < 0.3 else 0)
    return rows


# --- hand-made visitors: ties, order, the window's and the range's edges ------------------------------

T0 = workload.START_MS + 86_400_000 + 12 * 3_600_000  # 2026-11-02 12:00 UTC
CRAFTED_SITE = "delta"


def crafted() -> list[dict]:
    def row(visitor: str, n: int, time_ms: int, page: str, kind: str = "page_view", session: str = "") -> dict:
        return {"site": CRAFTED_SITE, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{visitor}/{n}")),
                "event_type": kind, "time": time_ms, "received_time": time_ms + 100,
                "session_id": session or f"s-{visitor}", "visitor_id": visitor, "page_url": f"https://d.example{page}",
                "page_host": "d.example", "page_path": page, "title": page}
    hour = 3_600_000
    return [
        row("in-order", 1, T0, "/"), row("in-order", 2, T0 + 5_000, "/pricing"),
        row("reversed", 1, T0, "/pricing"), row("reversed", 2, T0 + 5_000, "/"),  # step 2 before step 1
        row("tie", 1, T0, "/"), row("tie", 2, T0, "/pricing"),  # the same millisecond: not "later"
        row("window-edge", 1, T0, "/"), row("window-edge", 2, T0 + 600_000, "/pricing"),  # exactly 600 s
        row("past-window", 1, T0, "/"), row("past-window", 2, T0 + 600_001, "/pricing"),
        # a late second start rescues the chain: the first start's window is over at /pricing
        row("restart", 1, T0, "/"), row("restart", 2, T0 + 550_000, "/"), row("restart", 3, T0 + 700_000, "/pricing"),
        # step 1 before the range starts (2026-11-01): not entering; its later /pricing counts as any event
        row("before-range", 1, workload.START_MS - hour, "/", session="s-b1"),
        row("before-range", 2, workload.START_MS + 60_000, "/pricing", session="s-b1"),
        # step 2 after the range ends (2026-11-05 included): entering only
        row("after-range", 1, workload.START_MS + 5 * 86_400_000 - 60_000, "/", session="s-a1"),
        row("after-range", 2, workload.START_MS + 5 * 86_400_000 + 60_000, "/pricing", session="s-a1"),
        row("only-other", 1, T0, "/docs"),  # an event of the range: in all_visitors, never entering
        # repeated step: one /pricing cannot be steps 2 and 3 of [Home, Pricing, Pricing]
        row("one-pricing", 1, T0, "/"), row("one-pricing", 2, T0 + 1_000, "/pricing"),
        row("two-pricing", 1, T0, "/"), row("two-pricing", 2, T0 + 1_000, "/pricing"),
        row("two-pricing", 3, T0 + 2_000, "/pricing"),
    ]


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events() -> list[dict]:
    return workload.events(visitors_per_site=150) + journeys() + crafted()


@pytest.fixture(scope="module")
def lake(events) -> MemoryLakeObjects:
    return workload.stream_lake(events)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> LakeCache:
    return LakeCache(str(tmp_path_factory.mktemp("funnel-cache")))


def ask(lake, cache, lake_request: dict) -> dict:
    answered = answer(lake_request["funnel"], lake, SETTINGS, Metrics("test", lambda _: None), cache=cache)
    assert "error" not in answered, answered
    return answered


# --- golden ----------------------------------------------------------------------------------------

def test_the_workload_makes_funnels_worth_testing(events, lake, cache):
    all_visitors, reached = reference(events, SITE, *CASES[0][:3], *time_range({}))
    assert all_visitors >= 300 and reached[0] > reached[1] > reached[2] > reached[3] >= 20  # drop-offs
    cut = reference(events, SITE, *CASES[1][:3], *time_range({}))[1]
    assert cut[1] < reached[1]  # a 60 s window cuts chains the default window keeps
    longer = reference(events, SITE, *CASES[3][:3], *time_range({}))[1]
    assert longer[3] > reached[3]  # 31 days joins visits of other days
    eight = reference(events, SITE, *CASES[11][:3], *time_range({}))[1]
    assert eight[7] > 0
    ties = sum(a["time"] == b["time"] and a["visitor_id"] == b["visitor_id"]
               for a, b in zip(events, events[1:], strict=False))
    assert ties > 50  # events of one visitor at the same millisecond


@pytest.mark.parametrize("case", range(len(CASES)))
def test_funnel_visitors_equal_plain_python_in_duckdb(events, lake, cache, case):
    steps, window, filters, extra = CASES[case]
    got = ask(lake, cache, request(steps, window, filters, extra))
    expected = reference(events, SITE, steps, window, filters, *time_range(extra))
    assert (got["all_visitors"], got["visitors"]) == expected, (steps, window, filters)
    assert got["meta"]["engine"] == "duckdb" and got["meta"]["bytes_read"] > 0


def test_the_athena_sql_parses_as_trino_and_its_duckdb_twin_answers_the_same(events, lake, cache):
    for steps, window, filters, extra in CASES:
        funnel = funnels.parse_funnel(request(steps, window, filters, extra)["funnel"])
        files = plan(funnel.query, lake)
        trino_sql = build_funnel(funnel, athena_scan(funnel.query, files, SETTINGS.lake_bucket)).sql(dialect="trino")
        duck = sqlglot.parse_one(trino_sql, read="trino").sql(dialect="duckdb")
        ran = run_sql(lake, files, duck, cache=cache, bucket=SETTINGS.lake_bucket)
        got = counts_of(ran.columns, ran.rows, len(steps))
        assert (got["all_visitors"], got["visitors"]) == reference(events, SITE, steps, window, filters,
                                                                   *time_range(extra)), (steps, window, filters)
        assert "$path" in trino_sql  # Athena reads only the planned objects


def test_ties_order_window_and_range_edges(events, lake, cache):
    two = request(["Home", "Pricing"], 600, [], {}, site=CRAFTED_SITE)
    got = ask(lake, cache, two)
    # all: the 11 crafted visitors; entering: all but only-other and before-range (its "/" is before
    # the range); reaching /pricing: in-order, window-edge (600 s: inclusive), restart, one-pricing,
    # two-pricing; not reversed, tie (same millisecond), past-window, after-range (/pricing after the range)
    assert got["all_visitors"] == 11
    assert got["visitors"] == [9, 5]
    assert (got["all_visitors"], got["visitors"]) == reference(events, CRAFTED_SITE, ["Home", "Pricing"], 600, [],
                                                               *time_range({}))
    repeated = ask(lake, cache, request(["Home", "Pricing", "Pricing"], 600, [], {}, site=CRAFTED_SITE))
    assert repeated["visitors"] == [9, 5, 1]  # only two-pricing has a second, later /pricing


class TwinAthena:
    """Athena's place in the runner: takes the Trino SQL the funnel sends and answers it with its
    DuckDB twin over the same lake (moto's Athena runs no SQL)."""

    def __init__(self, lake, cache, funnel_request: dict) -> None:
        self.lake, self.cache, self.request, self.sent = lake, cache, funnel_request, []

    def run(self, sql: str, time_left_seconds: float) -> AthenaResult:
        self.sent.append(sql)
        files = plan(funnels.parse_funnel(self.request).query, self.lake)
        ran = run_sql(self.lake, files, sqlglot.parse_one(sql, read="trino").sql(dialect="duckdb"), cache=self.cache,
                      bucket=SETTINGS.lake_bucket)
        return AthenaResult(ran.columns, ran.rows, bytes_scanned=ran.bytes_read, execution_id="twin", elapsed_ms=1.0)


def test_over_the_embedded_limit_the_funnel_runs_in_athena(events, lake, cache):
    steps, window, filters, extra = CASES[4]
    athena = TwinAthena(lake, cache, request(steps, window, filters, extra)["funnel"])
    settings = replace(SETTINGS, lake_embedded_limit_bytes=0)
    got = answer(athena.request, lake, settings, Metrics("test", lambda _: None), athena=athena, time_left_seconds=20)
    assert got["meta"]["engine"] == "athena" and got["meta"]["execution_id"] == "twin"
    assert (got["all_visitors"], got["visitors"]) == reference(events, SITE, steps, window, filters, *time_range(extra))
    assert len(athena.sent) == 1 and '"$path" IN (' in athena.sent[0]


# --- Plausible's shape ----------------------------------------------------------------------------------

def test_percentages_are_plausibles_strings():
    assert funnels.percentage(0, 10) == "0" and funnels.percentage(3, 0) == "0" and funnels.percentage(3, None) == "0"
    assert funnels.percentage(1, 3) == "33.33" and funnels.percentage(2, 3) == "66.67"
    assert funnels.percentage(5, 5) == "100" and funnels.percentage(1, 2) == "50"
    assert funnels.percentage(1, 8) == "12.50"  # only ".00" is dropped
    assert funnels.percentage(1, 800) == "0.13"  # 0.125 half up
    assert funnels.percentage(1, 100_000) == "0"  # "0.00" -> "0"


def test_results_follow_funnel_ex():
    answered = funnels.results(20, [10, 4, 0], ["A", "B", "C"])
    assert answered == {
        "steps": [
            {"label": "A", "visitors": 10, "conversion_rate": "100", "conversion_rate_step": "0", "dropoff": 0,
             "dropoff_percentage": "0"},
            {"label": "B", "visitors": 4, "conversion_rate": "40", "conversion_rate_step": "40", "dropoff": 6,
             "dropoff_percentage": "60"},
            {"label": "C", "visitors": 0, "conversion_rate": "0", "conversion_rate_step": "0", "dropoff": 4,
             "dropoff_percentage": "100"}],
        "all_visitors": 20, "entering_visitors": 10, "entering_visitors_percentage": "50",
        "never_entering_visitors": 10, "never_entering_visitors_percentage": "50"}


# --- requests refused -----------------------------------------------------------------------------------

SITES = {"demo": Site("demo", goals=parse_goals([GOALS["Home"], GOALS["Pricing"], GOALS["Signup"]]))}
NOW_MS = workload.START_MS + 3 * 86_400_000


def refused(body: dict) -> tuple[str, str]:
    with pytest.raises(Exception) as caught:
        funnels.translate(body, SITES, 30, NOW_MS)
    return caught.value.field, caught.value.message


def valid(**changes) -> dict:
    return {"site_id": "demo", "date_range": "7d", "steps": ["Home", "Pricing"], **changes}


def test_translate_builds_the_lake_request():
    lake, echo, labels = funnels.translate(valid(steps=["Home", {"name": "Pro", "event": "signup",
                                                                 "props": {"plan": "pro"}}], window=600),
                                           SITES, 30, NOW_MS)
    assert labels == ["Home", "Pro"]
    assert lake["funnel"]["steps"] == [GOALS["Home"], GOALS["Pro"]] and lake["funnel"]["window_seconds"] == 600
    assert echo["window"] == 600 and echo["date_range"][0].startswith("2026-10-28")
    assert funnels.parse_funnel(lake["funnel"]).window_ms == 600_000
    assert funnels.translate(valid(), SITES, 30, NOW_MS)[0]["funnel"]["window_seconds"] == 86_400


@pytest.mark.parametrize(("body", "part", "words"), [
    (valid(steps=["Home", "Nope"]), "steps[1]", "'Nope' is not a goal of this site"),
    (valid(steps=["Home"]), "steps", "2 to 8"),
    (valid(steps=["Home"] * 9), "steps", "2 to 8"),
    (valid(steps="Home"), "steps", "2 to 8"),
    (valid(steps=["Home", {"name": "X", "event": "x", "bogus": 1}]), "steps[1]", "unknown field 'bogus'"),
    (valid(steps=["Home", 3]), "steps[1]", "goal's name"),
    (valid(window=59), "window", "60 to 2678400"),
    (valid(window=31 * 86_400 + 1), "window", "60 to 2678400"),
    (valid(window="1h"), "window", "whole number"),
    (valid(window=True), "window", "whole number"),
    (valid(name="x"), "name", "unknown field"),
    (valid(metrics=["visitors"]), "metrics", "unknown field"),
    (valid(site_id="other"), "site_id", "unknown site"),
    (valid(date_range="fortnight"), "date_range", "not a date range"),
    (valid(filters=[["is", "event:goal", ["Home"]]]), "filters[0]", "do not apply to funnels"),
    (valid(filters=[["has_done", "event:name", ["x"]]]), "filters[0]", "not supported yet"),
    (valid(filters=[["is", "visit:nope", ["x"]]]), "filters[0]", "unknown dimension"),
])
def test_bad_requests_name_the_part(body, part, words):
    field, message = refused(body)
    assert field == part and words in message, message


def test_the_lake_request_is_checked_too():
    good = request(["Home", "Pricing"], 600, [], {})["funnel"]
    for change, part in [({"steps": [GOALS["Home"]]}, "steps"), ({"window_seconds": 10}, "window_seconds"),
                         ({"extra": 1}, "extra"), ({"filters": [["is", "event:goal", ["Home"]]]}, "filters"),
                         ({"steps": [GOALS["Home"], {"name": "bad"}]}, "steps")]:
        with pytest.raises(QueryError) as caught:
            funnels.parse_funnel({**good, **change})
        assert caught.value.field == part
    refused_answer = answer({**good, "window_seconds": 0}, MemoryLakeObjects(), SETTINGS, Metrics("t", lambda _: 0))
    assert refused_answer["status"] == 400 and refused_answer["error"]["field"] == "window_seconds"

"""The query description: what a request may say, and the 400 answers naming what it got wrong;
filter values travel as data, never as SQL."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import Settings, Site
from chalicelib.query.builder import Scan, build
from chalicelib.query.description import Condition, Logical, QueryError, parse_query
from chalicelib.query.runner import answer
from chalicelib.store.lake_duckdb import LakeCache
from tests import query_workload as workload
from tests.lakefakes import MemoryLakeObjects

BASE = {"site": "alpha", "date_range": ["2026-11-01", "2026-11-05"], "metrics": ["visitors"]}
SETTINGS = Settings(stage="test", sites={"alpha": Site("alpha")}, default_site_id="alpha", event_retention_days=30)


def test_a_full_request_becomes_one_frozen_description():
    query = parse_query({**BASE, "metrics": ["visits", "bounce_rate"], "dimensions": ["visit:source", "time:day"],
                         "filters": [["is", "visit:country", ["US"]],
                                     ["or", [["contains", "event:page", ["/blog"], {"case_sensitive": False}],
                                             ["not", ["matches", "event:props:plan", ["^pro"]]]]]],
                         "order_by": [["visits", "desc"]], "limit": 5, "offset": 10})
    assert (query.start_ms, query.end_ms) == (workload.START_MS, workload.START_MS + 5 * 86_400_000)
    assert query.filter == Logical("and", (
        Condition("is", "visit:country", ("US",)),
        Logical("or", (Condition("contains", "event:page", ("/blog",), case_sensitive=False),
                       Logical("not", (Condition("matches", "event:props:plan", ("^pro",)),)))),
    ))
    assert (query.order_by, query.limit, query.offset) == ((("visits", "desc"),), 5, 10)
    with pytest.raises(AttributeError):
        query.site = "beta"


@pytest.mark.parametrize(("change", "field", "named"), [
    ({"metrics": ["visitors", "sessions"]}, "metrics", "'sessions'"),
    ({"dimensions": ["visit:city"]}, "dimensions", "'visit:city'"),
    ({"dimensions": ["event:props:bad key"]}, "dimensions", "'event:props:bad key'"),
    ({"filters": [["equals", "visit:country", ["US"]]]}, "filters[0]", "'equals'"),
    ({"filters": [["and", [["is", "visit:planet", ["x"]]]]]}, "filters[0][1][0]", "'visit:planet'"),
    ({"filters": [["is", "time:day", ["2026-11-01"]]]}, "filters[0]", "'time:day'"),
    ({"filters": [["matches", "event:page", ["(unclosed"]]]}, "filters[0]", "'(unclosed'"),
    ({"filters": [["is", "visit:country", [3]]]}, "filters[0]", "strings"),
    ({"filters": [["is", "visit:country", ["US"], {"case_sensitve": False}]]}, "filters[0]", "case_sensitive"),
    ({"order_by": [["pageviews", "desc"]]}, "order_by", "'pageviews'"),
    ({"compare": "previous_period"}, "compare", "unknown field"),
    ({"site": "Alpha!"}, "site", "site id"),
    ({"date_range": ["2026-11-05", "2026-11-01"]}, "date_range", "ends before"),
    ({"date_range": ["2026-11-01", "yesterday"]}, "date_range", "YYYY-MM-DD"),
    ({"limit": 0}, "limit", "from 1"),
])
def test_a_bad_request_is_a_400_naming_the_offending_part(change, field, named):
    request = {**BASE, **change}
    with pytest.raises(QueryError) as caught:
        parse_query(request)
    assert caught.value.field == field and named in str(caught.value)
    answered = answer(request, MemoryLakeObjects(), SETTINGS, Metrics("test", lambda line: None))
    assert answered["status"] == 400
    assert answered["error"]["code"] == "invalid_query" and answered["error"]["field"] == field


def test_an_unknown_site_is_a_400():
    answered = answer({**BASE, "site": "beta"}, MemoryLakeObjects(), SETTINGS, Metrics("test", lambda line: None))
    assert answered["status"] == 400 and "unknown site 'beta'" in answered["error"]["message"]


HOSTILE = ["x' OR '1'='1", "'); DROP TABLE events; --", "\\' OR 1=1 --", "US\" OR \"1\"=\"1", "%", "_"]


@pytest.mark.parametrize("dialect", ["duckdb", "trino"])
def test_a_filter_value_is_one_string_literal_in_both_dialects(dialect):
    query = parse_query({**BASE, "filters": [["is", "visit:country", HOSTILE],
                                             ["contains", "event:page", HOSTILE, {"case_sensitive": False}]]})
    text = build(query, Scan("alpha", "2026-10-31", "2026-11-06")).sql(dialect=dialect)
    literals = {lit.this for lit in sqlglot.parse_one(text, read=dialect).find_all(exp.Literal) if lit.is_string}
    assert set(HOSTILE) <= literals
    assert len(sqlglot.parse(text, read=dialect)) == 1  # one statement, whatever the values say


def test_hostile_values_match_nothing_and_break_nothing(tmp_path):
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, workload.events(visitors_per_site=20))
    cache = LakeCache(str(tmp_path))
    for operator in ("is", "contains", "is_not"):
        answered = answer({**BASE, "metrics": ["visitors", "pageviews"],
                           "filters": [[operator, "visit:country", HOSTILE]]}, objects, SETTINGS,
                          Metrics("test", lambda line: None), cache=cache)
        everyone = answer({**BASE, "metrics": ["visitors", "pageviews"]}, objects, SETTINGS,
                          Metrics("test", lambda line: None), cache=cache)
        expected = everyone["results"][0]["metrics"] if operator == "is_not" else [0, 0]
        assert answered["results"][0]["metrics"] == expected


def test_pages_of_a_breakdown_follow_the_order_without_overlap(tmp_path):
    objects = MemoryLakeObjects()
    workload.write_stream_layout(objects, workload.events(visitors_per_site=40))
    cache = LakeCache(str(tmp_path))

    def ask(**extra):
        request = {**BASE, "metrics": ["visitors", "pageviews"], "dimensions": ["event:page", "visit:country"],
                   **extra}
        return answer(request, objects, SETTINGS, Metrics("test", lambda line: None), cache=cache)["results"]

    everything = ask()
    keys = [(-r["metrics"][0], *[(d is None, d or "") for d in r["dimensions"]]) for r in everything]
    assert keys == sorted(keys)  # the first metric descending, then the dimensions ascending, nulls last
    pages = [ask(limit=7, offset=offset) for offset in range(0, len(everything), 7)]
    assert [r for page in pages for r in page] == everything
    by_page = ask(order_by=[["event:page", "asc"], ["visitors", "asc"]])
    assert [r["dimensions"][0] for r in by_page] == sorted(r["dimensions"][0] for r in everything)

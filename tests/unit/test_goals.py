"""Goals: strict validation at load (a SettingsError naming the site and the goal), Plausible's page
wildcard (`*` any characters, `/` included: plausible/docs pageview-goals.md "/blog*" groups every blog
post), the lake request's goal rules, and Plausible's revenue shape."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.goals import Goal, event_converts, page_matches, page_regex, parse_goals, revenue_json
from chalicelib.core.settings import SettingsError, parse_sites
from chalicelib.query.description import QueryError, parse_query

GOALS = [{"name": "Signup", "event": "signup"}, {"name": "Visit /pricing", "page": "/pricing*"},
         {"name": "Pro plan", "event": "signup", "props": {"plan": "pro"}, "currency": "USD"}]


def test_the_sites_configuration_carries_goals():
    sites = parse_sites(json.dumps({"demo": {"origins": [], "goals": GOALS}, "other": {"origins": []}}))
    assert sites["demo"].goals == (Goal("Signup", event="signup"), Goal("Visit /pricing", page="/pricing*"),
                                   Goal("Pro plan", event="signup", props=(("plan", "pro"),), currency="USD"))
    assert sites["other"].goals == ()
    assert [g.as_json() for g in sites["demo"].goals] == GOALS


@pytest.mark.parametrize("goals, words", [
    ("Signup", "demo.goals must be a list"),
    ([{"event": "signup"}], "demo.goals[0].name: must be a non-empty text"),
    ([{"name": "A", "event": "a"}, {"name": "A", "page": "/"}], "demo.goals[1] 'A': a goal of that name comes before"),
    ([{"name": "Both", "event": "a", "page": "/"}], "demo.goals[0] 'Both': give exactly one of event"),
    ([{"name": "None"}], "demo.goals[0] 'None': give exactly one of event"),
    ([{"name": "Page", "page": "pricing"}], "demo.goals[0] 'Page'.page: must be a page path starting with '/'"),
    ([{"name": "Cur", "event": "buy", "currency": "usd"}], "demo.goals[0] 'Cur'.currency: must be an ISO 4217"),
    ([{"name": "Cur", "event": "buy", "currency": "US"}], "'Cur'.currency"),
    ([{"name": "Props", "event": "buy", "props": {"plan": 3}}], "'Props'.props: 'plan' must be a property name"),
    ([{"name": "Props", "event": "buy", "props": ["plan"]}], "'Props'.props: must be an object"),
    ([{"name": "PageRev", "page": "/x", "currency": "EUR"}], "'PageRev': props and currency belong to event goals"),
    ([{"name": "Typo", "evnt": "buy"}], "demo.goals[0] 'Typo': unknown field 'evnt'"),
    ([{"name": "E", "event": ""}], "'E'.event: must be an event name"),
    (["Signup"], "demo.goals[0]: must be an object"),
])
def test_a_malformed_goal_stops_the_load_naming_the_site_and_goal(goals, words):
    with pytest.raises(SettingsError) as raised:
        parse_sites(json.dumps({"demo": {"origins": [], "goals": goals}}))
    assert str(raised.value).startswith("LIVEINSIGHT_SITES: demo.goals")
    assert words in str(raised.value)


@pytest.mark.parametrize("pattern, path, hit", [
    ("/pricing", "/pricing", True), ("/pricing", "/pricing/", False), ("/pricing", "/Pricing", False),
    ("/blog*", "/blog", True), ("/blog*", "/blog/post/one", True), ("/blog*", "/blogs", True),
    ("/blog*", "/a/blog", False), ("/checkout/order-received/*", "/checkout/order-received/42", True),
    ("/checkout/order-received/*", "/checkout/order-received", False), ("/*/edit", "/posts/7/edit", True),
    ("/a.b", "/axb", False), ("/a.b", "/a.b", True), ("/(x)+[y]?", "/(x)+[y]?", True), ("/(x)+[y]?", "/x", False),
    ("/price$", "/price$", True), ("/*", "/", True),
])
def test_page_patterns_are_plausibles_wildcards_with_everything_else_literal(pattern, path, hit):
    assert page_matches(pattern, path) is hit
    assert page_regex(pattern).startswith("^") and page_regex(pattern).endswith("$")


def test_event_goals_match_the_name_and_every_property():
    signup, pro = Goal("Signup", event="signup"), Goal("Pro", event="signup", props=(("plan", "pro"),))
    assert event_converts(signup, {"event_type": "signup", "properties": {"plan": "free"}})
    assert not event_converts(pro, {"event_type": "signup", "properties": {"plan": "Pro"}})  # exact values
    assert event_converts(pro, {"event_type": "signup", "properties": {"plan": "pro", "x": "1"}})
    assert not event_converts(signup, {"event_type": "Signup"})
    page = Goal("P", page="/pricing*")
    assert event_converts(page, {"event_type": "page_view", "page_path": "/pricing/teams"})
    assert not event_converts(page, {"event_type": "signup", "page_path": "/pricing"})  # page views only


def request(**changes) -> dict:
    return {"site": "demo", "date_range": ["2026-11-01", "2026-11-02"], "metrics": ["visitors"], "goals": GOALS,
            **changes}


@pytest.mark.parametrize("changes, field, words", [
    ({"metrics": ["conversion_rate"]}, "metrics", "conversion_rate needs an event:goal dimension or filter"),
    ({"metrics": ["total_revenue"], "dimensions": ["event:page"]}, "metrics", "total_revenue needs an event:goal"),
    ({"dimensions": ["event:goal"], "goals": []}, "dimensions", "this site has none configured"),
    ({"filters": [["is", "event:goal", ["Nope"]]]}, "filters", "'Nope' is not a goal of this site"),
    ({"filters": [["matches", "event:goal", ["Sign("]]]}, "filters[0]", "is not a regular expression"),
    ({"filters": [["or", [["is", "event:goal", ["Nope"]], ["is", "visit:country", ["US"]]]]]}, "filters",
     "'Nope' is not a goal of this site"),
    ({"metrics": ["scroll_depth"], "filters": [["not", ["is", "event:page", ["/"]]]]}, "metrics",
     "scroll_depth needs an event:page dimension or a top-level event:page filter"),
    ({"metrics": ["time_on_page"], "dimensions": ["visit:source"]}, "metrics", "time_on_page needs an event:page"),
    ({"goals": [{"name": "x", "event": "y", "currency": "eur"}]}, "goals", "goals[0] 'x'.currency"),
    ({"goals": "Signup"}, "goals", "goals must be a list"),
])
def test_the_lake_request_refuses_goal_misuse_naming_the_part(changes, field, words):
    with pytest.raises(QueryError) as raised:
        parse_query(request(**changes))
    assert raised.value.field == field and words in str(raised.value)


def test_the_lake_request_accepts_goals_in_plausibles_ways():
    by_goal = parse_query(request(metrics=["visitors", "conversion_rate", "group_conversion_rate", "total_revenue",
                                           "average_revenue"], dimensions=["event:goal", "visit:source"]))
    assert by_goal.goal("Pro plan").currency == "USD"
    filtered = parse_query(request(metrics=["conversion_rate"], filters=[["is_not", "event:goal", ["Signup"]]]))
    assert filtered.filter.dimension == "event:goal"
    nested = parse_query(request(metrics=["conversion_rate"], filters=[
        ["or", [["contains", "event:goal", ["sign"], {"case_sensitive": False}], ["is", "visit:country", ["US"]]]]]))
    assert nested.filter.operator == "or"


def test_goal_filters_select_goals_by_name_as_plausible():
    from chalicelib.query.description import Condition, goals_named
    goals = parse_goals(GOALS)
    assert goals_named(Condition("contains", "event:goal", ("Sign",)), goals) == tuple(
        g.name for g in goals if "Sign" in g.name)
    assert goals_named(Condition("contains", "event:goal", ("sign",), case_sensitive=False), goals) == tuple(
        g.name for g in goals if "sign" in g.name.lower())
    assert goals_named(Condition("matches_not", "event:goal", ("^S",)), goals) == tuple(
        g.name for g in goals if g.name.startswith("S"))  # the positive set: the builder negates it


def test_revenue_in_plausibles_shape():
    # plausible/docs src/js/apiv2-examples/revenue-metrics-response.json
    assert revenue_json({"value": 96336315, "currency": "USD"}) == {
        "short": "$96.3M", "long": "$96,336,315.00", "value": 96336315, "currency": "USD"}
    assert revenue_json({"value": 500.2, "currency": "EUR"})["long"] == "€500.20"
    assert revenue_json({"value": 1500, "currency": "CHF"})["short"] == "CHF\u00a01.5K"
    assert revenue_json(None) is None

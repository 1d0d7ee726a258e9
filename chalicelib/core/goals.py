"""Goals: named conversions a site configures (LIVEINSIGHT_SITES "goals"), as Plausible defines them.

A goal is either a custom event goal (`event`: the event's name, optionally `props` the event must
carry with these exact values, optionally `currency`: a revenue goal whose conversions' revenue in
that currency is summed) or a page goal (`page`: a page path where `*` matches any characters,
`/` included, as Plausible's pageview goals: `/blog*` is /blog and every page under it).

The same validation serves the settings (at load) and the lake query request (the API puts the
site's goals into the request it builds): goals travel as data, never as SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_GOALS = 100
MAX_NAME_CHARS = 120
MAX_PROPS = 10
_CURRENCY = re.compile(r"^[A-Z]{3}$")
PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # a custom property's name: in events, goals and site settings
_GOAL_KEYS = {"name", "event", "page", "props", "currency"}
_REGEX_SPECIAL = set(r"\.^$|?*+()[]{}")


class GoalError(ValueError):
    """A goal is malformed; the message names the goal (by its position and name) and the field."""


@dataclass(frozen=True)
class Goal:
    name: str
    event: str | None = None
    page: str | None = None
    props: tuple[tuple[str, str], ...] = field(default=())
    currency: str | None = None

    def as_json(self) -> dict:
        out: dict = {"name": self.name}
        if self.event is not None:
            out["event"] = self.event
        if self.page is not None:
            out["page"] = self.page
        if self.props:
            out["props"] = dict(self.props)
        if self.currency is not None:
            out["currency"] = self.currency
        return out


def page_regex(pattern: str) -> str:
    """The anchored regular expression of a page goal: `*` is any run of characters, everything else
    itself (escaped; the same text is valid RE2 for DuckDB and a Java regex for Athena)."""
    escaped = "".join("\\" + c if c in _REGEX_SPECIAL else c for c in pattern)
    return "^" + escaped.replace("\\*", ".*") + "$"


def page_matches(pattern: str, path: str | None) -> bool:
    return path is not None and re.fullmatch(page_regex(pattern)[1:-1], path, re.DOTALL) is not None


def parse_goals(raw: object) -> tuple[Goal, ...]:
    """The goals of a JSON list, or GoalError naming the goal and what is wrong with it."""
    if not isinstance(raw, list):
        raise GoalError("goals must be a list of goals")
    if len(raw) > MAX_GOALS:
        raise GoalError(f"goals: at most {MAX_GOALS} goals")
    goals = tuple(_goal(item, i) for i, item in enumerate(raw))
    names = [g.name for g in goals]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise GoalError(f"goals[{i}] {name!r}: a goal of that name comes before it (names are unique)")
    return goals


def _goal(raw: object, index: int) -> Goal:
    where = f"goals[{index}]"
    if not isinstance(raw, dict):
        raise GoalError(f"{where}: must be an object like {{\"name\": \"Signup\", \"event\": \"signup\"}}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise GoalError(f"{where}.name: must be a non-empty text of at most {MAX_NAME_CHARS} characters")
    where = f"{where} {name!r}"
    unknown = sorted(set(raw) - _GOAL_KEYS)
    if unknown:
        raise GoalError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_GOAL_KEYS))})")
    event, page = raw.get("event"), raw.get("page")
    if (event is None) == (page is None):
        raise GoalError(f"{where}: give exactly one of event (a custom event's name) or page (a page path)")
    if event is not None and (not isinstance(event, str) or not 1 <= len(event) <= 200):
        raise GoalError(f"{where}.event: must be an event name of 1-200 characters")
    if page is not None and (not isinstance(page, str) or not page.startswith("/") or len(page) > 2000):
        raise GoalError(f"{where}.page: must be a page path starting with '/' ('*' matches any characters)")
    props = _props(raw.get("props", {}), where)
    currency = raw.get("currency")
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.match(currency)):
        raise GoalError(f"{where}.currency: must be an ISO 4217 code in capitals like \"USD\", got {currency!r}")
    if page is not None and (props or currency is not None):
        raise GoalError(f"{where}: props and currency belong to event goals, not page goals")
    return Goal(name=name, event=event, page=page, props=props, currency=currency)


def _props(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or len(raw) > MAX_PROPS:
        raise GoalError(f"{where}.props: must be an object of at most {MAX_PROPS} property names and text values")
    for key, value in raw.items():
        if not PROPERTY_KEY.match(key) or not isinstance(value, str) or len(value) > 1000:
            raise GoalError(f"{where}.props: {key!r} must be a property name (letters, digits, _ . : -) with a "
                            "text value of at most 1,000 characters")
    return tuple(sorted(raw.items()))


def event_converts(goal: Goal, event: dict) -> bool:
    """Plain-Python: whether an event (lake row as a dict) is a conversion of the goal."""
    if goal.page is not None:
        return event.get("event_type") == "page_view" and page_matches(goal.page, event.get("page_path"))
    props = event.get("properties") or {}
    return event.get("event_type") == goal.event and all(props.get(k) == v for k, v in goal.props)


# Currency symbols in Plausible's (CLDR's, en) formatting; any other currency is written with its code.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "CN¥", "CAD": "CA$", "AUD": "A$",
            "NZD": "NZ$", "BRL": "R$", "MXN": "MX$", "KRW": "₩", "ILS": "₪", "VND": "₫", "HKD": "HK$", "TWD": "NT$"}
_STEPS = ((1_000_000_000_000, "T"), (1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))


def revenue_json(metric: dict | None) -> dict | None:
    """A lake revenue metric ({"value", "currency"}) in Plausible's shape: value, currency, long
    ("$96,336,315.00") and short ("$96.3M": one decimal from a thousand up)."""
    if metric is None:
        return None
    value, currency = metric["value"], metric["currency"]
    symbol = _SYMBOLS.get(currency, currency + "\u00a0")
    sign = "-" if value < 0 else ""
    size = abs(value)
    short = next((f"{sign}{symbol}{size / step:.1f}{suffix}" for step, suffix in _STEPS if size >= step),
                 f"{sign}{symbol}{size:,.2f}")
    return {"short": short, "long": f"{sign}{symbol}{size:,.2f}", "value": value, "currency": currency}

"""The small sqlglot terms every part of the lake query is written in (quoted columns, string
literals, timestamps, counts): one spelling, so the SQL of every module prints alike."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlglot import exp

from chalicelib.sessions.model import PAGE_VIEW


def timestamp(ms: int) -> exp.Expression:
    text = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP"))


def string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def count_if(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.If(this=condition, true=exp.Literal.number(1), false=exp.Literal.number(0)))


def is_page_view(table: str | None = None) -> exp.Expression:
    return exp.EQ(this=col("event_type", table), expression=string(PAGE_VIEW))


def any_of(tests: list[exp.Expression]) -> exp.Expression:
    return tests[0] if len(tests) == 1 else exp.paren(exp.or_(*tests), copy=False)

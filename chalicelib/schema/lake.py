"""The event lake's one schema: the Parquet files' columns, the query engines' types, the Glue table
in Terraform (`python -m chalicelib.schema.lake > terraform/lake_schema.json`) and docs/lake.md.

A lake row is a stored event (enrich.record.event_record plus the session id the sessionizer adds),
flattened to typed columns. `site` and `date` are partitions: they are in the object's path
(`events/site=<site>/date=<YYYY-MM-DD>/...`, Hive style, as Athena's partition projection reads it),
never inside the files.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

# Logical types, each spelled for the engines that read it.
STRING, BIGINT, INTEGER, TIMESTAMP, DECIMAL, STRING_MAP = (
    "string", "bigint", "integer", "timestamp", "decimal", "map<string,string>")
_DUCKDB = {STRING: "VARCHAR", BIGINT: "BIGINT", INTEGER: "INTEGER", TIMESTAMP: "TIMESTAMP",
           DECIMAL: "DECIMAL(18,4)", STRING_MAP: "MAP(VARCHAR, VARCHAR)"}
_GLUE = {STRING: "string", BIGINT: "bigint", INTEGER: "int", TIMESTAMP: "timestamp",
         DECIMAL: "decimal(18,4)", STRING_MAP: "map<string,string>"}
REVENUE_SCALE = 4  # decimal places of revenue_amount (DECIMAL(18,4): up to 99,999,999,999,999.9999)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    required: bool = False  # every row has a value

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB[self.type]

    @property
    def glue_type(self) -> str:
        return _GLUE[self.type]


COLUMNS: tuple[Column, ...] = (
    Column("event_id", STRING, "The event's id (client-made UUID or server-made): the identity of de-duplication.",
           required=True),
    Column("event_type", STRING, "page_view, engagement, outbound_click or a custom event name.", required=True),
    Column("time", TIMESTAMP, "When the event happened (UTC): the client's time unless implausible.", required=True),
    Column("received_time", TIMESTAMP, "When the collector received it (UTC).", required=True),
    Column("session_id", STRING, "The visit it belongs to (GET /sessions/{id}).", required=True),
    Column("visitor_id", STRING, "Cookieless daily hash, or the user_id the site set.", required=True),
    Column("user_id", STRING, "The site's own id of a signed-in user, if it set one."),
    Column("page_url", STRING, "The page's full URL."),
    Column("page_host", STRING, "The page URL's host name."),
    Column("page_path", STRING, "The page URL's path."),
    Column("title", STRING, "The page's title."),
    Column("referrer", STRING, "The referring URL."),
    Column("referrer_host", STRING, "The referrer's host name."),
    Column("source", STRING, "Where the visit came from, by name (Google, Facebook, a referring host)."),
    Column("channel", STRING, "GA4 default channel group (Direct, Organic Search, ...)."),
    Column("utm_source", STRING, "utm_source of the page URL."),
    Column("utm_medium", STRING, "utm_medium of the page URL."),
    Column("utm_campaign", STRING, "utm_campaign of the page URL."),
    Column("utm_term", STRING, "utm_term of the page URL."),
    Column("utm_content", STRING, "utm_content of the page URL."),
    Column("browser", STRING, "Browser family."),
    Column("browser_version", STRING, "Browser major version."),
    Column("os", STRING, "Operating system family."),
    Column("os_version", STRING, "Operating system version."),
    Column("device_type", STRING, "desktop, mobile, tablet, tv, console, car, wearable, other or unknown."),
    Column("country", STRING, "ISO 3166-1 alpha-2 country from CloudFront's header."),
    Column("properties", STRING_MAP, "Custom properties; every value as text (true/false, numbers as sent)."),
    Column("engaged_ms", BIGINT, "Engagement events: visible time on the page in milliseconds."),
    Column("scroll_pct", INTEGER, "Engagement events: deepest scroll, percent of the page."),
    Column("revenue_amount", DECIMAL, "Revenue of the event, in revenue_currency."),
    Column("revenue_currency", STRING, "ISO 4217 code of revenue_amount."),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
BY_NAME = {c.name: c for c in COLUMNS}

# Partitions: part of each object's key, not of its rows.
PARTITION_KEYS: tuple[Column, ...] = (
    Column("site", STRING, "The site id (LIVEINSIGHT_SITES).", required=True),
    Column("date", STRING, "UTC date of `time`, YYYY-MM-DD.", required=True),
)
PARTITION_DATE_FORMAT = "%Y-%m-%d"
EVENTS_PREFIX = "events/"  # raw events; objects under it are the only ones the query engines read
DEAD_LETTER_PREFIX = "dead-letter/"  # stream records that could not be made rows, as received


def duckdb_columns() -> dict[str, str]:
    """The `columns` argument of DuckDB's readers and the table the writer fills."""
    return {c.name: c.duckdb_type for c in COLUMNS}


def describe() -> dict:
    """The schema for Terraform's Glue table (terraform/lake_schema.json) and docs/lake.md."""
    return {
        "events_prefix": EVENTS_PREFIX,
        "columns": [{"name": c.name, "type": c.glue_type, "comment": c.description} for c in COLUMNS],
        "partition_keys": [{"name": c.name, "type": c.glue_type, "comment": c.description} for c in PARTITION_KEYS],
    }


def lake_schema_json() -> str:
    return json.dumps(describe(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(lake_schema_json())

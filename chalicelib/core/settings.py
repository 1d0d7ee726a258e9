"""Typed settings, read once from the environment so a bad value fails loudly at the first request.

Every LiveInsight setting is an environment variable; `.chalice/config.json` gives each stage its
defaults and the shell (for `make local`) or the deployment overrides them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib import __version__
from chalicelib.core.goals import PROPERTY_KEY, Goal, GoalError, parse_goals
from chalicelib.schema.tables import EVENTS, PRODUCTION_STAGE, SESSIONS, STATS

SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EVENTS_PER_MINUTE_VARIABLE = "LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE"
DEFAULT_EVENTS_PER_MINUTE_PER_SITE = 10_000
# The bounds of a site's limit of events per minute (bill protection, chalicelib/ingest/ratelimit.py).
# At most 20,000 (333 a second): a site's minute statistics are LIVEINSIGHT_STATS_SHARDS items (4),
# each one partition key, which takes at most 1,000 write units a second; a busier site needs more
# shards before a higher limit. At least 100: one full request
# (events.MAX_EVENTS_PER_REQUEST) must fit in a minute, or a full batch would be refused forever.
MIN_EVENTS_PER_MINUTE_PER_SITE = 100
MAX_EVENTS_PER_MINUTE_PER_SITE = 20_000
ORIGIN_PATTERN = re.compile(r"^https?://[^/\s]+$")
ANY_ORIGIN = "*"
MAX_SITE_PROPERTIES = 50
DEFAULT_TIMEZONE = "UTC"


class SettingsError(ValueError):
    """A setting is missing or malformed: the deployment is wrong, not the request."""


@dataclass(frozen=True)
class Site:
    site_id: str
    # Browser origins allowed to send events for this site ("*" allows any). Requests without an
    # Origin header (server-side tracking, curl) are not browser requests and are not checked.
    origins: frozenset[str] = field(default_factory=frozenset)
    # This site's own limit of events per minute ("events_per_minute" in LIVEINSIGHT_SITES); None:
    # the deployment's LIVEINSIGHT_EVENTS_PER_MINUTE_PER_SITE.
    events_per_minute: int | None = None
    # Goals ("goals" in LIVEINSIGHT_SITES; core/goals.py): conversions the Stats API v2 reports.
    goals: tuple[Goal, ...] = ()
    # The IANA time zone ("timezone" in LIVEINSIGHT_SITES) that sets what today, days and hours mean in
    # the Stats API and the dashboard. zoneinfo reads the system's tz files first and falls back to the
    # `tzdata` wheel (requirements.txt): Lambda's python3.13 runs on the Amazon Linux 2023 *minimal*
    # image, which AWS does not promise to carry /usr/share/zoneinfo (provided.al2023 shipped without it).
    timezone: str = DEFAULT_TIMEZONE
    # Custom property keys the dashboard offers ("properties" in LIVEINSIGHT_SITES), as Plausible's
    # site setting of custom properties: the Stats API answers any key; this only names the useful ones.
    properties: tuple[str, ...] = ()

    def allows_origin(self, origin: str) -> bool:
        return ANY_ORIGIN in self.origins or origin.lower().rstrip("/") in self.origins


@dataclass(frozen=True)
class Settings:
    stage: str
    sites: Mapping[str, Site]
    default_site_id: str
    event_retention_days: int
    session_timeout_seconds: int = 1800
    active_session_shards: int = 8
    expiry_budget_seconds: int = 40
    # Minute buckets per site and minute: each shard is one item, so one partition's write limit
    # (1,000 write units a second) caps a shard, not the site.
    stats_shards: int = 4
    # The time one request may spend, all its DynamoDB calls and retries included: well below API
    # Gateway's 29 s, so a stalled DynamoDB is answered 503 + Retry-After, never a gateway timeout.
    request_deadline_seconds: int = 10
    # How far behind the received time a client's `timestamp` may be (LIVEINSIGHT_MAX_EVENT_AGE_HOURS);
    # an older one is replaced by the received time (enrich/record.py). 24 h for deployments: minute
    # statistics buckets live 2 days (stats/buckets.py), and an hour recomputed from them after its
    # earlier minutes expired would lose them. The local stage allows 35 days: `make traffic` backfills.
    max_event_age_hours: int = 24
    # Bill protection: events one site may send in one minute (UTC clock minute), all Lambda
    # instances together; beyond it the collector answers 429 + Retry-After. A site may set its own.
    events_per_minute_per_site: int = DEFAULT_EVENTS_PER_MINUTE_PER_SITE
    # The bearer token of the read API (sessions, stats, dashboard). Empty: the read API is closed.
    api_token: str = field(default="", repr=False)
    version: str = __version__
    # The event lake (docs/lake.md): its bucket; a query that would read more than
    # `lake_embedded_limit_bytes` of Parquet goes to Athena instead of the query function's DuckDB.
    lake_bucket: str = ""
    lake_embedded_limit_bytes: int = 2_000_000_000
    athena_workgroup: str = ""
    athena_database: str = ""
    # The functions with the lake's engine the API function hands work to (deployment sets them);
    # empty: the work runs in the API's own process (make local, tests).
    query_function: str = ""
    erase_function: str = ""
    # The country database (enrich/geo.py) for requests without CloudFront's country header: the
    # collector's HTTP API. Empty: no lookup.
    country_database: str = ""

    @property
    def metrics_environment(self) -> str:
        """The EMF `Environment` dimension: the operations guide's `Production` for prod."""
        return "Production" if self.stage == PRODUCTION_STAGE else self.stage

    @property
    def events_table(self) -> str:
        return EVENTS.name(self.stage)

    @property
    def sessions_table(self) -> str:
        return SESSIONS.name(self.stage)

    @property
    def stats_table(self) -> str:
        return STATS.name(self.stage)

    @property
    def max_event_age_ms(self) -> int:
        return self.max_event_age_hours * 3_600_000

    @property
    def event_retention_seconds(self) -> int:
        return self.event_retention_days * 86_400

    def events_per_minute(self, site_id: str) -> int:
        """The limit of events per minute of one site: its own, else the deployment's."""
        site = self.sites.get(site_id)
        own = site.events_per_minute if site else None
        return self.events_per_minute_per_site if own is None else own

    def origin_allowed_anywhere(self, origin: str) -> bool:
        return any(site.allows_origin(origin) for site in self.sites.values())


def parse_sites(raw: str) -> dict[str, Site]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"LIVEINSIGHT_SITES is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise SettingsError('LIVEINSIGHT_SITES must be a JSON object such as {"demo": {"origins": []}}')
    sites = {}
    for site_id, conf in data.items():
        if not SITE_ID_PATTERN.match(site_id):
            raise SettingsError(
                f"LIVEINSIGHT_SITES: site id {site_id!r} must be 1-64 lower-case letters, digits, '_' or '-'"
            )
        origins = (conf or {}).get("origins", []) if isinstance(conf, dict) else None
        if not isinstance(origins, list):
            raise SettingsError(f"LIVEINSIGHT_SITES: {site_id}.origins must be a list of origins")
        for origin in origins:
            if origin != ANY_ORIGIN and not (isinstance(origin, str) and ORIGIN_PATTERN.match(origin)):
                raise SettingsError(
                    f"LIVEINSIGHT_SITES: {site_id}.origins has {origin!r}; "
                    "use scheme://host[:port] with no path, or '*'"
                )
        sites[site_id] = Site(site_id, frozenset(o.lower().rstrip("/") for o in origins),
                              _site_events_per_minute(site_id, conf), _site_goals(site_id, conf),
                              _site_timezone(site_id, conf), _site_properties(site_id, conf))
    return sites


def _site_properties(site_id: str, conf: dict) -> tuple[str, ...]:
    keys = conf.get("properties", [])
    if not isinstance(keys, list) or len(keys) > MAX_SITE_PROPERTIES or len(set(map(repr, keys))) != len(keys) \
            or not all(isinstance(k, str) and PROPERTY_KEY.match(k) for k in keys):
        raise SettingsError(f"LIVEINSIGHT_SITES: {site_id}.properties must be a list of at most {MAX_SITE_PROPERTIES} "
                            f"distinct property keys (1-64 letters, digits, '_', '.', ':' or '-'), got {keys!r:.200}")
    return tuple(keys)


def _site_timezone(site_id: str, conf: dict) -> str:
    name = conf.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(name, str) or not is_timezone(name):
        raise SettingsError(f"LIVEINSIGHT_SITES: {site_id}.timezone must be an IANA time zone name such as "
                            f"\"Europe/Berlin\" or \"UTC\", got {name!r}")
    return name


def is_timezone(name: str) -> bool:
    """Whether zoneinfo knows `name` as an IANA zone (a path, an empty name or a file it cannot read is not one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _site_goals(site_id: str, conf: dict) -> tuple[Goal, ...]:
    try:
        return parse_goals(conf.get("goals", []))
    except GoalError as exc:
        raise SettingsError(f"LIVEINSIGHT_SITES: {site_id}.{exc}") from None


def _site_events_per_minute(site_id: str, conf: dict) -> int | None:
    if "events_per_minute" not in conf:
        return None
    value = conf["events_per_minute"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"LIVEINSIGHT_SITES: {site_id}.events_per_minute must be a whole number, got {value!r}")
    return _events_per_minute_in_bounds(f"LIVEINSIGHT_SITES: {site_id}.events_per_minute", value)


def _events_per_minute_in_bounds(name: str, value: int) -> int:
    if not MIN_EVENTS_PER_MINUTE_PER_SITE <= value <= MAX_EVENTS_PER_MINUTE_PER_SITE:
        raise SettingsError(
            f"{name} must be {MIN_EVENTS_PER_MINUTE_PER_SITE:,} to {MAX_EVENTS_PER_MINUTE_PER_SITE:,} (one full "
            "request must fit; the minute statistics items are sized for at most "
            f"{MAX_EVENTS_PER_MINUTE_PER_SITE:,} events per site and minute), got {value}")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


MAX_REQUEST_DEADLINE_SECONDS = 25  # API Gateway answers 504 at 29 s; leave room for one last attempt


def _request_deadline(environ: Mapping[str, str]) -> int:
    seconds = _positive_int(environ, "LIVEINSIGHT_REQUEST_DEADLINE_SECONDS", 10)
    if seconds > MAX_REQUEST_DEADLINE_SECONDS:
        raise SettingsError(f"LIVEINSIGHT_REQUEST_DEADLINE_SECONDS must be at most {MAX_REQUEST_DEADLINE_SECONDS} "
                            f"(API Gateway gives up at 29 s), got {seconds}")
    return seconds


def _max_event_age_hours(environ: Mapping[str, str], retention_days: int) -> int:
    hours = _positive_int(environ, "LIVEINSIGHT_MAX_EVENT_AGE_HOURS", 24)
    if hours > retention_days * 24:
        raise SettingsError(f"LIVEINSIGHT_MAX_EVENT_AGE_HOURS must be at most the event retention "
                            f"({retention_days} days = {retention_days * 24} hours), got {hours}")
    return hours


def _events_per_minute_per_site(environ: Mapping[str, str]) -> int:
    value = _positive_int(environ, EVENTS_PER_MINUTE_VARIABLE, DEFAULT_EVENTS_PER_MINUTE_PER_SITE)
    return _events_per_minute_in_bounds(EVENTS_PER_MINUTE_VARIABLE, value)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    stage = env.get("LIVEINSIGHT_STAGE", "")
    if not stage:
        raise SettingsError("LIVEINSIGHT_STAGE is not set (the stage's config.json sets it)")
    sites = parse_sites(env.get("LIVEINSIGHT_SITES", '{"default": {"origins": []}}'))
    default_site_id = env.get("LIVEINSIGHT_DEFAULT_SITE") or (
        next(iter(sites)) if len(sites) == 1 else ""
    )
    if default_site_id not in sites:
        raise SettingsError(
            "LIVEINSIGHT_DEFAULT_SITE must name one of the sites in LIVEINSIGHT_SITES "
            f"({', '.join(sorted(sites))}), got {default_site_id!r}"
        )
    retention_days = _positive_int(env, "LIVEINSIGHT_EVENT_RETENTION_DAYS", 400)
    return Settings(
        stage=stage,
        sites=sites,
        default_site_id=default_site_id,
        event_retention_days=retention_days,
        max_event_age_hours=_max_event_age_hours(env, retention_days),
        session_timeout_seconds=_positive_int(env, "SESSION_TIMEOUT_SECONDS", 1800),
        active_session_shards=_positive_int(env, "LIVEINSIGHT_ACTIVE_SESSION_SHARDS", 8),
        expiry_budget_seconds=_positive_int(env, "LIVEINSIGHT_EXPIRY_BUDGET_SECONDS", 40),
        stats_shards=_positive_int(env, "LIVEINSIGHT_STATS_SHARDS", 4),
        request_deadline_seconds=_request_deadline(env),
        events_per_minute_per_site=_events_per_minute_per_site(env),
        api_token=env.get("LIVEINSIGHT_API_TOKEN", ""),
        lake_bucket=env.get("LIVEINSIGHT_LAKE_BUCKET", ""),
        lake_embedded_limit_bytes=_positive_int(env, "LIVEINSIGHT_LAKE_EMBEDDED_LIMIT_BYTES", 2_000_000_000),
        athena_workgroup=env.get("LIVEINSIGHT_ATHENA_WORKGROUP", ""),
        athena_database=env.get("LIVEINSIGHT_ATHENA_DATABASE", ""),
        query_function=env.get("LIVEINSIGHT_QUERY_FUNCTION", ""),
        erase_function=env.get("LIVEINSIGHT_ERASE_FUNCTION", ""),
        country_database=env.get("LIVEINSIGHT_COUNTRY_DB", ""),
    )

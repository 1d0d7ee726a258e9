"""Plausible's Events API (POST /api/event) and Umami's collect API (POST /api/send), spoken by LiveInsight.

A body of either dialect becomes one LiveInsight event (the fields of ingest/events.py), validated
here so a refusal names the field as the client sent it (`u`, `payload.url`); the collector then
stores it exactly as POST /events would. The collector's answer becomes the answer that dialect's
trackers expect, except that an event not stored (bot, rate limited, store down) never gets a 2xx.

Neither dialect carries an event id: every event gets a server-made one, so a resent body is a new
event (no retry de-duplication). Pure: no HTTP framework, no store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from chalicelib.core.errors import ApiError, InvalidEvent, where_sites_are_configured
from chalicelib.core.settings import ANY_ORIGIN, Settings
from chalicelib.ingest.collector import ACCEPTED, DROPPED, DUPLICATE, INVALID, IngestResult
from chalicelib.ingest.events import EVENT_TYPE_PATTERN, PAGE_VIEW, decode_body, validate_event

ENGAGEMENT = "engagement"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Translation:
    """The LiveInsight body to collect, and the client's name of each LiveInsight field (for errors)."""

    body: bytes
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    status_code: int
    code: str
    message: str
    client_field: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _bad(client_field: str, message: str, code: str = "invalid_event") -> ApiError:
    return ApiError(400, code, f"{client_field}: {message}", field=client_field)


def _bare_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def resolve_site(name: Any, client_field: str, settings: Settings) -> str:
    """A site named by its id, or by the host of one of its configured origins (www. aside)."""
    if not isinstance(name, str) or not name:
        raise _bad(client_field, "is required: the site id, or the domain of one of its origins", "missing")
    if name in settings.sites:
        return name
    host = _bare_host(name)
    matches = sorted(site.site_id for site in settings.sites.values()
                     if any(o != ANY_ORIGIN and _bare_host(urlsplit(o).hostname or "") == host for o in site.origins))
    if len(matches) > 1:
        raise _bad(client_field, f"{name!r} is an origin of sites {', '.join(matches)}: send the site id instead",
                   "ambiguous_site")
    if not matches:
        where = where_sites_are_configured(settings.stage)
        raise _bad(client_field, f"{name[:100]!r} is neither a site id nor the host of a site's origins: add "
                   f"\"https://{host[:100]}\" to the \"origins\" of its site in {where}", "unknown_site")
    return matches[0]


def _document(raw: bytes, content_type: str | None) -> dict:
    body = decode_body(raw, content_type)  # 415, 413, depth and JSON errors as POST /events answers them
    if body.enveloped:
        raise _bad("events", "is not a field of this API: send one event per request", "unknown_field")
    return body.events[0]


def _validated(event: dict, fields: dict[str, str], settings: Settings) -> Translation:
    try:
        validate_event(event, settings)
    except InvalidEvent as exc:
        raise _bad(client_name(exc.field, fields), exc.reason, exc.code) from None
    return Translation(json.dumps({"events": [event]}, separators=(",", ":")).encode(), fields)


def client_name(liveinsight_field: str, fields: dict[str, str]) -> str:
    """`properties.plan` -> `p.plan` (or `payload.data.plan`): the field as the client spelled it."""
    head, dot, rest = liveinsight_field.partition(".")
    return fields.get(head, head) + dot + rest


def _text(value: Any, client_field: str, max_chars: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise _bad(client_field, "is required", "missing")
        return None
    if not isinstance(value, str):
        raise _bad(client_field, "must be a string", "wrong_type")
    if len(value) > max_chars:
        raise _bad(client_field, f"is {len(value)} characters; at most {max_chars}", "too_long")
    return value


def _custom_name(name: str, client_field: str) -> str:
    if name in (PAGE_VIEW, ENGAGEMENT):
        raise _bad(client_field, f"{name!r} is LiveInsight's own event type; send it as this API spells it",
                   "reserved_name")
    if not EVENT_TYPE_PATTERN.fullmatch(name):
        raise _bad(client_field, f"{name!r}: LiveInsight's event names are 1-64 letters, digits, '_', '-' or '.'",
                   "invalid_format")
    return name


def _flat(value: Any, client_field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(client_field, "must be an object of scalar values", "wrong_type")
    for key, item in value.items():
        if isinstance(item, (dict, list)):
            raise _bad(f"{client_field}.{key}", "must be a string, number, boolean or null (properties are flat)",
                       "wrong_type")
    return dict(value)


def _umami_data(value: Any) -> dict:
    """Umami's event data as Umami stores it (its src/lib/data.ts flattenJSON): a nested object's keys
    joined with dots ({"cart": {"items": 2}} -> {"cart.items": 2}) and an array kept as its JSON text.
    The property rules (count, key and value lengths) then apply to the flat keys."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("payload.data", "must be an object", "wrong_type")
    flat: dict = {}

    def walk(node: dict, prefix: str) -> None:
        for key, item in node.items():
            name = f"{prefix}{key}"
            if isinstance(item, dict):
                walk(item, name + ".")
            else:
                flat[name] = json.dumps(item, separators=(",", ":")) if isinstance(item, list) else item

    walk(value, "")  # the body's nesting depth is bounded where it is decoded (decode_body)
    return flat


def _refusal(result: IngestResult, fields: dict[str, str]) -> Refusal | None:
    """None when the event was stored; else why not, with the status the answer must have."""
    statuses = result.body.get("events")
    if not isinstance(statuses, list) or len(statuses) != 1:  # a request-level error: {"error": {...}}
        error = result.body.get("error") or {}
        return Refusal(result.status_code, error.get("code", "error"), error.get("message", ""),
                       error.get("field"), dict(result.headers))
    status = statuses[0]
    if status["status"] in (ACCEPTED, DUPLICATE):
        return None
    if status["status"] == DROPPED:
        return Refusal(403, "bot", "the User-Agent is a bot's or a crawler's: the event was not stored", "User-Agent")
    if status["status"] == INVALID:
        name = client_name(status["field"], fields)
        return Refusal(400, status["code"], f"{name}: {status['reason']}", name)
    return Refusal(503, "store_unavailable", "the event was not stored; resend it shortly", None, dict(result.headers))


# Plausible's ingestion reads each field under a long and a short name (its script sends the short).
_PLAUSIBLE_FIELDS = {
    "name": "name", "n": "name", "url": "url", "u": "url", "domain": "domain", "d": "domain",
    "referrer": "referrer", "r": "referrer", "props": "props", "p": "props", "meta": "props", "m": "props",
    "revenue": "revenue", "$": "revenue", "interactive": "interactive", "i": "interactive",
    "hash_mode": "hash_mode", "h": "hash_mode", "v": "version", "w": "device_width",
    "sd": "scroll_depth", "e": "engagement_time",
}
# Plausible's built-in events, as LiveInsight's own SDK names them.
PLAUSIBLE_BUILT_INS = {"Outbound Link: Click": "outbound_click", "File Download": "file_download",
                       "Form: Submission": "form_submission"}


class Plausible:
    """POST /api/event: https://plausible.io/docs/events-api (and what @plausible-analytics/tracker sends)."""

    def translate(self, raw: bytes, content_type: str | None, settings: Settings) -> Translation:
        fields = self._fields(_document(raw, content_type))
        key = {meaning: sent for meaning, (sent, _) in fields.items()}
        value = {meaning: item for meaning, (_, item) in fields.items()}
        names = {"site": key.get("domain", "domain"), "page_url": key.get("url", "url"),
                 "referrer": key.get("referrer", "referrer"), "properties": key.get("props", "props"),
                 "revenue": key.get("revenue", "revenue"), "event_type": key.get("name", "name")}
        event: dict = {"site": resolve_site(value.get("domain"), names["site"], settings),
                       "event_type": self._event_type(value, key),
                       "page_url": _text(value.get("url"), names["page_url"], 4096, required=True)}
        referrer = _text(value.get("referrer"), names["referrer"], 4096)
        if referrer:
            event["referrer"] = referrer
        properties = {**self._props(value.get("props"), names["properties"]), **self._engagement(value, key, event)}
        if properties:
            event["properties"] = properties
        if value.get("revenue") is not None:
            event["revenue"] = value["revenue"]
        self._interactive_and_hash_mode(value, key)
        return _validated(event, names, settings)

    @staticmethod
    def _fields(document: dict) -> dict[str, tuple[str, Any]]:
        fields: dict[str, tuple[str, Any]] = {}
        for sent, item in document.items():
            meaning = _PLAUSIBLE_FIELDS.get(sent)
            if meaning is None:
                raise _bad(sent, f"is not a field of Plausible's Events API (known: {', '.join(_PLAUSIBLE_FIELDS)})",
                           "unknown_field")
            if meaning in fields:
                raise _bad(sent, f"repeats {fields[meaning][0]!r} (the same field under another name)", "repeated")
            fields[meaning] = (sent, item)
        for meaning in ("version", "device_width"):  # the tracker's own details: accepted, not kept
            item = fields.get(meaning, (meaning, 0))[1]
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise _bad(fields[meaning][0], "must be a number", "wrong_type")
        return fields

    @staticmethod
    def _event_type(value: dict, key: dict) -> str:
        client_field = key.get("name", "name")
        name = _text(value.get("name"), client_field, MAX_NAME_CHARS, required=True)
        assert name is not None
        if name == "pageview":
            return PAGE_VIEW
        if name == ENGAGEMENT:
            return ENGAGEMENT
        return PLAUSIBLE_BUILT_INS.get(name) or _custom_name(name, client_field)

    @staticmethod
    def _props(props: Any, client_field: str) -> dict:
        if isinstance(props, str):  # the older plausible-tracker sends props as JSON text
            try:
                props = json.loads(props)
            except ValueError:
                raise _bad(client_field, "is text that is not a JSON object", "malformed_json") from None
        return _flat(props, client_field)

    @staticmethod
    def _engagement(value: dict, key: dict, event: dict) -> dict:
        """Plausible's engagement event (sd: scroll depth %, e: engaged ms) is LiveInsight's own."""
        sent = {meaning: value[meaning] for meaning in ("scroll_depth", "engagement_time") if meaning in value}
        if event["event_type"] != ENGAGEMENT:
            if sent:
                raise _bad(key[next(iter(sent))], "is sent only with the engagement event", "unexpected_field")
            return {}
        for meaning, item in sent.items():
            if isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0:
                raise _bad(key[meaning], "must be a number, 0 or more", "wrong_type")
        names = {"engagement_time": "engaged_ms", "scroll_depth": "scroll_pct"}
        return {names[meaning]: item for meaning, item in sent.items()}

    @staticmethod
    def _interactive_and_hash_mode(value: dict, key: dict) -> None:
        interactive = value.get("interactive", True)
        if not isinstance(interactive, bool):
            raise _bad(key["interactive"], "must be true or false", "wrong_type")
        if not interactive:
            raise _bad(key["interactive"], "false is not supported: LiveInsight counts every custom event as "
                       "engagement (no bounce); leave it out or send true", "unsupported")
        hash_mode = value.get("hash_mode", 0)
        if hash_mode not in (0, 1) or isinstance(hash_mode, float):
            raise _bad(key["hash_mode"], "must be 0 or 1", "wrong_type")
        if hash_mode:
            raise _bad(key["hash_mode"], "1 (hash-based routing) is not supported: LiveInsight reports the path "
                       "without its #fragment", "unsupported")

    @staticmethod
    def answer(result: IngestResult, translation: Translation) -> Answer:
        refusal = _refusal(result, translation.fields)
        if refusal is None:
            return Answer(202, "ok", TEXT)
        return Plausible.refuse(refusal)

    @staticmethod
    def refuse(refusal: Refusal) -> Answer:
        """Plausible's error shape, {"errors": {field: [message]}}; a bot's event is flagged as Plausible does."""
        headers = dict(refusal.headers)
        if refusal.code == "bot":
            headers["x-plausible-dropped"] = "1"
        body = {"errors": {refusal.client_field or "request": [refusal.message]}, "code": refusal.code}
        return Answer(refusal.status_code, json.dumps(body), JSON, headers)


_UMAMI_PAYLOAD = ("website", "hostname", "url", "referrer", "title", "name", "data", "screen", "language", "id",
                  "timestamp")
# Fields of Umami's schema LiveInsight cannot honour, and why.
_UMAMI_UNSUPPORTED = {
    **dict.fromkeys(("ip", "userAgent", "browser", "os", "device"),
                    "LiveInsight takes the client from the request (its address and User-Agent header)"),
    **dict.fromkeys(("link", "pixel"), "LiveInsight has no links or pixels: send website"),
    "tag": "LiveInsight has no tags: send it as a property in data",
    **dict.fromkeys(("lcp", "inp", "cls", "fcp", "ttfb"), "LiveInsight does not collect web vitals"),
}
_UMAMI_NAMES = {"site": "payload.website", "page_url": "payload.url", "referrer": "payload.referrer",
                "title": "payload.title", "event_type": "payload.name", "properties": "payload.data",
                "user_id": "payload.id", "timestamp": "payload.timestamp"}
IDENTIFY = "identify"


class Umami:
    """POST /api/send: Umami's src/app/api/send/route.ts (and what its tracker and @umami/node send)."""

    def translate(self, raw: bytes, content_type: str | None, settings: Settings) -> Translation:
        payload, kind = self._payload(_document(raw, content_type))
        event: dict = {"site": resolve_site(payload.get("website"), "payload.website", settings)}
        event["event_type"] = self._event_type(kind, _text(payload.get("name"), "payload.name", 50))
        hostname = _text(payload.get("hostname"), "payload.hostname", 100)
        url = self._absolute(payload.get("url"), "payload.url", hostname)
        if url and hostname and _bare_host(urlsplit(url).hostname or "") != _bare_host(hostname):
            raise _bad("payload.hostname", f"{hostname!r} is not the host of payload.url", "mismatch")
        for name_, value in (("page_url", url), ("referrer", self._absolute(payload.get("referrer"), "payload.referrer",
                                                                            hostname))):
            if value:
                event[name_] = value
        for name_, key in (("title", "title"), ("user_id", "id")):
            if payload.get(key) not in (None, ""):
                event[name_] = payload[key]
        properties = _umami_data(payload.get("data"))
        if properties:
            event["properties"] = properties
        if payload.get("timestamp") is not None:
            event["timestamp"] = self._timestamp_ms(payload["timestamp"])
        for key in ("screen", "language"):  # accepted, not kept: LiveInsight reads the device from the User-Agent
            _text(payload.get(key), f"payload.{key}", 35)
        return _validated(event, _UMAMI_NAMES, settings)

    @staticmethod
    def _payload(document: dict) -> tuple[dict, str]:
        extra = sorted(set(document) - {"type", "payload"})
        if extra:
            raise _bad(extra[0], "is not a field of Umami's collect API (known: type, payload)", "unknown_field")
        kind = document.get("type")
        if kind not in ("event", IDENTIFY):
            raise _bad("type", f"must be 'event' or 'identify', got {str(kind)[:40]!r}"
                       + (" (LiveInsight does not collect web vitals)" if kind == "performance" else ""),
                       "unsupported" if kind == "performance" else "invalid_format")
        payload = document.get("payload")
        if not isinstance(payload, dict):
            raise _bad("payload", "must be an object", "wrong_type")
        for key in payload:
            if key in _UMAMI_UNSUPPORTED:
                raise _bad(f"payload.{key}", f"is not supported: {_UMAMI_UNSUPPORTED[key]}", "unsupported")
            if key not in _UMAMI_PAYLOAD:
                raise _bad(f"payload.{key}", f"is not a field of Umami's payload (known: {', '.join(_UMAMI_PAYLOAD)})",
                           "unknown_field")
        return payload, kind

    @staticmethod
    def _event_type(kind: str, name: str | None) -> str:
        if kind == IDENTIFY:
            if name is not None:
                raise _bad("payload.name", "is not sent with identify", "unexpected_field")
            return IDENTIFY
        return _custom_name(name, "payload.name") if name else PAGE_VIEW

    @staticmethod
    def _absolute(value: Any, client_field: str, hostname: str | None) -> str | None:
        """Umami takes a path for the url or referrer and completes it with the payload's hostname."""
        text = _text(value, client_field, 4096)
        if not text or urlsplit(text).scheme:
            return text
        if not text.startswith("/"):
            raise _bad(client_field, "must be an absolute URL or a path starting with '/'", "invalid_url")
        if not hostname:
            raise _bad(client_field, "is a path: send payload.hostname too, or an absolute URL", "invalid_url")
        return urljoin(f"https://{hostname}", text)

    @staticmethod
    def _timestamp_ms(value: Any) -> Any:
        """Umami's timestamp is epoch seconds (a number or digits); LiveInsight's is milliseconds."""
        if isinstance(value, str) and value.isdigit() and len(value) <= 12:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("payload.timestamp", "must be whole epoch seconds", "wrong_type")
        return value * 1000

    @staticmethod
    def answer(result: IngestResult, translation: Translation) -> Answer:
        refusal = _refusal(result, translation.fields)
        if refusal is not None:
            return Umami.refuse(refusal)
        status = result.body["events"][0]
        # No `cache` token: the tracker would send it back in x-umami-cache, which LiveInsight does not read.
        body = {"visitId": status.get("session_id"), "eventId": status.get("event_id")}
        return Answer(200, json.dumps(body), JSON)

    @staticmethod
    def refuse(refusal: Refusal) -> Answer:
        """Umami's error shape (src/lib/response.ts), with LiveInsight's code and the field at fault."""
        error: dict = {"message": refusal.message, "code": refusal.code, "status": refusal.status_code}
        if refusal.client_field:
            error["field"] = refusal.client_field
        return Answer(refusal.status_code, json.dumps({"error": error}), JSON, dict(refusal.headers))


PLAUSIBLE = Plausible()
UMAMI = Umami()


def refusal_of(error: ApiError) -> Refusal:
    return Refusal(error.status_code, error.code, error.message, error.field, dict(error.headers))

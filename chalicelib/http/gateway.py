"""The two API Gateway events the API function receives, as the one shape Chalice's handler reads.

The REST API (the dashboard, the Stats API) sends its proxy event; the collector's HTTP API
(terraform/modules/collector: the SDK's file and the ingest routes) sends payload format 1.0, the same
shape plus `"version": "1.0"`. Chalice finds the route in `requestContext.resourcePath`. For an HTTP
API that field is not promised to be the route's path (AWS's sample shows the request's path; a route
key's form has been reported), so when it is not one of the app's routes, the route is the path the
client asked for without the stage's prefix: the collector's routes are static paths, so the two agree.
"""

from __future__ import annotations

from collections.abc import Container


def as_rest_event(event: object, routes: Container[str]) -> object:
    """`event` unchanged unless it is an HTTP API's payload 1.0 whose resourcePath is not a route; then a
    copy whose resourcePath is its route."""
    if not isinstance(event, dict) or event.get("version") != "1.0":
        return event
    context = event.get("requestContext")
    if not isinstance(context, dict) or context.get("resourcePath") in routes:
        return event
    path, stage = event.get("path"), context.get("stage")
    if not isinstance(path, str):
        return event
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1:]  # a named stage's requests carry it in their path: /prod/events
    return {**event, "requestContext": {**context, "resourcePath": path}}

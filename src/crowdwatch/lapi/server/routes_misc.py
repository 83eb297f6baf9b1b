"""Health and usage metrics."""

from __future__ import annotations

import logging

from aiohttp import web

from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.server.http import json_body, json_response, require_any

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "up"})


@routes.post("/v1/usage-metrics")
async def usage_metrics(request: web.Request) -> web.Response:
    """Accepted and validated for shape; stored metrics come with the metrics work."""
    who = await require_any(request)
    doc = await json_body(request)
    if not isinstance(doc, dict):
        raise BadRequest("expected a JSON object")
    for key in ("remediation_components", "log_processors"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], list):
            raise BadRequest(f"{key}: expected a list")
    log.debug("usage metrics from %s", who)
    return json_response({"message": "ok"})

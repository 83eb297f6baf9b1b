"""Health and usage metrics."""

from __future__ import annotations

import logging

from aiohttp import web

from crowdwatch.lapi import usage
from crowdwatch.lapi.server.http import json_body, json_response, require_any, state

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "up"})


@routes.post("/v1/usage-metrics")
async def usage_metrics(request: web.Request) -> web.Response:
    """A bouncer's (X-Api-Key) or an agent's (JWT) usage report: validated, then stored."""
    who = await require_any(request)
    kind, _, name = who.partition(":")
    doc = await json_body(request)
    st = state(request)
    report = usage.parse_report(
        doc, usage.BOUNCER if kind == "bouncer" else usage.AGENT, name, st.service.clock()
    )
    await st.write(usage.store, st.service.db, report, st.service.clock())
    return json_response({"message": "ok"})

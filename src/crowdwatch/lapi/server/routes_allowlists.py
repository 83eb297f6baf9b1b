"""Allowlists (read side: list, get, check one, check many)."""

from __future__ import annotations

from aiohttp import web

from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.iprange import parse_range
from crowdwatch.lapi.server import params
from crowdwatch.lapi.server.http import json_body, json_response, require_machine, state

routes = web.RouteTableDef()

MAX_TARGETS = 10_000


@routes.get("/v1/allowlists")
async def list_allowlists(request: web.Request) -> web.Response:
    await require_machine(request)
    st = state(request)
    with_items = bool(params.boolean(request.query, "with_content", True))
    return json_response(await st.read(st.service.list_allowlists, with_items))


@routes.get("/v1/allowlists/check/{ip_or_range}")
async def check_one(request: web.Request) -> web.Response:
    await require_machine(request)
    raw = request.match_info["ip_or_range"]
    target = parse_range(raw)
    if target is None:
        raise BadRequest(f"invalid IP or range {raw[:64]!r}")
    st = state(request)
    hits = await st.read(st.service.check_allowlisted, target)
    if request.method == "HEAD":
        return web.Response(status=200 if hits else 204)
    return json_response({"allowlisted": bool(hits), "reason": hits[0][1] if hits else ""})


@routes.post("/v1/allowlists/check")
async def check_many(request: web.Request) -> web.Response:
    await require_machine(request)
    doc = await json_body(request)
    targets = doc.get("targets") if isinstance(doc, dict) else None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise BadRequest("targets: expected a list of IP addresses or ranges")
    if len(targets) > MAX_TARGETS:
        raise BadRequest(f"too many targets (at most {MAX_TARGETS})")
    st = state(request)
    results = []
    for raw in targets:
        target = parse_range(raw)
        if target is None:
            raise BadRequest(f"invalid IP or range {raw[:64]!r}")
        hits = await st.read(st.service.check_allowlisted, target)
        if hits:
            results.append({"target": raw, "allowlists": [reason for _, reason in hits]})
    return json_response({"results": results})


@routes.get("/v1/allowlists/{allowlist_name}")
async def get_allowlist(request: web.Request) -> web.Response:
    await require_machine(request)
    st = state(request)
    with_items = bool(params.boolean(request.query, "with_content", True))
    return json_response(
        await st.read(st.service.get_allowlist, request.match_info["allowlist_name"], with_items)
    )

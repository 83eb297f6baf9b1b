"""Alerts: push (decisions from profiles), search, get, delete."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

from crowdwatch.lapi import service
from crowdwatch.lapi.errors import BadRequest, NotFound
from crowdwatch.lapi.server import params
from crowdwatch.lapi.server.http import json_response, large_body, require_machine, require_trusted, state
from crowdwatch.lapi.service import AlertsBody, Payload
from crowdwatch.lapi.storage.alerts import AlertQuery

routes = web.RouteTableDef()


def alert_query(q: Mapping[str, str], now: datetime, *, for_delete: bool = False) -> AlertQuery:
    decision_origin = params.text(q, "origin") or (params.text(q, "alert_source") if for_delete else None)
    return AlertQuery(
        scope=params.text(q, "scope"),
        value=params.text(q, "value"),
        scenario=params.text(q, "scenario"),
        ip=params.ip_or_range(q),
        contains=bool(params.boolean(q, "contains", True)),
        since=params.moment(q, "since", now),
        until=params.moment(q, "until", now),
        include_simulated=for_delete or bool(params.boolean(q, "simulated", False)),
        has_active_decision=params.boolean(q, "has_active_decision"),
        decision_type=params.text(q, "decision_type"),
        origin=decision_origin,
        limit=0 if for_delete else params.integer(q, "limit", 0),
    )


def _alert_id(request: web.Request) -> int:
    raw = request.match_info["alert_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"invalid alert id {raw[:32]!r}")
    return int(raw)


@routes.post("/v1/alerts")
async def push_alerts(request: web.Request) -> web.Response:
    machine_id = await require_machine(request)
    st = state(request)
    # a small body is parsed by the writer; a large one (an import) as it arrives: its text is
    # never held whole, only its decisions (already as stored) are handed over
    body = await large_body(request, service.STREAM_PARSE_MIN, AlertsBody)
    ids = await st.push_alerts(machine_id, Payload(body.close() if isinstance(body, AlertsBody) else body))
    return json_response(ids, 201)


@routes.get("/v1/alerts")
async def search_alerts(request: web.Request) -> web.Response:
    await require_machine(request)
    st = state(request)
    query = alert_query(request.query, st.service.clock())
    return json_response(await st.read(st.service.search_alerts, query))


@routes.delete("/v1/alerts")
async def delete_alerts(request: web.Request) -> web.Response:
    await require_machine(request)
    require_trusted(request)
    st = state(request)
    query = alert_query(request.query, st.service.clock(), for_delete=True)
    n = await st.write_and_sync(st.service.delete_alerts, query)
    return json_response({"nbDeleted": str(n)})


@routes.get("/v1/alerts/{alert_id}")
async def get_alert(request: web.Request) -> web.Response:
    await require_machine(request)
    st = state(request)
    return json_response(await st.read(st.service.get_alert, _alert_id(request)))


@routes.delete("/v1/alerts/{alert_id}")
async def delete_alert(request: web.Request) -> web.Response:
    await require_machine(request)
    require_trusted(request)
    st = state(request)
    n = await st.write_and_sync(st.service.delete_alerts, AlertQuery(id=_alert_id(request)))
    if not n:
        raise NotFound("object not found")
    return json_response({"nbDeleted": str(n)})

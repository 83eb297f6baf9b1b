"""Decisions: bouncer queries and stream (from the in-memory index), cscli deletions."""

from __future__ import annotations

from aiohttp import web

from crowdwatch.lapi.decisions import DecisionFilter, json_array, json_chunks
from crowdwatch.lapi.errors import BadRequest, NotFound
from crowdwatch.lapi.server import params
from crowdwatch.lapi.server.http import (
    client_ip,
    json_response,
    raw_json,
    require_bouncer,
    require_machine,
    state,
)
from crowdwatch.lapi.storage.decisions import DecisionQuery
from crowdwatch.lapi.storage.machines import BouncerSeen

routes = web.RouteTableDef()

STREAM_DEFAULT_SCOPES = "ip,range"
STREAM_WHOLE_MAX = 5000  # decisions in a stream answer sent as one body; larger ones in pieces


@routes.get("/v1/decisions")
async def get_decisions(request: web.Request) -> web.Response:
    await require_bouncer(request)
    q = request.query
    scope = params.text(q, "scope")
    flt = DecisionFilter.from_params(
        scopes=scope,
        origins=params.text(q, "origins"),
        type_=params.text(q, "type"),
        value=params.text(q, "value"),
        scenarios_containing=params.text(q, "scenarios_containing"),
        scenarios_not_containing=params.text(q, "scenarios_not_containing"),
    )
    ip = params.ip_or_range(q)
    contains = params.boolean(q, "contains", True)
    st = state(request)
    now = st.service.clock()
    accept = flt.predicate()
    if ip is None:
        found = st.index.matching(accept, now)
    elif contains:
        found = st.index.containing(ip, accept, now)
    else:
        found = st.index.within(ip, accept, now)
    return raw_json(json_array(found, now))


@routes.get("/v1/decisions/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    bouncer = await require_bouncer(request)
    q = request.query
    flt = DecisionFilter.from_params(
        scopes=params.text(q, "scopes") or STREAM_DEFAULT_SCOPES,
        origins=params.text(q, "origins"),
        scenarios_containing=params.text(q, "scenarios_containing"),
        scenarios_not_containing=params.text(q, "scenarios_not_containing"),
    )
    startup = params.boolean(q, "startup", False)
    st = state(request)
    now = st.service.clock()
    cursor = None if startup else await st.cursor(bouncer.id)
    answer = st.index.stream(cursor, flt.predicate(), now)
    if request.method == "HEAD":  # answers like GET but delivers nothing: the cursor stays
        return raw_json(b"")
    moved = answer.cursor != cursor
    st.cursors[bouncer.id] = answer.cursor
    st.pulls[bouncer.id] = BouncerSeen(
        now, answer.cursor if moved else None, client_ip(request), request.headers.get("User-Agent", "")
    )
    if len(answer.new) + len(answer.deleted) <= STREAM_WHOLE_MAX:
        body = (
            b'{"new":' + json_array(answer.new, now) + b',"deleted":' + json_array(answer.deleted, now) + b"}"
        )
        return raw_json(body)
    # a large answer (a startup with the whole set) is sent in pieces: its full text would
    # double the server's memory for the duration of the transfer
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for key, records in ((b'{"new":[', answer.new), (b'],"deleted":[', answer.deleted)):
        await resp.write(key)
        sep = b""
        for chunk in json_chunks(records, now):
            if chunk:
                await resp.write(sep + chunk)
                sep = b","
    await resp.write(b"]}")
    await resp.write_eof()
    return resp


def _decision_query(request: web.Request) -> DecisionQuery:
    q = request.query
    return DecisionQuery(
        scope=params.text(q, "scope"),
        value=params.text(q, "value"),
        type=params.text(q, "type"),
        origin=params.text(q, "origin"),
        scenario=params.text(q, "scenario"),
        ip=params.ip_or_range(q),
        contains=bool(params.boolean(q, "contains", True)),
    )


@routes.delete("/v1/decisions")
async def delete_decisions(request: web.Request) -> web.Response:
    await require_machine(request)
    st = state(request)
    n = await st.write_and_sync(st.service.delete_decisions, _decision_query(request))
    return json_response({"nbDeleted": str(n)})


@routes.delete("/v1/decisions/{decision_id}")
async def delete_decision(request: web.Request) -> web.Response:
    await require_machine(request)
    raw = request.match_info["decision_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest(f"invalid decision id {raw[:32]!r}")
    st = state(request)
    n = await st.write_and_sync(st.service.delete_decisions, DecisionQuery(id=int(raw)))
    if not n:
        raise NotFound("decision not found")
    return json_response({"nbDeleted": str(n)})

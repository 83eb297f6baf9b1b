"""Machines: registration, login, token refresh, self-deletion, heartbeat."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from crowdwatch.lapi.auth import MAX_REFRESH, Token, TokenError
from crowdwatch.lapi.errors import BadRequest, Unauthorized
from crowdwatch.lapi.registration import auto_validate
from crowdwatch.lapi.server.http import cert_name, client_ip, json_body, json_response, require_machine, state
from crowdwatch.lapi.timefmt import format_time

routes = web.RouteTableDef()


def _str_field(doc: object, key: str, required: bool = True) -> str:
    if not isinstance(doc, dict):
        raise BadRequest("expected a JSON object")
    v = doc.get(key)
    if v is None:
        if required:
            raise BadRequest(f"{key} is required")
        return ""
    if not isinstance(v, str):
        raise BadRequest(f"{key}: expected a string")
    return v


def _token(tok: Token) -> web.Response:
    return json_response({"code": 200, "expire": format_time(tok.expire), "token": tok.token})


@routes.post("/v1/watchers")
async def register(request: web.Request) -> web.Response:
    """Register a machine (201, to be validated); with a matching ``registration_token`` from an
    allowed address it is validated at once (202, see ``lapi.registration``)."""
    doc = await json_body(request)
    machine_id, password = _str_field(doc, "machine_id"), _str_field(doc, "password")
    token = _str_field(doc, "registration_token", required=False)
    st, ip = state(request), client_ip(request)
    validated = auto_validate(st.options.auto_registration, token, ip, machine_id[:64])
    await st.write(st.service.register_machine, machine_id, password, ip, validated)
    return web.Response(status=202 if validated else 201, content_type="application/json")


@routes.post("/v1/watchers/login")
async def login(request: web.Request) -> web.Response:
    doc = await json_body(request)
    if not isinstance(doc, dict):
        raise BadRequest("expected a JSON object")
    scenarios = doc.get("scenarios") or []
    if not isinstance(scenarios, list) or not all(isinstance(s, str) for s in scenarios):
        raise BadRequest("scenarios: expected a list of strings")
    st = state(request)
    ua = request.headers.get("User-Agent", "")
    by_cert = cert_name(request, st.options.agents_allowed_ou)
    if by_cert is not None:
        return _token(await st.write(st.service.tls_login, by_cert, client_ip(request), scenarios, ua))
    machine_id, password = _str_field(doc, "machine_id"), _str_field(doc, "password")
    tok = await st.read(st.service.login, machine_id, password, scenarios, client_ip(request), ua)
    return _token(tok)


@routes.get("/v1/refresh")
async def refresh(request: web.Request) -> web.Response:
    """A new token for a valid one, or an expired one still within the refresh window."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("auth header is empty")
    st = state(request)
    now = st.service.clock()
    try:
        claims = st.service.jwt.verify(token.strip(), allow_expired=True)
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None
    if claims.orig_iat + MAX_REFRESH + timedelta(seconds=1) < now:
        raise Unauthorized("token is too old to be refreshed")
    if not await st.machine_ok(claims.machine_id):
        raise Unauthorized("machine not found or not validated")
    return _token(st.service.jwt.issue(claims.machine_id, now, claims.orig_iat))


@routes.delete("/v1/watchers/self")
async def delete_self(request: web.Request) -> web.Response:
    machine_id = await require_machine(request)
    st = state(request)
    await st.write(st.service.delete_machine, machine_id)
    st.forget_machine(machine_id)
    return web.Response(status=204)


@routes.get("/v1/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    machine_id = await require_machine(request)
    await state(request).write(state(request).service.heartbeat, machine_id)
    return web.Response(status=200, content_type="application/json")

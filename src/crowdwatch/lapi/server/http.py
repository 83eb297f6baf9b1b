"""HTTP plumbing shared by the routes: error middleware, JSON bodies, credential checks.

Every refusal is CrowdSec's JSON error shape ``{"message": "..."}``; an unexpected failure is
logged with its traceback and answered 500 with a generic message (never the traceback).
Credentials are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web

from crowdwatch.lapi.auth import TokenError
from crowdwatch.lapi.errors import BadRequest, Forbidden, LapiError, Unauthorized
from crowdwatch.lapi.server.options import cert_identity
from crowdwatch.lapi.server.state import ServerState
from crowdwatch.lapi.storage.machines import BouncerInfo

log = logging.getLogger(__name__)

STATE: web.AppKey[ServerState] = web.AppKey("lapi_state", ServerState)
MAX_BODY = 32 * 1024 * 1024
FEED_SLICE = 64 * 1024  # bytes of a large body parsed between two turns of the event loop

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LapiError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "request body too large")
    except web.HTTPException as exc:
        if exc.status >= 400:
            resp = error_response(exc.status, exc.reason or "error")
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error")


async def raw_body(request: web.Request) -> bytearray:
    """The body in one buffer, nobody else holding it (``request.read()`` would keep a copy on
    the request, and briefly two: a 100k-decision import is ~13 MB). With a Content-Length
    the buffer is allocated once at its size (growing it would copy it, twice the memory)."""
    size = request.content_length
    if size is not None and size > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)
    raw = bytearray(size or 0)
    filled = 0
    async for chunk in request.content.iter_any():
        end = filled + len(chunk)
        if end > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=end)
        if end <= len(raw):
            raw[filled:end] = chunk
        else:
            raw[filled:] = chunk
        filled = end
    del raw[filled:]
    if not raw:
        raise BadRequest("missing JSON body")
    return raw


class BodySink(Protocol):
    def feed(self, data: bytes) -> None: ...


Sink = TypeVar("Sink", bound=BodySink)


async def large_body(request: web.Request, large_from: int, sink: Callable[[], Sink]) -> bytearray | Sink:
    """A body shorter than ``large_from`` bytes whole (:func:`raw_body`), a longer one fed to
    a new ``sink`` as it arrives (neither the whole body nor anything built from it at once is
    held), :data:`FEED_SLICE` bytes at a time with a turn of the event loop after each: the
    server stays responsive while it parses. Without a Content-Length (chunked), the first
    ``large_from`` bytes are gathered to tell."""
    size = request.content_length
    if size is not None and size < large_from:
        return await raw_body(request)
    if size is not None and size > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)
    head = bytearray()
    out: Sink | None = None
    total = 0
    async for data in request.content.iter_any():
        total += len(data)
        if total > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=total)
        chunk: bytes = data
        if out is None:
            if size is None:
                head += data
                if len(head) < large_from:
                    continue
                chunk, head = bytes(head), bytearray()
            out = sink()
        for start in range(0, len(chunk), FEED_SLICE):
            out.feed(chunk[start : start + FEED_SLICE] if len(chunk) > FEED_SLICE else chunk)
            await asyncio.sleep(0)
    if out is not None:
        return out
    if not head:
        raise BadRequest("missing JSON body")
    return head


async def json_body(request: web.Request) -> Any:
    """The parsed body (the buffer is dropped once parsed)."""
    raw = await raw_body(request)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None


def state(request: web.Request) -> ServerState:
    return request.app[STATE]


def client_ip(request: web.Request) -> str:
    return state(request).options.client_ip(request.remote or "", request.headers.get("X-Forwarded-For"))


def cert_name(request: web.Request, allowed_ou: frozenset[str]) -> str | None:
    """``CN@client-ip`` of a verified client certificate whose OU is allowed (CrowdSec's naming)."""
    transport = request.transport
    ident = cert_identity(transport.get_extra_info("peercert")) if transport is not None else None
    if ident is None:
        return None
    cn, ous = ident
    if not ous & allowed_ou:
        raise Forbidden("access forbidden: certificate organisational unit not allowed")
    return f"{cn}@{client_ip(request)}"


def require_trusted(request: web.Request) -> None:
    """Admin operations: loopback and ``api.server.trusted_ips`` only."""
    ip = client_ip(request)
    if not state(request).options.is_trusted(ip):
        raise Forbidden(f"access forbidden from this IP ({ip})")


async def require_machine(request: web.Request) -> str:
    """The machine_id of a valid JWT (``Authorization: Bearer``), else 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if request.headers.get("X-Api-Key"):
            raise Unauthorized("this route is for machines (JWT), not bouncers (X-Api-Key)")
        raise Unauthorized("auth header is empty")
    st = state(request)
    try:
        claims = st.service.jwt.verify(token.strip())
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None
    if not await st.machine_ok(claims.machine_id):
        raise Unauthorized("machine not found or not validated")
    return claims.machine_id


async def require_bouncer(request: web.Request) -> BouncerInfo:
    """The bouncer of a valid ``X-Api-Key``, else 403 (CrowdSec's answer to a bad key)."""
    key = request.headers.get("X-Api-Key", "")
    if not key:
        name = cert_name(request, state(request).options.bouncers_allowed_ou)
        if name is not None:
            return await state(request).tls_bouncer(name)
        if request.headers.get("Authorization"):
            raise Forbidden("access forbidden: this route is for bouncers (X-Api-Key)")
        raise Forbidden("access forbidden")
    if len(key) > 1024:
        raise Forbidden("access forbidden")
    info = await state(request).bouncer(key)
    if info is None or info.revoked:
        raise Forbidden("access forbidden")
    return info


async def require_any(request: web.Request) -> str:
    """A bouncer or a machine (usage-metrics); returns a label of the caller."""
    if request.headers.get("X-Api-Key"):
        return "bouncer:" + (await require_bouncer(request)).name
    return "machine:" + await require_machine(request)

"""The aiohttp application and the foreground server.

aiohttp rather than an ASGI stack: its request transport exposes the TLS peer certificate
(``transport.get_extra_info("peercert")``) that mutual TLS with allowed OUs needs, which
uvicorn does not pass to the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from crowdwatch.expr.helpers.decisions import set_decision_provider
from crowdwatch.lapi.server import (
    routes_alerts,
    routes_allowlists,
    routes_decisions,
    routes_misc,
    routes_watchers,
)
from crowdwatch.lapi.server.credwatch import watch_credentials
from crowdwatch.lapi.server.http import MAX_BODY, STATE, errors_middleware
from crowdwatch.lapi.server.options import ServerOptions
from crowdwatch.lapi.server.state import ServerState
from crowdwatch.lapi.service import LapiService

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)


def build_app(
    service: LapiService, options: ServerOptions | None = None, *, registry: CollectorRegistry | None = None
) -> web.Application:
    """The LAPI as an aiohttp application; background tasks start and stop with it.
    With ``registry``, its route/decision metrics are registered there (crowdwatch.metrics)."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY)
    app[STATE] = ServerState(service, options or ServerOptions())
    if registry is not None:
        from crowdwatch.metrics.lapi import install

        install(app, registry)
    for module in (routes_watchers, routes_alerts, routes_decisions, routes_allowlists, routes_misc):
        app.router.add_routes(module.routes)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    st = app[STATE]
    set_decision_provider(st.service.count_provider())
    await st.start()
    watcher = asyncio.create_task(watch_credentials(st))
    yield
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await st.stop()
    set_decision_provider(None)


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → (host, port); ``ValueError`` if malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {listen!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve(
    service: LapiService,
    host: str,
    port: int,
    ready: asyncio.Event | None = None,
    *,
    options: ServerOptions | None = None,
    tls: ssl.SSLContext | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Serve (HTTPS with ``tls``) until SIGINT/SIGTERM or cancellation."""
    runner = web.AppRunner(
        build_app(service, options, registry=registry), access_log=None, handle_signals=False
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=tls)
    await site.start()
    log.info("LAPI listening on %s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()

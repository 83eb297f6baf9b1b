"""The ``/metrics`` endpoint and the registries the ``lapi``/``agent``/``run`` commands use.

One process, one registry, one endpoint on ``prometheus.listen_addr:listen_port``:

* ``crowdwatch lapi``: ``reg = metrics_for_lapi(cfg)``; ``serve(..., registry=reg)``
  registers the LAPI's metrics; ``with_metrics(cfg, reg, serve(...))`` runs the endpoint
  beside the server on the same event loop;
* ``crowdwatch agent``: ``reg = metrics_for_agent(runtime, cfg)`` and then either
  ``start_metrics_thread(reg, host, port)`` (no event loop) or ``with_metrics`` (asyncio);
* ``crowdwatch run``: ``reg = metrics_for_lapi(cfg)``, ``metrics_for_agent(runtime, cfg, reg)``,
  the LAPI served with ``registry=reg`` inside ``with_metrics(cfg, reg, ...)``.

Every helper returns ``None`` when ``prometheus.enabled`` is false. An endpoint that cannot
listen (e.g. the LAPI and the agent run as two processes on one machine with the same port)
is reported as a warning: the service runs on without metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

import crowdwatch
from crowdwatch.metrics.agent import AgentCollector, AgentView

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from crowdwatch.config import Config

log = logging.getLogger(__name__)

T = TypeVar("T")

PATH = "/metrics"


class _Info(Collector):
    def collect(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily("crowdwatch_info", "crowdwatch version.", labels=["version"])
        fam.add_metric([crowdwatch.__version__], 1)
        yield fam


def new_registry() -> CollectorRegistry:
    """A registry with process memory/CPU (``process_*``), ``python_info`` and ``crowdwatch_info``."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(_Info())
    return registry


def metrics_for_lapi(cfg: Config, registry: CollectorRegistry | None = None) -> CollectorRegistry | None:
    """The registry to give ``lapi.server.serve(registry=...)`` (``None``: metrics disabled)."""
    if not cfg.prometheus.enabled:
        return None
    return registry if registry is not None else new_registry()


def metrics_for_agent(
    runtime: AgentView, cfg: Config, registry: CollectorRegistry | None = None
) -> CollectorRegistry | None:
    """Register ``runtime``'s collector (``prometheus.level``) in ``registry`` (a new one by
    default) and return it; ``None`` when metrics are disabled."""
    if not cfg.prometheus.enabled:
        return None
    if registry is None:
        registry = new_registry()
    registry.register(AgentCollector(runtime, cfg.prometheus.level))
    return registry


# --- the endpoint -------------------------------------------------------------------------


class MetricsServer:
    """The endpoint served by aiohttp on the caller's event loop."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PATH}"

    async def close(self) -> None:
        await self._runner.cleanup()


def _handler(registry: CollectorRegistry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(registry)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = content_type
        return resp

    return metrics


async def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` (port 0: any free port) on the
    running event loop; raises ``OSError`` when the address cannot be bound."""
    app = web.Application()
    app.router.add_get(PATH, _handler(registry))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            bound = int(addr[1])
            break
    log.info("metrics endpoint on http://%s:%d%s", host, bound, PATH)
    return MetricsServer(runner, host, bound)


class ThreadedMetricsServer:
    """The endpoint served by prometheus_client's HTTP server in a daemon thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_thread(registry: CollectorRegistry, host: str, port: int) -> ThreadedMetricsServer:
    """Serve ``registry`` from a thread (for callers without an event loop); ``OSError`` if
    the address cannot be bound. Any path answers, ``/metrics`` included."""
    server, thread = start_http_server(port, host, registry)
    log.info("metrics endpoint on http://%s:%d%s", host, server.server_address[1], PATH)
    return ThreadedMetricsServer(server, thread, host)


def _unavailable(cfg: Config, exc: OSError) -> None:
    p = cfg.prometheus
    log.warning(
        "metrics endpoint disabled: cannot listen on %s:%d (%s)",
        p.listen_addr,
        p.listen_port,
        exc.strerror or exc,
    )


async def serve_configured(cfg: Config, registry: CollectorRegistry | None) -> MetricsServer | None:
    """:func:`serve_metrics` on ``prometheus.listen_addr:listen_port``; ``None`` when metrics
    are disabled or the port is taken (a warning is logged)."""
    if registry is None or not cfg.prometheus.enabled:
        return None
    try:
        return await serve_metrics(registry, cfg.prometheus.listen_addr, cfg.prometheus.listen_port)
    except OSError as exc:
        _unavailable(cfg, exc)
        return None


def start_configured(cfg: Config, registry: CollectorRegistry | None) -> ThreadedMetricsServer | None:
    """:func:`start_metrics_thread` on the configured address; ``None`` when disabled or busy."""
    if registry is None or not cfg.prometheus.enabled:
        return None
    try:
        return start_metrics_thread(registry, cfg.prometheus.listen_addr, cfg.prometheus.listen_port)
    except OSError as exc:
        _unavailable(cfg, exc)
        return None


async def with_metrics(cfg: Config, registry: CollectorRegistry | None, main: Awaitable[T]) -> T:
    """Await ``main`` with the configured endpoint serving ``registry`` alongside."""
    server = await serve_configured(cfg, registry)
    try:
        return await main
    finally:
        if server is not None:
            await server.close()

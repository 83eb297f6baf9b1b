"""The LAPI's metrics: requests and latency per route, active decisions, bouncers' pulls.

:func:`install` adds a middleware to the aiohttp application. Requests are counted per
*matched route* (its canonical path, ``/v1/decisions/{decision_id}``, never the raw URL:
one series per route whatever the clients send), method and status, into plain dicts on
the event loop; the latency histogram is kept the same way (bucket counts, sum, count).
Prometheus reads them at scrape time, together with the active decisions of the server's
in-memory index (per origin, type and scenario) and the bouncers' last pull.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from crowdwatch.lapi.server.http import STATE
from crowdwatch.lapi.server.state import ServerState

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (s) of the request latency histogram."""

UNMATCHED = "unmatched"
"""Route label of requests no route matched (404, 405)."""

BOUNCER_ROUTES = frozenset({"/v1/decisions", "/v1/decisions/stream"})
"""Routes whose successful GETs count as a bouncer's pull."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class LapiMetrics(Collector):
    """Counters of one LAPI application (filled by :meth:`middleware`, on the event loop)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.requests: dict[tuple[str, str, str], int] = {}  # (route, method, status) -> count
        # (route, method) -> [count per bucket (last: +Inf)..., sum of seconds]
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.bouncer_requests: dict[tuple[str, str, str], int] = {}  # (bouncer, route, method)
        self.bouncer_last_pull: dict[str, float] = {}  # bouncer name -> unix time

    # --- per request ------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's code for it)
            raise
        finally:
            self._count(request, status, time.perf_counter() - start)
            if status < 400 and request.headers.get("X-Api-Key"):
                await self._bouncer(request)

    def _count(self, request: web.Request, status: int, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else UNMATCHED
        method = request.method
        key = (route, method, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get((route, method))
        if hist is None:
            hist = self.latency[(route, method)] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        hist[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist[-1] += seconds

    async def _bouncer(self, request: web.Request) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else UNMATCHED
        if route not in BOUNCER_ROUTES:
            return
        info = await self.state.bouncer(request.headers["X-Api-Key"])  # cached by the handler's check
        if info is None:
            return
        key = (info.name, route, request.method)
        self.bouncer_requests[key] = self.bouncer_requests.get(key, 0) + 1
        self.bouncer_last_pull[info.name] = time.time()

    # --- scrape -----------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "cs_lapi_route_requests_total", "LAPI requests per route, method and status.",
            labels=["route", "method", "status"],
        )  # fmt: skip
        for (route, method, status), n in sorted(dict(self.requests).items()):
            requests.add_metric([route, method, status], n)
        yield requests
        hist = HistogramMetricFamily(
            "cs_lapi_request_duration_seconds", "LAPI request latency per route and method.",
            labels=["route", "method"],
        )  # fmt: skip
        bounds = [_le(b) for b in LATENCY_BUCKETS] + ["+Inf"]
        for (route, method), counts in sorted(dict(self.latency).items()):
            cumulative: list[tuple[str, float]] = []
            total: float = 0.0
            for le, in_bucket in zip(bounds, counts[:-1], strict=True):
                total += in_bucket
                cumulative.append((le, total))
            hist.add_metric([route, method], cumulative, sum_value=counts[-1])
        yield hist
        yield from self._decisions()
        yield from self._bouncers()

    def _decisions(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(
            "cs_active_decisions", "Active decisions per origin, type (action) and scenario (reason).",
            labels=["origin", "action", "reason"],
        )  # fmt: skip
        counts = self.state.index.active_counts(self.state.service.clock())
        for (origin, action, reason), n in sorted(counts.items()):
            fam.add_metric([origin, action, reason], n)
        yield fam

    def _bouncers(self) -> Iterator[Metric]:
        req = CounterMetricFamily(
            "cs_lapi_bouncer_requests_total", "Decision requests per bouncer, route and method.",
            labels=["bouncer", "route", "method"],
        )  # fmt: skip
        for (name, route, method), n in sorted(dict(self.bouncer_requests).items()):
            req.add_metric([name, route, method], n)
        yield req
        last = GaugeMetricFamily(
            "crowdwatch_lapi_bouncer_last_pull_timestamp_seconds",
            "When a bouncer last pulled decisions from this LAPI (unix time).",
            labels=["bouncer"],
        )
        for name, at in sorted(dict(self.bouncer_last_pull).items()):
            last.add_metric([name], at)
        yield last


METRICS = web.AppKey("crowdwatch_metrics", LapiMetrics)
"""Where :func:`install` leaves the application's :class:`LapiMetrics`."""


def _le(bound: float) -> str:
    return repr(float(bound))


def install(app: web.Application, registry: CollectorRegistry) -> LapiMetrics:
    """Count ``app``'s requests (outermost middleware, so it sees the final status) and
    register its metrics in ``registry`` until the application is cleaned up."""
    metrics = LapiMetrics(app[STATE])
    app.middlewares.insert(0, metrics.middleware)
    app[METRICS] = metrics
    registry.register(metrics)

    async def unregister(_: web.Application) -> None:
        registry.unregister(metrics)

    app.on_cleanup.append(unregister)
    return metrics

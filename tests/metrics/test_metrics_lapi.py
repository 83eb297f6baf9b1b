"""LAPI metrics scraped from a real server: route counters, latency, decisions, bouncers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from tests.lapi.helpers import BOUNCER_KEY, make_alert

from crowdwatch.config import load_config
from crowdwatch.config.schema import PrometheusSection
from crowdwatch.metrics.server import metrics_for_lapi, new_registry, serve_configured, serve_metrics

from .conftest import Lapi, value

REQ = "cs_lapi_route_requests_total"
LAT = "cs_lapi_request_duration_seconds"


def test_route_counters_move_with_requests(lapi: Lapi) -> None:
    before = lapi.samples()
    assert value(before, REQ, route="/v1/decisions", method="GET", status="200") is None
    for _ in range(3):
        assert lapi.server.call("GET", "/v1/decisions", key=BOUNCER_KEY).status == 200
    assert lapi.server.call("GET", "/v1/decisions", key="wrong-key").status == 403
    assert lapi.server.call("GET", "/v1/nowhere/12345").status == 404
    token = lapi.server.login()
    assert lapi.server.call("DELETE", "/v1/decisions/987654", token=token).status == 404

    after = lapi.samples()
    assert value(after, REQ, route="/v1/decisions", method="GET", status="200") == 3
    assert value(after, REQ, route="/v1/decisions", method="GET", status="403") == 1
    assert value(after, REQ, route="/v1/watchers/login", method="POST", status="200") == 1
    # the matched route's canonical path, never the raw URL
    assert value(after, REQ, route="/v1/decisions/{decision_id}", method="DELETE", status="404") == 1
    assert value(after, REQ, route="unmatched", method="GET", status="404") == 1
    assert not [s for s in after if "987654" in str(s.labels) or "12345" in str(s.labels)]
    # latency histogram: one observation per request, cumulative buckets
    assert value(after, LAT + "_count", route="/v1/decisions", method="GET") == 4
    assert value(after, LAT + "_bucket", route="/v1/decisions", method="GET", le="+Inf") == 4
    assert 0 < (value(after, LAT + "_sum", route="/v1/decisions", method="GET") or 0) < 10
    buckets = [s.value for s in after if s.name == LAT + "_bucket" and s.labels["route"] == "/v1/decisions"]
    assert buckets == sorted(buckets)
    # process metrics come with every registry
    assert (value(after, "process_resident_memory_bytes") or 0) > 10 << 20
    assert value(after, "crowdwatch_info", version="0.1.0") == 1


def test_active_decisions_by_origin_type_scenario(lapi: Lapi) -> None:
    token = lapi.server.login()
    alerts = [make_alert("1.2.3.4"), make_alert("5.6.7.8"), make_alert("9.9.9.9", scenario="me/other")]
    assert lapi.server.call("POST", "/v1/alerts", alerts, token=token).status == 201
    samples = lapi.samples()
    assert (
        value(samples, "cs_active_decisions", origin="crowdsec", action="ban", reason="crowdsecurity/ssh-bf")
        == 2
    )
    assert value(samples, "cs_active_decisions", origin="crowdsec", action="ban", reason="me/other") == 1
    # removing one shows at the next scrape
    assert lapi.server.call("DELETE", "/v1/decisions?ip=5.6.7.8", token=token).status == 200
    samples = lapi.samples()
    assert value(samples, "cs_active_decisions", reason="crowdsecurity/ssh-bf") == 1


def test_bouncer_pulls(lapi: Lapi) -> None:
    t0 = time.time()
    for _ in range(2):
        assert lapi.server.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).status == 200
    assert lapi.server.call("GET", "/v1/decisions/stream", key="bad").status == 403
    samples = lapi.samples()
    assert (
        value(
            samples,
            "cs_lapi_bouncer_requests_total",
            bouncer="fw",
            route="/v1/decisions/stream",
            method="GET",
        )
        == 2
    )
    last = value(samples, "crowdwatch_lapi_bouncer_last_pull_timestamp_seconds", bouncer="fw")
    assert last is not None and t0 - 1 <= last <= time.time() + 1
    assert len([s for s in samples if s.name == "cs_lapi_bouncer_requests_total"]) == 1


def test_metrics_leave_the_registry_with_the_server(lapi: Lapi) -> None:
    lapi.server.call("GET", "/v1/decisions", key=BOUNCER_KEY)
    assert value(lapi.samples(), REQ, route="/v1/decisions", method="GET", status="200") == 1
    lapi.server.stop()
    samples = lapi.samples()
    assert not [s for s in samples if s.name.startswith("cs_lapi_")]
    assert value(samples, "process_open_fds") is not None


def test_disabled_means_no_registry(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "cfg")
    assert metrics_for_lapi(cfg) is not None
    off = replace(cfg, settings=replace(cfg.settings, prometheus=PrometheusSection(enabled=False)))
    assert metrics_for_lapi(off) is None


def test_aiohttp_endpoint_and_busy_port(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry = new_registry()

    async def main() -> None:
        server = await serve_metrics(registry, "127.0.0.1", 0)
        try:
            loop = asyncio.get_running_loop()
            body = await loop.run_in_executor(
                None, lambda: urllib.request.urlopen(server.url, timeout=5).read()
            )
            assert b"process_cpu_seconds_total" in body
            # a second endpoint on the same port: a warning, and the service runs on
            cfg = load_config(tmp_path / "cfg")
            busy = replace(
                cfg,
                settings=replace(
                    cfg.settings,
                    prometheus=PrometheusSection(listen_addr="127.0.0.1", listen_port=server.port),
                ),
            )
            with caplog.at_level(logging.WARNING):
                assert await serve_configured(busy, registry) is None
            assert "metrics endpoint disabled: cannot listen on 127.0.0.1" in caplog.text
        finally:
            await server.close()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass

    asyncio.run(main())

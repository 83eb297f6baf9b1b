"""``crowdwatch metrics`` (a real subprocess) against a real endpoint: agent + LAPI metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.lapi.helpers import BOUNCER_KEY, free_port, make_alert

from crowdwatch.config import load_config
from crowdwatch.hub.loadout import open_engine
from crowdwatch.metrics.agent import AgentCollector
from crowdwatch.metrics.scrape import Sample, build

from .conftest import Lapi, scrape, value
from .test_metrics_agent import Runtime, _feed, _read_all

CLI = Path(sys.executable).with_name("crowdwatch")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(CLI), "--config-dir", str(tmp_path / "cfg"), "metrics", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _as_run(lapi: Lapi, tmp_path: Path) -> None:
    """Like ``crowdwatch run``: the agent's collector in the LAPI's registry, some traffic."""
    engine = open_engine()
    src, records = _read_all(tmp_path)
    _feed(engine, src, records)
    lapi.registry.register(AgentCollector(Runtime([src], engine, pushed=4, queued=1)))
    token = lapi.server.login()
    assert lapi.server.call("POST", "/v1/alerts", [make_alert("1.2.3.4")], token=token).status == 201
    for _ in range(5):
        assert lapi.server.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).status == 200


def test_tables_from_a_running_instance(lapi: Lapi, tmp_path: Path) -> None:
    _as_run(lapi, tmp_path)
    r = _run(tmp_path, "--url", lapi.endpoint.url)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for title in (
        "Acquisition Metrics",
        "Parser Metrics",
        "Scenario Metrics",
        "Alert Metrics",
        "Local API Decisions",
        "Local API Metrics",
        "Local API Bouncers Metrics",
    ):
        assert title in out, out
    acq = next(line for line in out.splitlines() if "auth.log" in line)
    assert acq.split()[:3] == [f"file:{tmp_path / 'auth.log'}", "syslog", "300"]
    assert any(line.split()[:1] == ["crowdwatch/ssh-bf"] for line in out.splitlines())
    route = next(line for line in out.splitlines() if line.split()[:2] == ["/v1/decisions/stream", "GET"])
    assert route.split()[2:4] == ["5", "0"]
    decision = next(line for line in out.splitlines() if line.split()[:1] == ["crowdsecurity/ssh-bf"])
    assert decision.split()[1:] == ["crowdsec", "ban", "1"]
    assert "Process: memory" in out


def test_json_output_and_default_url_from_config(lapi: Lapi, tmp_path: Path) -> None:
    _as_run(lapi, tmp_path)
    cfg = load_config(tmp_path / "cfg")
    config_file = cfg.paths.config_dir / "config.yaml"
    with config_file.open("a") as f:
        f.write(f"\nprometheus:\n  listen_addr: 0.0.0.0\n  listen_port: {lapi.endpoint.port}\n")
    r = _run(tmp_path, "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["acquisition"][0]["read"] == 300
    assert doc["alerts"]["pushed"] == 4 and doc["alerts"]["queued"] == 1
    stream = next(x for x in doc["routes"] if x["route"] == "/v1/decisions/stream")
    assert stream["requests"] == 5 and stream["avg_ms"] > 0
    assert doc["bouncers"][0]["bouncer"] == "fw" and doc["bouncers"][0]["requests"] == 5
    assert doc["process"]["resident_memory_bytes"] > 0


def test_clear_error_when_nothing_listens(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    r = _run(tmp_path, "--url", url)
    assert r.returncode == 2
    assert f"nothing listens on {url}" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    bad = _run(tmp_path, "--url", "ftp://x/metrics")
    assert bad.returncode == 2 and "invalid metrics URL" in bad.stderr
    fmt = _run(tmp_path, "-o", "yaml")
    assert fmt.returncode == 2 and "unknown output format" in fmt.stderr


def test_latency_quantiles_interpolate_like_prometheus() -> None:
    lab = {"route": "/r", "method": "GET"}
    samples = [Sample("cs_lapi_route_requests_total", {**lab, "status": "200"}, 100)]
    for le, n in (("0.001", 50), ("0.01", 90), ("0.1", 100), ("+Inf", 100)):
        samples.append(Sample("cs_lapi_request_duration_seconds_bucket", {**lab, "le": le}, n))
    samples.append(Sample("cs_lapi_request_duration_seconds_sum", lab, 0.25))
    samples.append(Sample("cs_lapi_request_duration_seconds_count", lab, 100))
    (row,) = build(samples).routes
    assert row["avg_ms"] == 2.5
    assert row["p50_ms"] == 1.0  # rank 50 is the top of the first bucket
    assert row["p95_ms"] == 55.0  # halfway through (0.01, 0.1]


def test_lapi_command_serves_metrics(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "cfg")
    api_port, metrics_port = free_port(), free_port()
    with (cfg.paths.config_dir / "config.yaml").open("a") as f:
        f.write(f"\nprometheus:\n  listen_addr: 127.0.0.1\n  listen_port: {metrics_port}\n")
    proc = subprocess.Popen(
        [str(CLI), "--config-dir", str(cfg.paths.config_dir), "lapi", "--listen", f"127.0.0.1:{api_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/health", timeout=1) as resp:
                    assert resp.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "LAPI did not start"
                time.sleep(0.1)
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert (
            value(samples, "cs_lapi_route_requests_total", route="/health", method="GET", status="200") == 1
        )
        assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err

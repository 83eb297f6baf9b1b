"""The gaps as a user meets them: ``crowdwatch lapi`` / ``run`` with ``api.server.enable: false``,
``CS_LAPI_SECRET``, auto-registration settings in config.yaml, ``bouncers delete`` against a
running LAPI process, and ``bouncers inspect`` showing usage metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.storage.alerts import AlertQuery

from .helpers import free_port
from .test_gaps_usage import rc_report

CROWDWATCH = [sys.executable, "-m", "crowdwatch.cli.main"]


def _cw(config_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CROWDWATCH, "--config-dir", str(config_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300", **(env or {})},
    )


def _config(config_dir: Path, server_extra: str = "", enable: bool = True) -> None:
    """Create the default configuration, then adjust ``api.server``."""
    assert _cw(config_dir, "bouncers", "list").returncode == 0
    path = config_dir / "config.yaml"
    text = path.read_text()
    assert "    enable: true\n" in text
    text = text.replace("    enable: true\n", f"    enable: {str(enable).lower()}\n{server_extra}")
    path.write_text(text + "prometheus:\n  enabled: false\n")


def _call(url: str, method: str, body: Any = None, **headers: str) -> int:
    req = urllib.request.Request(url, data=orjson.dumps(body) if body is not None else None, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def lapi(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A ``crowdwatch lapi`` process (SQLite) with bouncer ``fw`` and machine ``edge``."""
    cfg = tmp_path / "lapi"
    _config(cfg)
    assert _cw(cfg, "bouncers", "add", "fw", "--key", "fw-key-0123456789").returncode == 0
    assert _cw(cfg, "machines", "add", "edge", "--password", "edge-password-1").returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [*CROWDWATCH, "--config-dir", str(cfg), "lapi", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _call(url + "/health", "GET") == 200, 30, "the LAPI")
        yield cfg, url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_lapi_refuses_when_the_server_is_disabled(tmp_path: Path) -> None:
    _config(tmp_path / "cw", enable=False)
    r = _cw(tmp_path / "cw", "lapi")
    assert r.returncode == 2
    assert "api.server.enable is false" in r.stderr and "Traceback" not in r.stderr
    assert str(tmp_path / "cw" / "config.yaml") in r.stderr


def test_lapi_refuses_a_short_registration_token(tmp_path: Path) -> None:
    cfg = tmp_path / "cw"
    _config(
        cfg,
        "    auto_registration:\n      enabled: true\n      token: short-token\n      allowed_ranges: [10.0.0.0/8]\n",
    )
    r = _cw(cfg, "lapi")
    assert r.returncode == 2
    assert "api.server.auto_registration.token: at least 32 characters" in r.stderr
    assert "short-token" not in r.stderr


def test_cli_deletion_stops_a_running_lapi_at_once_and_inspect_shows_usage(lapi: tuple[Path, str]) -> None:
    cfg, url = lapi
    key = {"X-Api-Key": "fw-key-0123456789"}
    assert _call(url + "/v1/usage-metrics", "POST", rc_report(), **key) == 200
    r = _cw(cfg, "bouncers", "inspect", "fw")
    assert r.returncode == 0, r.stderr
    assert "usage_metrics: version v0.0.30 | os debian/12" in r.stdout
    assert "dropped=12 byte {origin=CAPI} /600s" in r.stdout
    doc = json.loads(_cw(cfg, "bouncers", "inspect", "fw", "-o", "json").stdout)
    assert doc["usage_metrics"]["metrics"][0]["items"][1]["name"] == "active_decisions"
    assert _call(url + "/v1/decisions/stream?startup=true", "GET", **key) == 200  # key cached
    assert _cw(cfg, "bouncers", "delete", "fw").returncode == 0
    took = _wait(lambda: _call(url + "/v1/decisions/stream", "GET", **key) == 403, 5, "the key refused")
    assert took < 1.0


def test_run_with_the_server_disabled_runs_the_agent_alone(lapi: tuple[Path, str], tmp_path: Path) -> None:
    lapi_cfg, url = lapi
    cfg = tmp_path / "edge"
    port = free_port()
    _config(cfg, enable=False)
    (cfg / "data" / "crowdwatch.db").unlink()
    text = (
        (cfg / "config.yaml")
        .read_text()
        .replace("listen_uri: 127.0.0.1:8080", f"listen_uri: 127.0.0.1:{port}")
    )
    (cfg / "config.yaml").write_text(text)
    (cfg / "local_api_credentials.yaml").write_text(f"url: {url}/\nlogin: edge\npassword: edge-password-1\n")
    log = tmp_path / "auth.log"
    log.touch()
    (cfg / "acquis.yaml").write_text(
        f"source: file\nfilenames: [{log}]\nlabels:\n  type: syslog\nstart_from: beginning\n"
    )
    assert _cw(cfg, "run", "--listen", "127.0.0.1:1").returncode == 2  # --listen: no local LAPI to place
    out = tmp_path / "run.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [*CROWDWATCH, "--config-dir", str(cfg), "run"], stdout=sink, stderr=subprocess.STDOUT
        )
    service = open_lapi(load_config(lapi_cfg, create=False))
    try:
        with open(log, "a") as f:
            f.writelines(
                f"Mar 10 08:00:02 web1 sshd[{1000 + n}]: Invalid user u{n} from 192.0.2.77 port {20000 + n}\n"
                for n in range(8)
            )

        def decided() -> bool:
            return any(r.get("decisions") for r in service.search_alerts(AlertQuery(value="192.0.2.77")))

        _wait(decided, 30, f"a decision on the remote LAPI\n{out.read_text()}")
        assert _call(f"http://127.0.0.1:{port}/health", "GET") == 0  # no LAPI of its own
        assert not (cfg / "data" / "crowdwatch.db").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, out.read_text()
        assert "running the agent alone" in out.read_text()
    finally:
        service.db.dispose()
        if proc.poll() is None:
            proc.kill()
            proc.wait()

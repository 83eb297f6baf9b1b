"""Helpers of the integration suite: crowdwatch's LAPI as a user runs it (``crowdwatch lapi``
in a subprocess, bouncers and decisions managed with the ``crowdwatch`` CLI), polling, and
finding CrowdSec's own clients."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

CROWDWATCH = [sys.executable, "-m", "crowdwatch.cli.main"]
BOUNCER_KEY = "integration-bouncer-key-0123456789"

T = TypeVar("T")


def require_binary(name: str, package: str) -> str:
    """The path of a CrowdSec binary, or skip saying which Debian package is missing."""
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{name} not found: the Debian package {package} could not be installed (see .ci/run)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float = 30.0,
    every: float = 0.1,
    log: Path | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and showing the end
    of ``log``, the client's output) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log is not None and log.is_file() else ""
            pytest.fail(
                f"timed out after {timeout:.0f}s waiting for {what}" + (f"; log:\n{tail}" if tail else "")
            )
        time.sleep(every)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time; always reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@dataclass
class Lapi:
    """A running ``crowdwatch lapi`` with its configuration directory and a bouncer key."""

    config_dir: Path
    url: str
    proc: subprocess.Popen[str]
    key: str = BOUNCER_KEY
    log: Path = field(default_factory=Path)

    def cw(self, *args: str) -> str:
        """Run the ``crowdwatch`` CLI on this LAPI's configuration; its stdout (must succeed)."""
        r = cw(self.config_dir, *args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    def add_bouncer(self, name: str) -> str:
        """Another bouncer (its own stream cursor), added with the CLI; its key."""
        key = f"{name}-key-0123456789abcdef"
        assert key in self.cw("bouncers", "add", name, "--key", key)
        return key

    def ban(self, ip: str, duration: str = "1h", reason: str = "integration test") -> None:
        assert "successfully added" in self.cw("decisions", "add", "--ip", ip, "-d", duration, "-R", reason)

    def unban(self, ip: str) -> None:
        self.cw("decisions", "delete", "--ip", ip)

    def stream(self, startup: bool = True) -> Any:
        """The decisions stream as a bouncer with ``key`` sees it (only when reachable from here)."""
        req = urllib.request.Request(
            f"{self.url}/v1/decisions/stream?startup={'true' if startup else 'false'}",
            headers={"X-Api-Key": self.key},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def cw(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CROWDWATCH, "--config-dir", str(config_dir), *args], capture_output=True, text=True, timeout=60
    )


_PROBE = """\
import sys, time, urllib.request
for _ in range(300):
    try:
        with urllib.request.urlopen(sys.argv[1] + "/health", timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
"""


@contextlib.contextmanager
def running_lapi(config_dir: Path, prefix: Sequence[str] = (), port: int | None = None) -> Iterator[Lapi]:
    """``crowdwatch lapi --listen 127.0.0.1:PORT`` on a fresh configuration directory, with a bouncer
    added by the CLI. ``prefix`` runs the server (and the readiness probe) under another command,
    e.g. ``ip netns exec NS``."""
    r = cw(config_dir, "bouncers", "add", "integration", "--key", BOUNCER_KEY)
    assert r.returncode == 0, r.stderr
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = config_dir / "lapi.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*prefix, *CROWDWATCH, "--config-dir", str(config_dir), "lapi", "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    lapi = Lapi(config_dir, url, proc, log=log)
    try:
        probe = subprocess.run([*prefix, sys.executable, "-c", _PROBE, url], timeout=30, check=False)
        if probe.returncode != 0 or proc.poll() is not None:
            pytest.fail(f"crowdwatch lapi did not come up on {url}:\n{lapi.output()[-2000:]}")
        yield lapi
    finally:
        stop_process(proc)

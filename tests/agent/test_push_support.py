"""Support of the push tests: a real ``crowdwatch lapi`` process, alerts, a server in a thread.

(No tests here; the name keeps it among the push tests' files.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crowdwatch.client.lapi import Credentials
from crowdwatch.config import load_config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.server import serve
from crowdwatch.lapi.service import LapiService

PASSWORD = "agent-password-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_alert(n: int, ip: str | None = None, **over: Any) -> dict[str, Any]:
    """An agent alert (models.Alert) numbered ``n`` (in ``message``), with a fresh uuid."""
    value = ip or f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    doc: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "scenario": "crowdsecurity/ssh-bf",
        "scenario_hash": "h",
        "scenario_version": "0.1",
        "message": f"alert {n}",
        "events_count": 6,
        "start_at": "2030-01-01T00:00:00Z",
        "stop_at": "2030-01-01T00:00:00Z",
        "capacity": 5,
        "leakspeed": "10s",
        "simulated": False,
        "remediation": True,
        "events": [{"timestamp": "2030-01-01T00:00:00Z", "meta": [{"key": "source_ip", "value": value}]}],
        "source": {"scope": "Ip", "value": value, "ip": value},
    }
    doc.update(over)
    return doc


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class LapiProcess:
    """``crowdwatch lapi`` in a subprocess on its own config dir and SQLite file; can be
    killed (SIGKILL) and started again on the same database."""

    def __init__(self, root: Path, machine: str = "agent", password: str = PASSWORD) -> None:
        self.cfg = root / "lapi-config"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "lapi.log"
        load_config(self.cfg)  # creates the default layout
        text = (self.cfg / "config.yaml").read_text().replace("log_level: info", "log_level: warning")
        (self.cfg / "config.yaml").write_text(text)
        service = open_lapi(load_config(self.cfg))  # what `crowdwatch machines add` does
        service.register_machine(machine, password, "", True)
        service.db.dispose()
        self.creds = Credentials(url=self.url + "/", login=machine, password=password)

    @property
    def db_path(self) -> Path:
        found = list((self.cfg / "data").glob("*.db"))
        assert len(found) == 1, found
        return found[0]

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "crowdwatch.cli.main",
                    "--config-dir",
                    str(self.cfg),
                    "lapi",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=out,
            )
        wait_for(self.up, 30, f"crowdwatch lapi on {self.url}")

    def up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"crowdwatch lapi exited: {self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None

    def alerts(self) -> list[tuple[str, str]]:
        """(uuid, message) of the stored alerts, in id order (read from the database file)."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            return [(u, m) for u, m in db.execute("SELECT uuid, message FROM alerts ORDER BY id")]


class ThreadServer:
    """``crowdwatch.lapi.server.serve`` for ``service`` in a thread with its own loop."""

    def __init__(self, service: LapiService) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._task = self._loop.create_task(serve(service, "127.0.0.1", self.port, ready))
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        wait_for(ready.is_set, 10, "the LAPI server thread")

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

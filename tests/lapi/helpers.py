"""Helpers of the LAPI tests: a settable clock, alert payloads, a live server in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from crowdwatch.lapi.server import serve
from crowdwatch.lapi.server.options import ServerOptions
from crowdwatch.lapi.service import LapiService

BOUNCER_KEY = "bouncer-key-0123456789"


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_alert(value: str = "1.2.3.4", scope: str = "Ip", **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "scenario": "crowdsecurity/ssh-bf",
        "scenario_hash": "h",
        "scenario_version": "0.1",
        "message": f"{scope} {value} performed 'crowdsecurity/ssh-bf'",
        "events_count": 6,
        "start_at": "2030-01-01T00:00:00Z",
        "stop_at": "2030-01-01T00:00:00Z",
        "capacity": 5,
        "leakspeed": "10s",
        "simulated": False,
        "remediation": True,
        "events": [{"timestamp": "2030-01-01T00:00:00Z", "meta": [{"key": "source_ip", "value": value}]}],
        "source": {"scope": scope, "value": value, "ip": value if scope == "Ip" else ""},
    }
    doc.update(over)
    return doc


# --- a real server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class LiveServer:
    """``crowdwatch.lapi.server.serve`` on a free port, in a thread with its own event loop."""

    def __init__(
        self,
        service: LapiService,
        options: ServerOptions | None = None,
        tls: ssl.SSLContext | None = None,
        client_tls: ssl.SSLContext | None = None,
        registry: Any = None,  # a prometheus_client CollectorRegistry for the LAPI's metrics
    ) -> None:
        self.service = service
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.client_tls = client_tls
        self._loop = asyncio.new_event_loop()
        ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._task = self._loop.create_task(
                serve(service, "127.0.0.1", self.port, ready, options=options, tls=tls, registry=registry)
            )
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self._task)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        for _ in range(200):
            if ready.is_set():
                break
            threading.Event().wait(0.02)

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        key: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if key:
            req.add_header("X-Api-Key", key)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.client_tls) as resp:
                return Reply(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), dict(exc.headers))

    def login(self, machine_id: str = "agent", password: str = "agent-password") -> str:
        r = self.call("POST", "/v1/watchers/login", {"machine_id": machine_id, "password": password})
        assert r.status == 200, r.body
        return str(r.json["token"])

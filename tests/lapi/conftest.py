"""Fixtures: a fresh database per engine (SQLite always; PostgreSQL and MariaDB/MySQL when a
server answers on 127.0.0.1), a service on it, and a real LAPI server in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, delete, text, update

from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.server import serve
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database, open_database
from crowdwatch.lapi.storage.tables import Base, Sequence, Setting

PG = DbConfigSection(
    type="postgresql", user=os.environ.get("CW_PG_USER", "postgres"), host="127.0.0.1", port=5432
)
MY = DbConfigSection(type="mysql", user="root", host="127.0.0.1", port=3306)
ENGINES = ["sqlite", "postgresql", "mysql"]


def _admin_url(cfg: DbConfigSection) -> str:
    if cfg.type == "postgresql":
        return f"postgresql+psycopg://{cfg.user}@{cfg.host}:{cfg.port}/test"
    return f"mysql+pymysql://{cfg.user}@{cfg.host}:{cfg.port}/test"


@pytest.fixture(scope="session", params=ENGINES)
def db_config(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DbConfigSection]:
    """A database created for this test session (dropped afterwards)."""
    kind = request.param
    if kind == "sqlite":
        yield DbConfigSection()
        return
    base = PG if kind == "postgresql" else MY
    admin = create_engine(_admin_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(
            f"{kind} not reachable on {base.host}:{base.port} ({type(exc).__name__}); skipping its tests"
        )
    name = f"cw_test_{secrets.token_hex(4)}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield replace(base, db_name=name)
    finally:
        with admin.connect() as c:
            if kind == "postgresql":
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def database(db_config: DbConfigSection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = open_database(db_config, tmp_path_factory.mktemp("db") / "lapi.db")
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Database:
    """The session database, emptied (schema kept, change sequence back to 0)."""
    with database.write.begin() as c:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in (Sequence.__tablename__, Setting.__tablename__):
                c.execute(delete(table))
        c.execute(update(Sequence).values(value=0))
    return database


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def service(db: Database, clock: Clock) -> LapiService:
    return LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"), clock=clock)


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

    def __init__(self, service: LapiService) -> None:
        self.service = service
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
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Reply(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read(), dict(exc.headers))

    def login(self, machine_id: str = "agent", password: str = "agent-password") -> str:
        r = self.call("POST", "/v1/watchers/login", {"machine_id": machine_id, "password": password})
        assert r.status == 200, r.body
        return str(r.json["token"])


@pytest.fixture
def live(db: Database) -> Iterator[LiveServer]:
    """A server with the default profiles, a validated machine ``agent`` and a bouncer key."""
    svc = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"))
    svc.register_machine("agent", "agent-password", "", True)
    svc.add_bouncer("fw", "bouncer-key-0123456789")
    server = LiveServer(svc)
    yield server
    server.stop()


BOUNCER_KEY = "bouncer-key-0123456789"


def write_profiles(path: Path, text_: str) -> Path:
    path.write_text(text_)
    return path

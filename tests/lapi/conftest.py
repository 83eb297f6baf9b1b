"""Fixtures: a fresh database per engine (SQLite always; PostgreSQL and MariaDB/MySQL when a
server answers on 127.0.0.1), a service on it, and a real LAPI server in a thread."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, delete, text, update

from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database, open_database
from crowdwatch.lapi.storage.tables import Base, Sequence, Setting

from .helpers import BOUNCER_KEY, Clock, LiveServer

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
    tables = [
        t
        for t in Base.metadata.sorted_tables
        if t.name not in (Sequence.__tablename__, Setting.__tablename__)
    ]
    with database.write.begin() as c:
        if database.dialect == "postgresql":
            c.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
        elif database.dialect == "sqlite":
            for table in reversed(tables):
                c.execute(delete(table))
            c.execute(text("DELETE FROM sqlite_sequence"))
        else:
            c.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in tables:
                c.execute(text(f"TRUNCATE TABLE {table.name}"))
            c.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        c.execute(update(Sequence).values(value=0))
    return database


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def service(db: Database, clock: Clock) -> LapiService:
    return LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"), clock=clock)


@pytest.fixture
def live(db: Database) -> Iterator[LiveServer]:
    """A server with the default profiles, a validated machine ``agent`` and a bouncer key."""
    svc = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"))
    svc.register_machine("agent", "agent-password", "", True)
    svc.add_bouncer("fw", BOUNCER_KEY)
    server = LiveServer(svc)
    yield server
    server.stop()

"""Opening the LAPI database: engines per ``db_config.type`` and schema migration at startup.

SQLite gets two engines on the same file: a writer and a read-only reader. In WAL mode a
reader never waits for the writer, so listing alerts or logging a bouncer in is not stalled
by a large write batch (CrowdSec's single connection pool is where its users see 12–25 s
stalls). PostgreSQL (psycopg 3) and MySQL/MariaDB (PyMySQL) use one pool for both.
"""

from __future__ import annotations

import operator
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, LargeBinary, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from crowdwatch.config.schema import DbConfigSection

BUSY_TIMEOUT_MS = 30_000
READER_CACHE_KIB = 256  # page cache of each read-only SQLite connection (SQLite's default: 2000)
WAL_AUTOCHECKPOINT_PAGES = 10_000  # ~40 MB of WAL (SQLite's default is 1000 pages)
_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_NAME = "crowdwatch_lapi_migrate"


class DatabaseError(Exception):
    """The database cannot be opened or migrated (message names the database, never the password)."""


@dataclass(frozen=True)
class Database:
    """The engines of one database: ``write`` for transactions that change data, ``read`` for
    queries (the same engine except on SQLite)."""

    write: Engine
    read: Engine
    dialect: str  # "sqlite", "postgresql" or "mysql"
    where: str  # printable location (no password)

    def dispose(self) -> None:
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def sqlite_of(conn: Connection) -> sqlite3.Connection | None:
    """The DB-API connection under ``conn`` when the database is SQLite, else ``None``.

    The hot statements of alert ingestion and of the change feed run straight on it
    (:class:`Prepared`): SQLAlchemy's per-execution work (cache key, parameter dicts, result
    wrapping) costs ~40 µs a statement, several times the statement itself. Statements run
    inside the connection's transaction, as if SQLAlchemy had sent them."""
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.driver_connection
    return raw if isinstance(raw, sqlite3.Connection) else None


def _last_memo(fn: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``fn`` remembering its last argument and result: rows of one batch share their times."""
    if fn is None:
        return None
    last: list[Any] = [None, fn(None)]

    def process(value: Any) -> Any:
        if value is not last[0] and value != last[0]:
            last[0], last[1] = value, fn(value)
        return last[1]

    return process


class Prepared:
    """A Core statement compiled once for SQLite, with its bind conversions (datetimes to
    SQLAlchemy's stored text, booleans to integers), for :func:`sqlite_of` connections."""

    __slots__ = ("_build", "_consts", "_converted", "_dialect", "_get", "names", "procs", "sql")

    def __init__(self, build: Callable[[], ClauseElement]) -> None:
        self._build = build
        self._dialect: Dialect | None = None
        self.sql = ""
        self.names: list[str] = []  # parameters in order
        self.procs: list[Callable[[Any], Any] | None] = []
        self._consts: dict[str, Any] = {}  # values bound in the statement itself (``id = 1``)
        self._converted: list[tuple[int, Callable[[Any], Any]]] = []  # (position, conversion)
        self._get: Callable[[Mapping[str, Any]], Any] = lambda row: ()

    def ready(self, dialect: Dialect) -> Prepared:
        if self._dialect is None:
            compiled = cast(SQLCompiler, self._build().compile(dialect=dialect))
            self.sql = compiled.string
            self.names = list(compiled.positiontup or [])
            binds = [compiled.binds[n] for n in self.names]
            # bytes need no conversion for sqlite3 (SQLAlchemy wraps them in a memoryview)
            self.procs = [
                None
                if isinstance(b.type, LargeBinary)
                else _last_memo(b.type.dialect_impl(dialect).bind_processor(dialect))
                for b in binds
            ]
            self._converted = [(i, p) for i, p in enumerate(self.procs) if p is not None]
            self._consts = {n: b.value for n, b in zip(self.names, binds) if not b.required}
            if len(self.names) == 1:
                name = self.names[0]
                self._get = lambda row: (row[name],)
            elif self.names:
                self._get = operator.itemgetter(*self.names)
            self._dialect = dialect
        return self

    def params(self, row: Mapping[str, Any]) -> Sequence[Any]:
        if self._consts:
            row = {**self._consts, **row}
        values = self._get(row)
        if not self._converted:
            return values
        values = list(values)
        for i, convert in self._converted:
            values[i] = convert(values[i])
        return values

    def run(self, raw: sqlite3.Connection, dialect: Dialect, row: Mapping[str, Any]) -> sqlite3.Cursor:
        self.ready(dialect)
        return raw.execute(self.sql, self.params(row))

    def run_many(self, raw: sqlite3.Connection, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> None:
        self.ready(dialect)
        raw.executemany(self.sql, [self.params(r) for r in rows])


def database_url(cfg: DbConfigSection, db_path: Path) -> URL:
    """The SQLAlchemy URL for ``cfg`` (``db_path`` is the resolved SQLite file)."""
    if cfg.type == "sqlite":
        return URL.create("sqlite+pysqlite", database=str(db_path))
    if cfg.type in ("postgresql", "postgres", "pgx"):
        query = {"sslmode": cfg.sslmode} if cfg.sslmode else {}
        return URL.create(
            "postgresql+psycopg",
            username=cfg.user or None,
            password=cfg.password or None,
            host=cfg.host or "127.0.0.1",
            port=cfg.port or 5432,
            database=cfg.db_name or "crowdsec",
            query=query,
        )
    return URL.create(
        "mysql+pymysql",
        username=cfg.user or None,
        password=cfg.password or None,
        host=cfg.host or "127.0.0.1",
        port=cfg.port or 3306,
        database=cfg.db_name or "crowdsec",
        query={"charset": "utf8mb4"},
    )


def _sqlite_engine(url: URL, *, read_only: bool, wal: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not read_only:
            cur.execute("PRAGMA auto_vacuum = INCREMENTAL")  # effective when the file is created
        if wal and not read_only:
            cur.execute("PRAGMA journal_mode = WAL")
            # a checkpoint inside a commit costs that write its fsyncs (200 ms seen): the server
            # checkpoints in the background (LapiService.checkpoint), this is the backstop
            cur.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cur.execute("PRAGMA query_only = ON")
            # bouncers are answered from memory: readers seldom reread pages, the OS caches
            # the file, and each of the pool's connections would keep up to 2 MiB of its own
            cur.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        cur.close()

    return engine


def open_database(cfg: DbConfigSection, db_path: Path, *, migrate: bool = True) -> Database:
    """Engines for the configured database, with the schema brought up to date when ``migrate``."""
    url = database_url(cfg, db_path)
    where = url.render_as_string(hide_password=True)
    if cfg.type == "sqlite":
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"{db_path}: cannot create directory: {exc.strerror or exc}") from None
        write = _sqlite_engine(url, read_only=False, wal=cfg.use_wal)
        db = Database(write, write, "sqlite", where)
    else:
        write = create_engine(url, pool_size=cfg.max_open_conns, pool_pre_ping=True, pool_recycle=3600)
        db = Database(write, write, write.dialect.name, where)
    try:
        if migrate:
            migrate_schema(db)
        if cfg.type == "sqlite":
            db = Database(write, _sqlite_engine(url, read_only=True, wal=cfg.use_wal), "sqlite", where)
    except Exception as exc:
        write.dispose()
        raise DatabaseError(f"{where}: {exc.__class__.__name__}: {_first_line(exc)}") from exc
    return db


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else ""


_REVISION = re.compile(r'^revision = "([^"]+)"', re.M)
_DOWN_REVISION = re.compile(r'^down_revision = "([^"]+)"', re.M)


def head_revision() -> str:
    """The newest revision of the shipped migrations, read from their files (the revision no
    other one builds on), without importing Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        rev = _REVISION.search(source)
        if rev:
            revisions.add(rev.group(1))
        parents.update(_DOWN_REVISION.findall(source))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else ""


def _schema_revision(db: Database) -> str | None:
    with db.write.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate_schema(db: Database) -> None:
    """Apply the Alembic migrations shipped in the package (idempotent; serialised between
    processes starting together on PostgreSQL/MySQL by a database lock). Alembic is only
    imported when the schema is behind: it would cost every LAPI process ~10 MB."""
    head = head_revision()
    if head and _schema_revision(db) == head:
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with db.write.connect() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": _LOCK_NAME})
        elif db.dialect in ("mysql", "mariadb"):
            conn.execute(text("SELECT GET_LOCK(:n, 60)"), {"n": _LOCK_NAME})
        conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": _LOCK_NAME})
            elif db.dialect in ("mysql", "mariadb"):
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
            conn.commit()

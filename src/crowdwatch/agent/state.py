"""The agent's durable state: stream positions, counters, the alert queue, bucket state.

One SQLite file (``Paths.agent_state_path``). The pipeline writes what a batch of lines
changed in ONE transaction (:meth:`AgentState.checkpoint`): the position of the last line
processed per stream, the per-stream counters and the alerts raised (appended to the queue).
A crash before the commit leaves the previous checkpoint whole.

Bucket state (``ScenarioSet.dump``) is costly to take with many buckets (seconds at 60 000),
so not every checkpoint carries one. A *full* checkpoint (``buckets`` given) also records the
positions and counters as *dump positions* and empties the ``recent`` table; a *light* one
(``buckets=None``) adds its alerts' ``(scenario, source value)`` to ``recent``. After a crash
the agent restores the dump, re-reads each stream from its dump position and, until the
streams are back at their light positions, drops the re-raised alerts that ``recent`` shows
were already queued (see ``agent.pipeline``).

The pusher reads the queue oldest first (:meth:`queue_peek`) and deletes rows only once the
LAPI acknowledged them (:meth:`queue_ack`).

Durability: WAL journal with ``synchronous=FULL``. Commits are rare (one per checkpoint
interval plus one per pushed batch), so an fsync per commit costs nothing measurable, and it
keeps "acknowledged by the LAPI" and "checkpointed" ordered even across a power loss (with
NORMAL the last checkpoint could vanish after its alerts were pushed, and they would be
raised and pushed a second time).

The queue is bounded (``crowdwatch.alert_queue_max``): :meth:`checkpoint` with alerts waits
while the queue is full, which stalls the pipeline and, through the bounded line queue, the
sources (back-pressure; nothing is dropped). A warning is logged once per stall.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS positions (
    key TEXT PRIMARY KEY,
    position TEXT,
    counters TEXT
);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data BLOB NOT NULL,
    positions TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS recent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario TEXT NOT NULL,
    value TEXT NOT NULL
);
"""


class QueueFull(Exception):
    """The on-disk alert queue stayed full for the whole wait (see :meth:`AgentState.checkpoint`)."""


def alert_identity(alert: Mapping[str, Any]) -> tuple[str, str]:
    """``(scenario, source value)`` of a LAPI alert: what re-raised alerts are matched on."""
    src = alert.get("source") or {}
    return str(alert.get("scenario", "")), str(src.get("value", "")) if isinstance(src, Mapping) else ""


def _json(value: Any) -> str:
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    return orjson.dumps(value).decode()


class AgentState:
    """The agent's SQLite state file. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path | str, *, queue_max: int = 100_000) -> None:
        self.path = Path(path)
        self.queue_max = queue_max
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        (self._queued,) = self._db.execute("SELECT COUNT(*) FROM queue").fetchone()
        self._stalled = False
        self._closed = False

    # --- reads ------------------------------------------------------------------------------

    def positions(self) -> dict[str, tuple[Any, dict[str, Any]]]:
        """``{stream key: (position, counters)}`` as last checkpointed."""
        with self._lock:
            rows = self._db.execute("SELECT key, position, counters FROM positions").fetchall()
        out: dict[str, tuple[Any, dict[str, Any]]] = {}
        for key, pos, cnt in rows:
            out[key] = (
                orjson.loads(pos) if pos is not None else None,
                orjson.loads(cnt) if cnt is not None else {},
            )
        return out

    def buckets(self) -> bytes | None:
        """The bucket state of the last checkpoint (``ScenarioSet.dump`` bytes) or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT data FROM buckets WHERE id = 1").fetchone()
        return bytes(row[0]) if row else None

    def dump_positions(self) -> dict[str, tuple[Any, dict[str, Any]]]:
        """``{stream key: (position, counters)}`` as of the stored bucket state (last full checkpoint)."""
        with self._lock:
            row = self._db.execute("SELECT positions FROM buckets WHERE id = 1").fetchone()
        if not row:
            return {}
        return {k: (v[0], v[1]) for k, v in orjson.loads(row[0]).items()}

    def recent_alerts(self) -> list[tuple[str, str]]:
        """``(scenario, source value)`` of the alerts queued since the last full checkpoint, in order."""
        with self._lock:
            rows = self._db.execute("SELECT scenario, value FROM recent ORDER BY id").fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def queue_len(self) -> int:
        with self._lock:
            return int(self._queued)

    def queue_peek(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``n`` queued alerts, oldest first, as ``(row id, alert)``."""
        with self._lock:
            rows = self._db.execute("SELECT id, alert FROM queue ORDER BY id LIMIT ?", (n,)).fetchall()
        return [(int(i), orjson.loads(a)) for i, a in rows]

    # --- writes -----------------------------------------------------------------------------

    def queue_ack(self, ids: Iterable[int]) -> None:
        """Delete delivered alerts (the LAPI acknowledged them)."""
        idl = [(int(i),) for i in ids]
        if not idl:
            return
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany("DELETE FROM queue WHERE id = ?", idl)
                deleted = cur.rowcount
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self._queued -= max(deleted, 0)
            if self._queued < self.queue_max:
                self._stalled = False
                self._room.notify_all()

    def checkpoint(
        self,
        positions: Mapping[str, Any],
        counters: Mapping[str, Any],
        alerts: list[dict[str, Any]],
        buckets: bytes | None,
        *,
        timeout: float | None = None,
    ) -> None:
        """Persist one consistent state in ONE transaction.

        ``positions``/``counters`` update the streams they name (others are kept; a key may
        appear in only one of them); ``alerts`` are appended to the queue in order.
        With ``buckets`` (a full checkpoint) the bucket state is replaced, the stored
        positions and counters, as updated, become its dump positions and ``recent`` is
        emptied; without, the alerts' ``(scenario, source value)`` go to ``recent``.

        With alerts and a full queue, waits for room (the pusher acknowledging alerts) up to
        ``timeout`` seconds (``None``: forever) and raises :class:`QueueFull` when there is
        still none; nothing is written then.
        """
        created = time.time()
        rows = [(_json(a), created) for a in alerts]
        keys = set(positions) | set(counters)
        with self._lock:
            if rows and self._queued >= self.queue_max:
                if not self._stalled:
                    log.warning(
                        "alert queue full (%d alerts waiting for the LAPI, alert_queue_max=%d): "
                        "detection pauses until alerts are delivered",
                        self._queued,
                        self.queue_max,
                    )
                    self._stalled = True
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._queued >= self.queue_max and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise QueueFull(f"{self._queued} alerts waiting")
                    self._room.wait(left)
                if self._closed:
                    raise QueueFull("state closed")
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for key in keys:
                    if key in positions and key in counters:
                        cur.execute(
                            "INSERT INTO positions (key, position, counters) VALUES (?, ?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET position = excluded.position, "
                            "counters = excluded.counters",
                            (key, _json(positions[key]), _json(counters[key])),
                        )
                    elif key in positions:
                        cur.execute(
                            "INSERT INTO positions (key, position) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET position = excluded.position",
                            (key, _json(positions[key])),
                        )
                    else:
                        cur.execute(
                            "INSERT INTO positions (key, counters) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET counters = excluded.counters",
                            (key, _json(counters[key])),
                        )
                if rows:
                    cur.executemany("INSERT INTO queue (alert, created) VALUES (?, ?)", rows)
                if buckets is not None:
                    snap = {
                        k: [orjson.loads(p) if p is not None else None, orjson.loads(c) if c else {}]
                        for k, p, c in cur.execute("SELECT key, position, counters FROM positions")
                    }
                    cur.execute(
                        "INSERT INTO buckets (id, data, positions) VALUES (1, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET data = excluded.data, positions = excluded.positions",
                        (buckets, orjson.dumps(snap).decode()),
                    )
                    cur.execute("DELETE FROM recent")
                elif alerts:
                    cur.executemany(
                        "INSERT INTO recent (scenario, value) VALUES (?, ?)",
                        [alert_identity(a) for a in alerts],
                    )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self._queued += len(rows)

    def close(self) -> None:
        """Close the database; wakes any checkpoint waiting for room (it raises QueueFull)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()
            self._db.close()

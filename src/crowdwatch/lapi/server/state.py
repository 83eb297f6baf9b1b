"""The running server's state: the service, its worker threads, the stream index, caches,
and the background tasks that keep the index in step with the database."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from crowdwatch.lapi.decisions import PackedRecords
from crowdwatch.lapi.errors import LapiError
from crowdwatch.lapi.server.options import ServerOptions
from crowdwatch.lapi.service import LapiService, Payload, WriterBusy
from crowdwatch.lapi.storage.machines import BouncerInfo, BouncerSeen
from crowdwatch.lapi.stream import DecisionIndex

log = logging.getLogger(__name__)

T = TypeVar("T")

SYNC_INTERVAL = 1.0  # s between polls of the database for changes made by other processes
PULL_FLUSH_INTERVAL = 2.0  # s between writes of bouncers' last pull / cursor
CACHE_TTL = 10.0  # s a looked-up machine or API key is trusted without asking the database
COMPACT_INTERVAL = 60.0
ALERT_BATCH = 200  # alert requests per transaction at most
FLUSH_INTERVAL = 60.0
CHECKPOINT_INTERVAL = 1.0  # s between background SQLite WAL checkpoints
INLINE_MAX_REQUESTS = 32  # alert pushes stored on the event loop (SQLite) at most per batch...
INLINE_MAX_BYTES = 256 * 1024  # ...with bodies of this many bytes together at most...
INLINE_MAX_DECISIONS = 64  # ...and this many decisions to store
# Loop iterations a new batch waits before it is taken: a push whose bytes are already in a
# socket buffer needs about three (read event, HTTP parse, handler task) to join the batch.
# It costs no waiting (other ready work runs meanwhile) and, with several agents, halves the
# transactions (batches of 1-3 pushes instead of mostly 1: alert ingestion +30 %).
GATHER_YIELDS = 3


def _tune_malloc() -> None:
    """glibc: blocks of 128 KiB and more always mmap'ed (returned to the system when freed) and
    free heap top trimmed past 128 KiB. By default the mmap threshold rises to the largest block
    freed so far (up to 32 MiB): after a large import the next ~13 MB lists and buffers come
    from the heap, whose freed space then stays in the process (~10 MB measured)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 128 * 1024)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


class ServerState:
    def __init__(self, service: LapiService, options: ServerOptions) -> None:
        _tune_malloc()
        self.service = service
        self.options = options
        self.index = DecisionIndex()
        # One writer thread: SQLite allows one writer anyway, and change numbers are taken in order.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lapi-write")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="lapi-read")
        self._sync_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.cursors: dict[int, int] = {}
        self.pulls: dict[int, BouncerSeen] = {}
        self._bouncers: dict[str, tuple[float, BouncerInfo]] = {}
        self._machines: dict[str, float] = {}
        # Another LAPI process may have served a bouncer since: on a shared database the cursor
        # is read back at each poll (written back within PULL_FLUSH_INTERVAL).
        self.shared_cursors = service.db.dialect != "sqlite"
        # Alert pushes waiting for the writer: stored together in one transaction (group commit).
        self._pending_alerts: list[tuple[str, Any, asyncio.Future[list[str]]]] = []
        self._alert_writer: asyncio.Task[None] | None = None
        self._writer_jobs = 0  # calls submitted to the writer thread and not finished
        self.inline_writes = service.db.dialect == "sqlite"  # see _inline_ok

    # --- threads ---------------------------------------------------------------------
    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        self._writer_jobs += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)
        finally:
            self._writer_jobs -= 1

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def write_and_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """A change to decisions, visible to bouncers when this returns. The writer thread
        also reads the resulting changes, saving a second hand-over between threads."""
        async with self._sync_lock:
            result, (changes, head) = await self.write(self._then_changes, fn, args, self.index.seq)
            self.index.apply(changes, self.service.clock())
            self.index.advance(head)
        return result

    def _then_changes(
        self, fn: Callable[..., T], args: tuple[Any, ...], since: int
    ) -> tuple[T, tuple[PackedRecords, int]]:
        result = fn(*args)
        return result, self.service.changes_since(since)

    async def push_alerts(self, machine_id: str, payload: Any) -> list[str]:
        """Store one request's alerts; requests arriving while a batch is being written are
        written together next, so concurrent agents share transactions."""
        fut: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._pending_alerts.append((machine_id, payload, fut))
        if self._alert_writer is None or self._alert_writer.done():
            self._alert_writer = asyncio.create_task(self._write_alerts())
        return await fut

    async def _write_alerts(self) -> None:
        for _ in range(GATHER_YIELDS):
            await asyncio.sleep(0)
        while self._pending_alerts:
            batch = self._pending_alerts[:ALERT_BATCH]
            del self._pending_alerts[:ALERT_BATCH]
            try:
                requests = [(m, p) for m, p, _ in batch]
                if self._inline_ok(requests):
                    results = await self._store_inline(requests)
                else:
                    results = await self.write_and_sync(self.service.create_alerts_many, requests)
            except Exception as exc:  # a database failure: every request of the batch gets it
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, _, fut), result in zip(batch, results):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    def _inline_ok(self, requests: list[tuple[str, Any]]) -> bool:
        """Whether a batch of pushes may be stored on the event loop itself: SQLite, nothing
        running on the writer thread, small bodies. It then costs no hand-over between threads
        (two thread wake-ups per batch, each a wait for a CPU on a busy machine), and blocks
        the loop for well under a millisecond; a large import still goes to the writer."""
        if not self.inline_writes or self._writer_jobs or self._sync_lock.locked():
            return False
        if self.service.notifier is not None:  # a notification hook may block: not on the loop
            return False
        if len(requests) > INLINE_MAX_REQUESTS:
            return False
        total = 0
        for _, payload in requests:
            size = payload.raw_size() if isinstance(payload, Payload) else -1
            if size < 0:
                return False
            total += size
        return total <= INLINE_MAX_BYTES

    async def _store_inline(self, requests: list[tuple[str, Any]]) -> list[list[str] | LapiError]:
        batch = self.service.plan_alerts(requests)
        if batch.decisions > INLINE_MAX_DECISIONS:
            return await self.write_and_sync(self.service.store_alerts, batch)
        try:
            results = self.service.store_alerts(batch, nowait=True)
        except WriterBusy:  # another process writes: wait for it on the writer thread
            return await self.write_and_sync(self.service.store_alerts, batch)
        changes, head = self.service.changes_since(self.index.seq, held=True)
        self.index.apply(changes, self.service.clock())
        self.index.advance(head)
        return results

    # --- index -----------------------------------------------------------------------
    async def sync(self) -> None:
        async with self._sync_lock:
            changes, head = await self.read(self.service.changes_since, self.index.seq)
            self.index.apply(changes, self.service.clock())
            self.index.advance(head)

    # --- caches ----------------------------------------------------------------------
    async def bouncer(self, key: str) -> BouncerInfo | None:
        hit = self._bouncers.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        info = await self.read(self.service.bouncer_for_key, key)
        if info is None:
            self._bouncers.pop(key, None)
            return None
        if len(self._bouncers) > 100_000:
            self._bouncers.clear()
        self._bouncers[key] = (now + CACHE_TTL, info)
        if info.id not in self.cursors and info.last_seq:
            self.cursors[info.id] = info.last_seq
        return info

    async def machine_ok(self, machine_id: str) -> bool:
        """The machine still exists and is validated (a deleted machine's tokens stop working)."""
        now = time.monotonic()
        if self._machines.get(machine_id, 0.0) > now:
            return True
        ok = await self.read(self.service.machine_validated, machine_id)
        if ok:
            self._machines[machine_id] = now + CACHE_TTL
        else:
            self._machines.pop(machine_id, None)
        return ok

    async def tls_bouncer(self, name: str) -> BouncerInfo:
        hit = self._bouncers.get("\0tls:" + name)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        info = await self.write(self.service.tls_bouncer, name)
        self._bouncers["\0tls:" + name] = (now + CACHE_TTL, info)
        if info.id not in self.cursors and info.last_seq:
            self.cursors[info.id] = info.last_seq
        return info

    async def cursor(self, bouncer_id: int) -> int | None:
        if self.shared_cursors and bouncer_id not in self.pulls:
            stored = await self.read(self.service.bouncer_cursor, bouncer_id)
            if stored is not None and stored > self.cursors.get(bouncer_id, 0):
                self.cursors[bouncer_id] = stored
        return self.cursors.get(bouncer_id)

    def forget_machine(self, machine_id: str) -> None:
        self._machines.pop(machine_id, None)

    def forget_credentials(self) -> None:
        """Drop every cached key and machine (one was withdrawn: ``server.credwatch``)."""
        self._bouncers.clear()
        self._machines.clear()

    # --- background ------------------------------------------------------------------
    async def start(self) -> None:
        await self.sync()
        self._tasks = [
            asyncio.create_task(self._every(SYNC_INTERVAL, self._tick)),
            asyncio.create_task(self._every(PULL_FLUSH_INTERVAL, self.flush_pulls)),
            asyncio.create_task(self._every(COMPACT_INTERVAL, self._compact)),
            asyncio.create_task(self._every(FLUSH_INTERVAL, self._flush)),
            asyncio.create_task(self._every(CHECKPOINT_INTERVAL, self._checkpoint)),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await self.flush_pulls()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.service.release_held()

    async def _every(self, seconds: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:  # a failing background step must not stop the server
                log.exception("LAPI background task failed")

    async def _tick(self) -> None:
        await self.write(self.service.expire_due)
        await self.sync()

    async def flush_pulls(self) -> None:
        if self.pulls:
            batch, self.pulls = self.pulls, {}
            await self.write(self.service.record_pulls, batch)

    async def _flush(self) -> None:
        await self.write(self.service.flush)
        self._bouncers.clear()  # deleted bouncers' keys must stop working
        self._machines.clear()

    async def _checkpoint(self) -> None:
        await self.read(self.service.checkpoint)

    async def _compact(self) -> None:
        self.index.compact(self.service.clock())

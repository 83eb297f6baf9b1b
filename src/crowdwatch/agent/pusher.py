"""Delivery of queued alerts to the LAPI: in order, at least once, never stuck on one alert.

The pusher reads the on-disk queue (``agent.state``) oldest first, ``POST``s a batch and
deletes it from the queue only once the LAPI answered 201. While the LAPI is unreachable
(connection refused, timeout, 5xx) or refuses the watcher's credentials, the same batch is
retried with an exponential back-off (0.5 s doubling up to ``retry_max``), so alerts keep
their order and nothing is lost: they wait on disk, across agent restarts too.

A batch the LAPI rejects as invalid (400/413/422; CrowdSec 1.4.6 also answers 500
"validation failure") is bisected to find the offending
alert(s); each one is logged, appended to the dead-letter file when one is configured,
counted in ``rejected`` and removed from the queue, and the others are delivered — one bad
alert never blocks the queue.

If the LAPI committed a batch but its answer was lost, the batch is sent again; every alert
carries a ``uuid`` so a LAPI that deduplicates on it (crowdwatch's does) stores it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from crowdwatch.client.lapi import LapiAuthFailed, LapiRejected, LapiUnavailable

log = logging.getLogger(__name__)

RETRY_MIN = 0.5
POLL_INTERVAL = 1.0
HEARTBEAT_INTERVAL = 30.0


class AlertQueue(Protocol):
    """What the pusher needs of ``agent.state.AgentState`` (thread-safe methods)."""

    def queue_peek(self, n: int) -> list[tuple[int, dict[str, Any]]]: ...

    def queue_ack(self, ids: Iterable[int]) -> None: ...

    def queue_len(self) -> int: ...


class AlertSink(Protocol):
    """What the pusher needs of ``client.lapi.LapiClient``."""

    async def push_alerts(self, alerts: list[dict[str, Any]]) -> list[str]: ...

    async def heartbeat(self) -> None: ...


BACKLOG_FACTOR = 20  # how much larger than ``batch`` a request may grow while a backlog drains


class Pusher:
    """``task = create_task(pusher.run())``; ``pusher.notify()`` from any thread when alerts
    were queued; ``await pusher.stop(drain_timeout)`` at shutdown."""

    def __init__(
        self,
        state: AlertQueue,
        client: AlertSink,
        *,
        batch: int = 50,
        retry_max: float = 30.0,
        retry_min: float = RETRY_MIN,
        poll_interval: float = POLL_INTERVAL,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        dead_letter: Path | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.state = state
        self.client = client
        self.batch = batch
        self.retry_min = retry_min
        self.retry_max = max(retry_max, retry_min)
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.dead_letter = dead_letter
        self.pushed = 0
        self.push_errors = 0
        self.rejected = 0
        self.heartbeats = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._failing: str | None = None  # the last failure's text while the LAPI is failing

    # --- control ------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        return {
            "pushed": self.pushed,
            "push_errors": self.push_errors,
            "rejected": self.rejected,
            "queued": self.state.queue_len(),
        }

    def notify(self) -> None:
        """New alerts are queued: deliver them now rather than at the next poll. Callable
        from any thread (the pipeline's)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
            loop.call_soon_threadsafe(wake.set)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Deliver what is queued for up to ``drain_timeout`` seconds, then stop. Alerts not
        delivered stay on disk for the next start."""
        task = self._task
        if task is None or task.done():
            return
        self._draining = True
        if self._wake is not None:
            self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), drain_timeout)
        except TimeoutError:
            log.info(
                "stopping with %d alerts still queued (delivered at the next start)", self.state.queue_len()
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver queued alerts until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task = asyncio.current_task()
        beats = asyncio.create_task(self._heartbeats())
        delay = self.retry_min
        size = self.batch
        try:
            while True:
                self._wake.clear()
                items = await asyncio.to_thread(self.state.queue_peek, size)
                # a backlog (a full batch came back) doubles the next batch, up to 20x: under
                # load each request costs the agent's busy process far more than its alerts do
                size = min(size * 2, self.batch * BACKLOG_FACTOR) if len(items) == size else self.batch
                if not items:
                    if self._draining:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    continue
                try:
                    await self._deliver(items)
                except (LapiUnavailable, LapiRejected) as exc:
                    self._failed(exc)
                except Exception as exc:  # not the LAPI's doing: keep the alerts, keep going
                    log.error("pushing alerts failed: %s: %s", exc.__class__.__name__, exc)
                    self.push_errors += 1
                else:
                    delay = self.retry_min
                    if self._failing is not None:
                        log.info("LAPI reachable again; delivering %d queued alerts", self.state.queue_len())
                        self._failing = None
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
        finally:
            self._stopping.set()
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    def _failed(self, exc: LapiUnavailable | LapiRejected) -> None:
        self.push_errors += 1
        text = str(exc)
        if text == self._failing:
            log.debug("push failed again: %s", text)
            return
        self._failing = text
        if isinstance(exc, LapiAuthFailed):
            log.error("%s; %d alerts wait in the queue", text, self.state.queue_len())
        else:
            log.warning(
                "cannot deliver alerts: %s; %d wait in the queue, retrying", text, self.state.queue_len()
            )

    async def _deliver(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        """Push ``items`` in order and acknowledge them; an invalid batch is bisected and
        the alerts the LAPI refuses on their own are set aside."""
        try:
            await self.client.push_alerts([alert for _, alert in items])
        except LapiRejected as exc:
            if isinstance(exc, LapiAuthFailed) or not exc.invalid:
                raise
            if len(items) == 1:
                await self._set_aside(items[0], exc)
                return
            mid = len(items) // 2
            await self._deliver(items[:mid])
            await self._deliver(items[mid:])
            return
        await asyncio.to_thread(self.state.queue_ack, [i for i, _ in items])
        self.pushed += len(items)

    async def _set_aside(self, item: tuple[int, dict[str, Any]], exc: LapiRejected) -> None:
        row_id, alert = item
        source = alert.get("source")
        value = source.get("value", "?") if isinstance(source, dict) else "?"
        log.warning(
            "the LAPI refused alert %s (scenario %s, source %s): HTTP %d: %s; %s",
            alert.get("uuid", f"#{row_id}"),
            alert.get("scenario", "?"),
            value,
            exc.status,
            exc.message,
            f"kept in {self.dead_letter}" if self.dead_letter else "dropped",
        )
        if self.dead_letter is not None:
            line = orjson.dumps(
                {"time": time.time(), "status": exc.status, "message": exc.message, "alert": alert}
            )
            await asyncio.to_thread(_append, self.dead_letter, line + b"\n")
        await asyncio.to_thread(self.state.queue_ack, [row_id])
        self.rejected += 1

    async def _heartbeats(self) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                await self.client.heartbeat()
                self.heartbeats += 1
            except (LapiUnavailable, LapiRejected) as exc:
                log.debug("heartbeat failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.heartbeat_interval)


def _append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as f:
        f.write(data)

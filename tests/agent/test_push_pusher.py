"""agent.pusher: the on-disk queue (a real AgentState file) delivered to a real LAPI — in
order, nothing lost across LAPI outages, ``kill -9`` and agent restarts, poison alerts set aside."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_push_support import PASSWORD, LapiProcess, ThreadServer, make_alert

from crowdwatch.agent.pusher import Pusher
from crowdwatch.agent.state import AgentState
from crowdwatch.client.lapi import Credentials, LapiClient
from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database
from crowdwatch.lapi.storage.alerts import AlertQuery


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ThreadServer, LapiService]]:
    db = open_database(DbConfigSection(), tmp_path / "lapi.db")
    svc = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"))
    svc.register_machine("agent", PASSWORD, "", True)
    srv = ThreadServer(svc)
    yield srv, svc
    srv.stop()
    db.dispose()


def creds(url: str) -> Credentials:
    return Credentials(url=url + "/", login="agent", password=PASSWORD)


def enqueue(state: AgentState, alerts: list[dict[str, Any]]) -> None:
    state.checkpoint({}, {}, alerts, None)


async def until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def stored(svc: LapiService) -> list[str]:
    return [a["message"] for a in reversed(svc.search_alerts(AlertQuery()))]


def test_alerts_pushed_in_order_and_acknowledged(
    server: tuple[ThreadServer, LapiService], tmp_path: Path
) -> None:
    srv, svc = server
    state = AgentState(tmp_path / "agent-state.db")
    enqueue(state, [make_alert(i) for i in range(120)])

    async def go() -> dict[str, int]:
        async with LapiClient(creds(srv.url)) as client:
            pusher = Pusher(state, client, batch=50)
            task = asyncio.create_task(pusher.run())
            await until(lambda: pusher.pushed == 120, 10, "120 alerts pushed")
            await pusher.stop(1)
            assert task.done()
            return pusher.stats

    stats = asyncio.run(go())
    assert stats == {"pushed": 120, "push_errors": 0, "rejected": 0, "queued": 0}
    assert state.queue_len() == 0 and state.queue_peek(10) == []
    assert stored(svc) == [f"alert {i}" for i in range(120)]
    assert svc.get_machine("agent")["last_heartbeat"]  # a heartbeat at start


def test_notify_from_another_thread_wakes_the_pusher(
    server: tuple[ThreadServer, LapiService], tmp_path: Path
) -> None:
    srv, svc = server
    state = AgentState(tmp_path / "agent-state.db")

    async def go() -> float:
        async with LapiClient(creds(srv.url)) as client:
            pusher = Pusher(state, client, poll_interval=30.0)
            task = asyncio.create_task(pusher.run())
            await asyncio.sleep(0.3)  # idle: waiting for a notification or the (long) poll

            def pipeline() -> None:
                enqueue(state, [make_alert(1)])
                pusher.notify()

            t0 = time.monotonic()
            threading.Thread(target=pipeline).start()
            await until(lambda: pusher.pushed == 1, 5, "the alert pushed")
            elapsed = time.monotonic() - t0
            await pusher.stop(1)
            assert task.done()
            await task
            return elapsed

    assert asyncio.run(go()) < 1.0
    assert stored(svc) == ["alert 1"]


def test_poison_alerts_are_set_aside_and_the_rest_delivered(
    server: tuple[ThreadServer, LapiService], tmp_path: Path
) -> None:
    srv, svc = server
    state = AgentState(tmp_path / "agent-state.db")
    bad = {3: {"start_at": "not a time"}, 7: {"source": "nope"}}
    enqueue(state, [make_alert(i, **bad.get(i, {})) for i in range(10)])
    dead = tmp_path / "dead-letter.jsonl"

    async def go() -> dict[str, int]:
        async with LapiClient(creds(srv.url)) as client:
            pusher = Pusher(state, client, batch=50, dead_letter=dead)
            task = asyncio.create_task(pusher.run())
            await until(lambda: state.queue_len() == 0, 10, "the queue emptied")
            await pusher.stop(1)
            assert task.done()
            return pusher.stats

    stats = asyncio.run(go())
    assert stats == {"pushed": 8, "push_errors": 0, "rejected": 2, "queued": 0}
    assert stored(svc) == [f"alert {i}" for i in range(10) if i not in bad]
    lines = [orjson.loads(x) for x in dead.read_bytes().splitlines()]
    assert [(d["status"], d["alert"]["message"]) for d in lines] == [(400, "alert 3"), (400, "alert 7")]
    assert "start_at" in lines[0]["message"]


def test_lapi_down_alerts_wait_on_disk_across_an_agent_restart(tmp_path: Path) -> None:
    lapi = LapiProcess(tmp_path)
    lapi.start()
    state_path = tmp_path / "agent-state.db"

    async def first_run() -> dict[str, int]:
        state = AgentState(state_path)
        async with LapiClient(lapi.creds) as client:
            pusher = Pusher(state, client, retry_max=0.5)
            task = asyncio.create_task(pusher.run())
            enqueue(state, [make_alert(i) for i in range(100)])
            pusher.notify()
            await until(lambda: pusher.pushed == 100, 10, "the first 100 delivered")
            await asyncio.to_thread(lapi.kill)  # the LAPI goes away
            enqueue(state, [make_alert(i) for i in range(100, 300)])
            pusher.notify()
            await until(lambda: pusher.push_errors >= 2, 10, "failed pushes")
            assert state.queue_len() == 200
            await pusher.stop(0.5)  # the agent stops too: nothing can be delivered
            assert task.done()
            stats = pusher.stats
        state.close()
        return stats

    stats = asyncio.run(first_run())
    assert stats["pushed"] == 100 and stats["queued"] == 200 and stats["rejected"] == 0

    async def second_run() -> dict[str, int]:
        state = AgentState(state_path)  # the agent starts again, before the LAPI
        assert state.queue_len() == 200
        async with LapiClient(lapi.creds) as client:
            pusher = Pusher(state, client, retry_max=0.5)
            task = asyncio.create_task(pusher.run())
            await asyncio.sleep(0.5)
            await asyncio.to_thread(lapi.start)  # the LAPI is back, on the same database
            await until(lambda: state.queue_len() == 0, 20, "the queue delivered")
            await pusher.stop(1)
            assert task.done()
            return pusher.stats

    try:
        stats = asyncio.run(second_run())
        assert stats["pushed"] == 200 and stats["push_errors"] >= 1
        messages = [m for _, m in lapi.alerts()]
        assert messages == [f"alert {i}" for i in range(300)]
    finally:
        lapi.kill()


def test_lapi_killed_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    lapi = LapiProcess(tmp_path)
    lapi.start()
    state = AgentState(tmp_path / "agent-state.db")
    total = 2000
    alerts = [make_alert(i) for i in range(total)]

    async def go() -> dict[str, int]:
        async with LapiClient(lapi.creds, timeout=5) as client:
            pusher = Pusher(state, client, batch=50, retry_max=0.5)
            task = asyncio.create_task(pusher.run())

            async def burst() -> None:  # the pipeline raises alerts while the LAPI dies
                for start in range(0, total, 100):
                    await asyncio.to_thread(enqueue, state, alerts[start : start + 100])
                    pusher.notify()
                    await asyncio.sleep(0.01)

            feeding = asyncio.create_task(burst())
            await until(lambda: pusher.pushed >= 400, 20, "400 alerts delivered")
            await asyncio.to_thread(lapi.kill)  # SIGKILL in the middle of the burst
            await feeding
            assert state.queue_len() > 0
            await asyncio.sleep(0.5)
            await asyncio.to_thread(lapi.start)
            await until(lambda: state.queue_len() == 0, 30, "the queue delivered")
            await pusher.stop(1)
            assert task.done()
            return pusher.stats

    try:
        stats = asyncio.run(go())
        rows = lapi.alerts()
    finally:
        lapi.kill()
    assert stats["rejected"] == 0 and stats["queued"] == 0 and stats["push_errors"] >= 1
    assert len(rows) == total, f"{len(rows) - total:+d} alerts"
    assert [u for u, _ in rows] == [a["uuid"] for a in alerts]  # each once, in order


def test_refused_credentials_keep_alerts_queued_until_they_work(
    server: tuple[ThreadServer, LapiService], tmp_path: Path
) -> None:
    srv, svc = server
    state = AgentState(tmp_path / "agent-state.db")
    enqueue(state, [make_alert(i) for i in range(3)])
    newcomer = Credentials(url=srv.url, login="newcomer", password="newcomer-password")

    async def go() -> dict[str, int]:
        async with LapiClient(newcomer) as client:
            pusher = Pusher(state, client, retry_min=0.05, retry_max=0.1)
            task = asyncio.create_task(pusher.run())
            await until(lambda: pusher.push_errors >= 3, 5, "refused logins")
            assert state.queue_len() == 3 and pusher.rejected == 0  # nothing set aside
            await asyncio.to_thread(svc.register_machine, "newcomer", "newcomer-password", "", True)
            await until(lambda: state.queue_len() == 0, 5, "delivery once the machine exists")
            await pusher.stop(1)
            assert task.done()
            return pusher.stats

    stats = asyncio.run(go())
    assert stats["pushed"] == 3 and stats["rejected"] == 0
    assert stored(svc) == ["alert 0", "alert 1", "alert 2"]


class LosingProxy:
    """A TCP proxy to the LAPI that swallows the first ``201`` answer (the LAPI stored the
    alerts, the agent never hears of it) and cuts that connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lost = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def up() -> None:
            while data := await cr.read(65536):
                uw.write(data)
                await uw.drain()
            uw.close()

        async def down() -> None:
            while data := await ur.read(65536):
                if data.startswith(b"HTTP/1.1 201") and self.lost == 0:
                    self.lost += 1
                    break
                cw.write(data)
                await cw.drain()
            cw.close()
            uw.close()

        await asyncio.gather(up(), down(), return_exceptions=True)


def test_batch_stored_but_answer_lost_is_stored_once(
    server: tuple[ThreadServer, LapiService], tmp_path: Path
) -> None:
    srv, svc = server
    state = AgentState(tmp_path / "agent-state.db")
    alerts = [make_alert(i) for i in range(30)]
    enqueue(state, alerts)

    async def go() -> dict[str, int]:
        proxy = LosingProxy(srv.port)
        url = await proxy.start()
        async with LapiClient(creds(url)) as client:
            pusher = Pusher(state, client, batch=10, retry_min=0.05)
            task = asyncio.create_task(pusher.run())
            await until(lambda: state.queue_len() == 0, 10, "the queue delivered")
            await pusher.stop(1)
            assert task.done()
        assert proxy.lost == 1
        return pusher.stats

    stats = asyncio.run(go())
    assert stats["pushed"] == 30 and stats["push_errors"] == 1  # one batch sent twice
    rows = svc.search_alerts(AlertQuery())
    assert [a["uuid"] for a in reversed(rows)] == [a["uuid"] for a in alerts]  # once each, in order

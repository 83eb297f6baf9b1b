"""Withdrawn credentials stop working at once: deleted/revoked bouncer keys, deleted machines'
JWTs, on this server and on another LAPI process sharing the database."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage import machines as machine_store

from .helpers import BOUNCER_KEY, LiveServer

STREAM = "/v1/decisions/stream?startup=true"
LIMIT = 1.0  # s: the brief's bound for another process; the watcher polls every 0.2 s


def _refused_after(check: Callable[[], int], refused: int) -> float:
    """Seconds until ``check()`` returns ``refused`` (fails after 5 s)."""
    start = time.monotonic()
    while time.monotonic() - start < 5:
        if check() == refused:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("still accepted after 5 s")


def test_deleted_bouncer_key_is_refused_at_once(live: LiveServer) -> None:
    assert live.call("GET", STREAM, key=BOUNCER_KEY).status == 200  # now cached (10 s TTL)
    live.service.delete_bouncer("fw")  # out of band, as `crowdwatch bouncers delete` does
    took = _refused_after(lambda: live.call("GET", STREAM, key=BOUNCER_KEY).status, 403)
    assert took < LIMIT
    assert live.call("GET", "/v1/decisions?ip=1.2.3.4", key=BOUNCER_KEY).json == {
        "message": "access forbidden"
    }


def test_revoked_bouncer_key_is_refused_at_once(live: LiveServer, db: Database) -> None:
    live.service.add_bouncer("other", "other-key-0123456789")
    assert live.call("GET", STREAM, key="other-key-0123456789").status == 200
    with Session(db.write) as s, s.begin():
        assert machine_store.revoke_bouncer(s, "other")
    took = _refused_after(lambda: live.call("GET", STREAM, key="other-key-0123456789").status, 403)
    assert took < LIMIT
    assert live.call("GET", STREAM, key=BOUNCER_KEY).status == 200  # the others keep working


def test_deleted_machine_token_is_refused_at_once(live: LiveServer) -> None:
    token = live.login()
    assert live.call("GET", "/v1/heartbeat", token=token).status == 200  # machine now cached
    live.service.delete_machine("agent")
    took = _refused_after(lambda: live.call("GET", "/v1/heartbeat", token=token).status, 401)
    assert took < LIMIT
    r = live.call("GET", "/v1/refresh", token=token)
    assert r.status == 401 and r.json == {"message": "machine not found or not validated"}
    assert live.call("POST", "/v1/alerts", [], token=token).status == 401


def test_pruned_credentials_are_refused_too(live: LiveServer, db: Database) -> None:
    assert live.call("GET", STREAM, key=BOUNCER_KEY).status == 200
    with Session(db.write) as s, s.begin():
        pruned = machine_store.prune_bouncers(s, live.service.clock().replace(year=2100))
    assert pruned == ["fw"]
    assert _refused_after(lambda: live.call("GET", STREAM, key=BOUNCER_KEY).status, 403) < LIMIT


def test_generation_changes_only_when_something_is_withdrawn(db: Database, service: LapiService) -> None:
    def gen() -> str:
        with db.read.connect() as conn:
            return machine_store.credentials_generation(conn)

    first = gen()
    service.add_bouncer("b1", "b1-key-0123456789")
    service.register_machine("m1", "password", "", True)
    assert gen() == first  # additions need no invalidation
    service.delete_bouncer("b1")
    second = gen()
    assert second != first
    service.delete_machine("m1")
    assert gen() not in (first, second)


def test_other_lapi_process_refuses_within_a_second(live: LiveServer, db: Database) -> None:
    """HA: two servers on one database (PostgreSQL/MariaDB runs are the real HA case)."""
    other = LiveServer(LapiService(db, live.service.profiles))
    try:
        token = live.login()
        for server in (live, other):
            assert server.call("GET", STREAM, key=BOUNCER_KEY).status == 200
            assert server.call("GET", "/v1/heartbeat", token=token).status == 200
        live.service.delete_bouncer("fw")
        live.service.delete_machine("agent")
        for server in (other, live):

            def stream(s: LiveServer = server) -> int:
                return s.call("GET", STREAM, key=BOUNCER_KEY).status

            def beat(s: LiveServer = server) -> int:
                return s.call("GET", "/v1/heartbeat", token=token).status

            assert _refused_after(stream, 403) < LIMIT
            assert _refused_after(beat, 401) < LIMIT
    finally:
        other.stop()

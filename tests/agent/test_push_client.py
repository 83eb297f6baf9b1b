"""client.lapi: credentials file, login, JWT renewal, error kinds, against a real LAPI server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_push_support import PASSWORD, ThreadServer, free_port, make_alert

from crowdwatch.client.lapi import (
    Credentials,
    LapiAuthFailed,
    LapiClient,
    LapiRejected,
    LapiUnavailable,
    load_credentials,
)
from crowdwatch.config.errors import ConfigError
from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database
from crowdwatch.lapi.storage.alerts import AlertQuery


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock(datetime.now(UTC))


class OffsetClock(Clock):
    """The LAPI's clock: fixed at ``now``, or (``offset`` set) the wall clock shifted by
    ``offset`` — a token issued then expires ``1 h + offset`` after it is issued, however
    long a loaded machine took to get there."""

    offset: timedelta | None = None

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset if self.offset is not None else self.now


@pytest.fixture
def server(tmp_path: Path, clock: Clock) -> Iterator[tuple[ThreadServer, LapiService]]:
    db = open_database(DbConfigSection(), tmp_path / "lapi.db")
    svc = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"), clock=clock)
    svc.register_machine("agent", PASSWORD, "", True)
    srv = ThreadServer(svc)
    yield srv, svc
    srv.stop()
    db.dispose()


def creds(url: str, password: str = PASSWORD) -> Credentials:
    return Credentials(url=url + "/", login="agent", password=password)


# --- credentials file -------------------------------------------------------------------


def test_load_credentials(tmp_path: Path) -> None:
    f = tmp_path / "local_api_credentials.yaml"
    f.write_text("url: http://127.0.0.1:8080/\nlogin: host1\npassword: s3cret\n")
    c = load_credentials(f)
    assert (c.url, c.login, c.password, c.cert_path) == ("http://127.0.0.1:8080/", "host1", "s3cret", "")
    assert "s3cret" not in repr(c)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("url: http://x/\nlogin: a\n", "missing password"),
        ("login: a\npassword: b\n", "missing url"),
        ("", "empty LAPI credentials"),
        ("url: ftp://x/\nlogin: a\npassword: b\n", "url must start with http"),
        ("url: http://x/\ncert_path: /c.pem\n", "missing login, password"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_load_credentials_errors_name_the_file(tmp_path: Path, text: str, expect: str) -> None:
    f = tmp_path / "creds.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_credentials(f)
    assert str(info.value).startswith(str(f)) and expect in str(info.value)


def test_load_credentials_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read LAPI credentials"):
        load_credentials(tmp_path / "nope.yaml")


# --- against the LAPI -------------------------------------------------------------------


def test_login_push_heartbeat(server: tuple[ThreadServer, LapiService]) -> None:
    srv, svc = server

    async def go() -> list[str]:
        async with LapiClient(creds(srv.url), scenarios=["crowdsecurity/ssh-bf"]) as c:
            ids = await c.push_alerts([make_alert(1), make_alert(2)])
            await c.heartbeat()
            assert c.logins == 1
            return ids

    ids = asyncio.run(go())
    assert len(ids) == 2 and int(ids[1]) == int(ids[0]) + 1
    m = svc.get_machine("agent")
    assert m["last_heartbeat"] and m["scenarios"] == "crowdsecurity/ssh-bf"
    assert m["version"].startswith("crowdwatch/")
    assert [a["message"] for a in reversed(svc.search_alerts(AlertQuery()))] == ["alert 1", "alert 2"]


def test_wrong_password_is_a_clear_error(server: tuple[ThreadServer, LapiService]) -> None:
    srv, _ = server

    async def go() -> None:
        async with LapiClient(creds(srv.url, "wrong-password")) as c:
            await c.push_alerts([make_alert(1)])

    with pytest.raises(LapiAuthFailed) as info:
        asyncio.run(go())
    text = str(info.value)
    assert info.value.status in (401, 403) and "login as 'agent' refused by http://127.0.0.1" in text
    assert "wrong-password" not in text


def test_expired_token_logs_in_again(server: tuple[ThreadServer, LapiService], clock: OffsetClock) -> None:
    srv, _ = server
    clock.offset = -timedelta(hours=1) + timedelta(seconds=1)  # tokens last 1 s from their login

    async def go() -> LapiClient:
        async with LapiClient(creds(srv.url)) as c:
            await c.push_alerts([make_alert(1)])
            await asyncio.sleep(2.1)  # the token has expired (too short-lived to be renewed ahead)
            clock.offset = None
            clock.now = datetime.now(UTC)
            await c.push_alerts([make_alert(2)])
            await c.heartbeat()
            return c

    c = asyncio.run(go())
    assert (c.logins, c.relogins_on_401) == (2, 1)


def test_token_renewed_before_it_expires(
    server: tuple[ThreadServer, LapiService], clock: OffsetClock
) -> None:
    srv, _ = server
    clock.offset = -timedelta(hours=1) + timedelta(seconds=4)  # tokens last 4 s from their login

    async def go() -> LapiClient:
        async with LapiClient(creds(srv.url), refresh_margin=1.0) as c:
            await c.heartbeat()
            assert c._token_deadline is not None
            await asyncio.sleep(max(0.0, c._token_deadline - time.monotonic()) + 0.05)
            clock.offset = None  # the next token is a normal one (no race with a loaded machine)
            clock.now = datetime.now(UTC)
            await c.heartbeat()
            return c

    c = asyncio.run(go())
    assert (c.logins, c.relogins_on_401) == (2, 0)


def test_invalid_alert_is_rejected_with_the_servers_message(server: tuple[ThreadServer, LapiService]) -> None:
    srv, _ = server

    async def go() -> None:
        async with LapiClient(creds(srv.url)) as c:
            await c.push_alerts([make_alert(1, start_at="not a time")])

    with pytest.raises(LapiRejected) as info:
        asyncio.run(go())
    assert info.value.status == 400 and "start_at" in info.value.message
    assert not isinstance(info.value, LapiAuthFailed)


def test_register_then_login_needs_validation(server: tuple[ThreadServer, LapiService]) -> None:
    srv, svc = server
    new = Credentials(url=srv.url, login="newcomer", password="newcomer-password")

    async def go() -> None:
        async with LapiClient(new) as c:
            await c.register()
            with pytest.raises(LapiAuthFailed):
                await c.login()
            svc.validate_machine("newcomer")
            await c.heartbeat()

    asyncio.run(go())


def test_connection_refused_is_unavailable() -> None:
    async def go() -> None:
        async with LapiClient(creds(f"http://127.0.0.1:{free_port()}")) as c:
            await c.heartbeat()

    with pytest.raises(LapiUnavailable, match="cannot connect"):
        asyncio.run(go())


def test_silent_server_is_unavailable_after_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()

    async def go() -> None:
        async with LapiClient(creds(f"http://127.0.0.1:{port}"), timeout=0.5) as c:
            await c.heartbeat()

    t0 = time.monotonic()
    try:
        with pytest.raises(LapiUnavailable, match=r"no answer within 0\.5 s"):
            asyncio.run(go())
    finally:
        listener.close()
        for s in held:
            s.close()
    assert time.monotonic() - t0 < 5

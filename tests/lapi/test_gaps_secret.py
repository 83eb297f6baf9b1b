"""``CS_LAPI_SECRET``: the JWT signing secret from the environment (shared by several LAPIs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdwatch.config import ConfigError
from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi import auth
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database

from .helpers import LiveServer

SECRET = "k" * 40 + "-0123456789-abcdefghijklm"  # 65 characters


def _service(path: Path) -> LapiService:
    svc = LapiService(open_database(DbConfigSection(), path), parse_profiles(DEFAULT_PROFILES, "default"))
    svc.register_machine("agent", "agent-password", "", True)
    return svc


def test_secret_shared_by_lapis_on_different_databases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(auth.SECRET_ENV, SECRET)
    one, two = LiveServer(_service(tmp_path / "a.db")), LiveServer(_service(tmp_path / "b.db"))
    try:
        token = one.login()
        assert two.call("GET", "/v1/heartbeat", token=token).status == 200
        forged = auth.JwtSigner("x" * 64).issue("agent", one.service.clock()).token
        assert two.call("GET", "/v1/heartbeat", token=forged).status == 401
    finally:
        one.stop()
        two.stop()
        one.service.db.dispose()
        two.service.db.dispose()


def test_without_the_variable_each_database_has_its_own_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(auth.SECRET_ENV, raising=False)
    one, two = LiveServer(_service(tmp_path / "a.db")), LiveServer(_service(tmp_path / "b.db"))
    try:
        assert two.call("GET", "/v1/heartbeat", token=one.login()).status == 401
    finally:
        one.stop()
        two.stop()
        one.service.db.dispose()
        two.service.db.dispose()


def test_weak_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert auth.secret_from_env({}) is None
    assert auth.secret_from_env({auth.SECRET_ENV: ""}) is None
    assert auth.secret_from_env({auth.SECRET_ENV: SECRET}) == SECRET
    weak = "w" * 63
    with pytest.raises(ConfigError, match="at least 64 characters, got 63") as err:
        auth.secret_from_env({auth.SECRET_ENV: weak})
    assert weak not in str(err.value)
    monkeypatch.setenv(auth.SECRET_ENV, weak)
    db = open_database(DbConfigSection(), tmp_path / "c.db")
    try:
        with pytest.raises(ConfigError, match=auth.SECRET_ENV):
            LapiService(db, [])
    finally:
        db.dispose()

"""Machine auto-registration (``registration_token``) on a real server, and its configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from crowdwatch.config.schema import ApiServerSection, AutoRegistrationSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.server.options import OptionsError, ServerOptions
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database

from .helpers import LiveServer

TOKEN = "t0k3n-" + "x" * 40


def _server(db: Database, **section: object) -> LiveServer:
    auto = AutoRegistrationSection(**section)  # type: ignore[arg-type]
    options = ServerOptions.from_config(ApiServerSection(auto_registration=auto))
    return LiveServer(LapiService(db, parse_profiles(DEFAULT_PROFILES, "default")), options)


@pytest.fixture
def auto(db: Database) -> Iterator[LiveServer]:
    server = _server(db, enabled=True, token=TOKEN, allowed_ranges=("127.0.0.0/8", "::1"))
    yield server
    server.stop()


def _register(server: LiveServer, name: str, token: str | None, **headers: str) -> int:
    body = {"machine_id": name, "password": "pw-of-" + name}
    if token is not None:
        body["registration_token"] = token
    return server.call("POST", "/v1/watchers", body, headers=headers).status


def _logs_in(server: LiveServer, name: str) -> int:
    return server.call("POST", "/v1/watchers/login", {"machine_id": name, "password": "pw-of-" + name}).status


def test_matching_token_from_allowed_range_is_validated_at_once(
    auto: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _register(auto, "edge-1", TOKEN) == 202
    assert _logs_in(auto, "edge-1") == 200
    assert auto.service.get_machine("edge-1")["isValidated"] is True
    # without a token: the ordinary registration, waiting for `machines validate`
    assert _register(auto, "edge-2", None) == 201
    assert _logs_in(auto, "edge-2") == 403
    assert _register(auto, "edge-1", TOKEN) == 403  # already exists
    assert TOKEN not in caplog.text


def test_wrong_or_malformed_token_is_refused_and_nothing_created(
    auto: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = TOKEN[:-1] + "y"
    r = auto.call("POST", "/v1/watchers", {"machine_id": "m", "password": "p", "registration_token": wrong})
    assert (r.status, r.json) == (401, {"message": "invalid registration token"})
    assert _register(auto, "m", "short") == 400
    assert _register(auto, "m", "z" * 256) == 400
    r = auto.call("POST", "/v1/watchers", {"machine_id": "m", "password": "p", "registration_token": 5})
    assert r.status == 400 and "registration_token" in r.json["message"]
    assert auto.service.list_machines() == []
    assert wrong not in caplog.text


def test_address_outside_allowed_ranges_is_refused(db: Database) -> None:
    server = _server(db, enabled=True, token=TOKEN, allowed_ranges=("10.0.0.0/8",))
    try:
        r = server.call(
            "POST", "/v1/watchers", {"machine_id": "m", "password": "p", "registration_token": TOKEN}
        )
        assert (r.status, r.json) == (401, {"message": "IP not in allowed range"})
        # a spoofed X-Forwarded-For counts for nothing without trusted proxies
        assert _register(server, "m", TOKEN, **{"X-Forwarded-For": "10.1.2.3"}) == 401
        assert server.service.list_machines() == []
    finally:
        server.stop()


def test_address_behind_a_trusted_proxy(db: Database) -> None:
    section = ApiServerSection(
        use_forwarded_for_headers=True,
        trusted_proxies=("127.0.0.1",),
        auto_registration=AutoRegistrationSection(enabled=True, token=TOKEN, allowed_ranges=("10.0.0.0/8",)),
    )
    server = LiveServer(
        LapiService(db, parse_profiles(DEFAULT_PROFILES, "default")), ServerOptions.from_config(section)
    )
    try:
        assert _register(server, "a", TOKEN, **{"X-Forwarded-For": "10.1.2.3"}) == 202
        assert _register(server, "b", TOKEN, **{"X-Forwarded-For": "192.0.2.1"}) == 401
        assert server.service.get_machine("a")["ipAddress"] == "10.1.2.3"
    finally:
        server.stop()


def test_disabled_auto_registration_ignores_the_token(db: Database) -> None:
    server = _server(db, enabled=False, token=TOKEN, allowed_ranges=("127.0.0.0/8",))
    try:
        assert _register(server, "m", TOKEN) == 201
        assert _logs_in(server, "m") == 403  # not validated
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        (
            AutoRegistrationSection(enabled=True, token="x" * 31, allowed_ranges=("10.0.0.0/8",)),
            "at least 32",
        ),
        (AutoRegistrationSection(enabled=True, token="", allowed_ranges=()), "at least 32"),
        (
            AutoRegistrationSection(enabled=True, token=TOKEN, allowed_ranges=("10.0.0.0/33",)),
            "allowed_ranges",
        ),
    ],
)
def test_bad_configuration_is_refused(section: AutoRegistrationSection, needle: str) -> None:
    with pytest.raises(OptionsError, match=needle) as err:
        ServerOptions.from_config(ApiServerSection(auto_registration=section))
    assert "api.server.auto_registration" in str(err.value)
    assert TOKEN not in str(err.value)
    # disabled: nothing is checked
    ServerOptions.from_config(ApiServerSection(auto_registration=AutoRegistrationSection(token="x")))

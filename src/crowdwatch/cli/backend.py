"""Where ``decisions`` and ``alerts`` commands act: the local database or a remote LAPI.

The rule: a remote LAPI (reached with the watcher credentials of ``api.client.credentials_path``,
cscli's ``local_api_credentials.yaml``) when the command is given ``--remote`` or when the
configuration has ``api.server.enable: false`` (no LAPI on this machine); the local database
otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError

if TYPE_CHECKING:
    from crowdwatch.client.lapi import Credentials
    from crowdwatch.lapi.storage.alerts import AlertQuery
    from crowdwatch.lapi.storage.decisions import DecisionQuery

T = TypeVar("T")

RemoteOpt = Annotated[
    bool,
    typer.Option(
        "--remote",
        help="Act through the LAPI of the credentials file (api.client.credentials_path), "
        "not on the local database (implied when api.server.enable is false).",
    ),
]


class AdminBackend(Protocol):
    """What both :class:`LapiService` and :class:`AdminClient` offer to the commands."""

    def search_alerts(self, query: AlertQuery) -> list[dict[str, Any]]: ...
    def get_alert(self, alert_id: int) -> dict[str, Any]: ...
    def create_alerts(self, machine_id: str, payload: Any) -> list[str]: ...
    def delete_alerts(self, query: AlertQuery) -> int: ...
    def delete_decisions(self, query: DecisionQuery) -> int: ...


def credentials() -> Credentials:
    """The watcher credentials named by the configuration, or a CliError saying what is wrong."""
    from crowdwatch.client.lapi import load_credentials
    from crowdwatch.config import ConfigError, load_config

    try:
        cfg = load_config(context.STATE.config_dir)
        return load_credentials(cfg.paths.credentials_path)
    except ConfigError as exc:
        raise CliError(
            f"{exc} (a LAPI client needs url, login and password there; the login is made with "
            "`crowdwatch machines add NAME --password PW` on the LAPI host)"
        ) from None


def use_remote(remote: bool) -> bool:
    if remote:
        return True
    from crowdwatch.config import ConfigError, load_config

    try:
        return not load_config(context.STATE.config_dir).api.server.enable
    except ConfigError as exc:
        raise CliError(str(exc)) from None


@contextmanager
def admin_backend(remote: bool) -> Iterator[AdminBackend]:
    """The local LAPI service, or an :class:`AdminClient` on the remote LAPI (see module doc)."""
    if use_remote(remote):
        from crowdwatch.client.admin import AdminClient

        with AdminClient(credentials()) as api:
            yield api
    else:
        from crowdwatch.cli.machines_cmd import local_service

        with local_service() as svc:
            yield svc


def call(fn: Callable[..., T], *args: object) -> T:
    """Run a backend operation; its failures become one-line CLI errors."""
    from crowdwatch.lapi.errors import LapiError

    try:
        return fn(*args)
    except LapiError as exc:
        raise CliError(exc.message) from None
    except Exception as exc:
        admin = sys.modules.get("crowdwatch.client.admin")  # not imported (aiohttp is slow) in local mode
        if admin is not None and isinstance(exc, admin.AdminError):
            raise CliError(str(exc)) from None
        raise

"""``crowdwatch machines``: machines (agents, cscli) allowed to log in to the local API."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, load_config
from crowdwatch.lapi.errors import LapiError, ProfileLoadError
from crowdwatch.lapi.storage import DatabaseError

if TYPE_CHECKING:
    from crowdwatch.lapi.service import LapiService

T = TypeVar("T")

machines_app = typer.Typer(help="Manage machines (agents, cscli) of the local API.", no_args_is_help=True)


@contextmanager
def local_service() -> Iterator[LapiService]:
    """The LAPI service on the configured database (direct access, like ``cscli`` on the LAPI host)."""
    from crowdwatch.lapi import open_lapi

    try:
        service = open_lapi(load_config(context.STATE.config_dir))
    except (ConfigError, DatabaseError, ProfileLoadError) as exc:
        raise CliError(str(exc)) from None
    try:
        yield service
    finally:
        service.db.dispose()


def run(fn: Callable[..., T], *args: object) -> T:
    try:
        return fn(*args)
    except LapiError as exc:
        raise CliError(exc.message) from None


@machines_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Machine id.")],
    password: Annotated[
        str | None, typer.Option("--password", help="Password (default: random, printed).")
    ] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Generate a random password.")] = False,
) -> None:
    """Register a validated machine."""
    pw = password if password and not auto else secrets.token_urlsafe(32)
    with local_service() as svc:
        run(svc.register_machine, name, pw, "", True)
    typer.echo(f"Machine '{name}' successfully added to the local API.")
    if password is None or auto:
        typer.echo(f"password: {pw}")


@machines_app.command("validate")
def validate_cmd(name: Annotated[str, typer.Argument(help="Machine id.")]) -> None:
    """Validate a machine that registered itself."""
    with local_service() as svc:
        run(svc.validate_machine, name)
    typer.echo(f"machine '{name}' validated successfully")


@machines_app.command("delete")
def delete_cmd(name: Annotated[str, typer.Argument(help="Machine id.")]) -> None:
    """Delete a machine."""
    with local_service() as svc:
        run(svc.delete_machine, name)
    typer.echo(f"machine '{name}' deleted successfully")


def register(app: typer.Typer) -> None:
    app.add_typer(machines_app, name="machines")

"""``crowdwatch machines``: machines (agents, cscli) allowed to log in to the local API."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.cli.listing import check_format, emit, emit_object
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


OutputOpt = Annotated[str, typer.Option("--output", "-o", help="human, json or raw (CSV).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")]


def inactivity(text: str) -> timedelta:
    """A ``--duration`` value (Go syntax, ``d`` allowed) as a positive timedelta."""
    from crowdwatch.lapi.timefmt import parse_duration

    delta = run(parse_duration, text, "--duration")
    if delta <= timedelta(0):
        raise CliError(f"invalid --duration {text!r}: must be positive")
    return delta


def confirm_prune(what: str, names: list[str], force: bool) -> bool:
    """List what a prune would delete; ask unless ``force``."""
    if not names:
        typer.echo(f"No {what} to prune.")
        return False
    typer.echo(f"{what.capitalize()} to prune: {', '.join(names)}")
    return force or typer.confirm(f"Delete these {len(names)} {what}?", default=False)


@machines_app.command("list")
def list_cmd(output: OutputOpt = "human") -> None:
    """List machines."""
    check_format(output)
    with local_service() as svc:
        machines = svc.list_machines()
    rows = [
        [
            m["machineId"],
            m["ipAddress"],
            m["updated_at"],
            m["isValidated"],
            m["version"],
            m["auth_type"],
            m["last_heartbeat"],
        ]
        for m in machines
    ]
    headers = ["Name", "IP Address", "Last Update", "Status", "Version", "Auth Type", "Last Heartbeat"]
    emit(output, machines, headers, rows, "No machines")


@machines_app.command("inspect")
def inspect_cmd(
    name: Annotated[str, typer.Argument(help="Machine id.")], output: OutputOpt = "human"
) -> None:
    """Show one machine."""
    from crowdwatch.lapi import usage

    inspect_component(usage.AGENT, name, output)


def inspect_component(kind: str, name: str, output: str) -> None:
    """``inspect`` of a machine (``usage.AGENT``) or bouncer (``usage.BOUNCER``), with its last
    usage-metrics report (whole with ``-o json``, summarised otherwise)."""
    check_format(output)
    from crowdwatch.lapi import usage

    with local_service() as svc:
        get = svc.get_machine if kind == usage.AGENT else svc.get_bouncer
        doc = run(get, name)
        reports = usage.latest(svc.db, kind, name)
    if reports:
        doc["usage_metrics"] = reports[0] if output == "json" else usage.summary(reports[0])
    emit_object(output, doc)


@machines_app.command("prune")
def prune_cmd(
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="Prune machines without heartbeat for this long.")
    ] = "10m",
    not_validated: Annotated[
        bool, typer.Option("--not-validated", help="Prune machines that were never validated instead.")
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Delete machines that stopped sending heartbeats (or unvalidated ones)."""
    delta = inactivity(duration)
    with local_service() as svc:
        names = [
            m["machineId"]
            for m in svc.list_machines()
            if (
                not m["isValidated"]
                if not_validated
                else stale(m["last_heartbeat"] or m["created_at"], delta)
            )
        ]
        if not confirm_prune("machines", names, force):
            return
        pruned = run(svc.prune_machines, delta, not_validated)
    typer.echo(f"{len(pruned)} machine(s) pruned")


def stale(iso: str, delta: timedelta) -> bool:
    from crowdwatch.lapi.timefmt import now as utcnow

    return datetime.fromisoformat(iso.removesuffix("Z")).replace(tzinfo=UTC) < utcnow() - delta


def register(app: typer.Typer) -> None:
    app.add_typer(machines_app, name="machines")

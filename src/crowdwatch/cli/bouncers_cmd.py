"""``crowdwatch bouncers``: bouncers (remediation components) and their API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from crowdwatch.cli.listing import check_format, emit
from crowdwatch.cli.machines_cmd import (
    ForceOpt,
    OutputOpt,
    confirm_prune,
    inactivity,
    inspect_component,
    local_service,
    run,
    stale,
)

bouncers_app = typer.Typer(help="Manage bouncers of the local API.", no_args_is_help=True)


@bouncers_app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Bouncer name.")],
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="API key (default: random, printed).")
    ] = None,
) -> None:
    """Register a bouncer; prints its API key (stored hashed, shown only now)."""
    with local_service() as svc:
        api_key = run(svc.add_bouncer, name, key)
    typer.echo(
        f"API key for '{name}':\n\n   {api_key}\n\nPlease keep this key since you will not be able to retrieve it!"
    )


@bouncers_app.command("delete")
def delete_cmd(name: Annotated[str, typer.Argument(help="Bouncer name.")]) -> None:
    """Delete a bouncer (its key stops working)."""
    with local_service() as svc:
        run(svc.delete_bouncer, name)
    typer.echo(f"bouncer '{name}' deleted successfully")


@bouncers_app.command("list")
def list_cmd(output: OutputOpt = "human") -> None:
    """List bouncers."""
    check_format(output)
    with local_service() as svc:
        bouncers = svc.list_bouncers()
    rows = [
        [
            b["name"],
            b["ip_address"],
            not b["revoked"],
            b["last_pull"],
            b["type"],
            b["version"],
            b["auth_type"],
        ]
        for b in bouncers
    ]
    headers = ["Name", "IP Address", "Valid", "Last API Pull", "Type", "Version", "Auth Type"]
    emit(output, bouncers, headers, rows, "No bouncers")


@bouncers_app.command("inspect")
def inspect_cmd(
    name: Annotated[str, typer.Argument(help="Bouncer name.")], output: OutputOpt = "human"
) -> None:
    """Show one bouncer."""
    from crowdwatch.lapi import usage

    inspect_component(usage.BOUNCER, name, output)


@bouncers_app.command("prune")
def prune_cmd(
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="Prune bouncers that have not pulled for this long.")
    ] = "60m",
    force: ForceOpt = False,
) -> None:
    """Delete bouncers that stopped pulling decisions."""
    delta = inactivity(duration)
    with local_service() as svc:
        names = [b["name"] for b in svc.list_bouncers() if stale(b["last_pull"] or b["created_at"], delta)]
        if not confirm_prune("bouncers", names, force):
            return
        pruned = run(svc.prune_bouncers, delta)
    typer.echo(f"{len(pruned)} bouncer(s) pruned")


def register(app: typer.Typer) -> None:
    app.add_typer(bouncers_app, name="bouncers")

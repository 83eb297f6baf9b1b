"""``crowdwatch bouncers``: bouncers (remediation components) and their API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from crowdwatch.cli.machines_cmd import local_service, run

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


def register(app: typer.Typer) -> None:
    app.add_typer(bouncers_app, name="bouncers")

"""``crowdwatch allowlists``: IPs and ranges the local API never bans (newer cscli's verbs and flags)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from crowdwatch.cli.context import CliError
from crowdwatch.cli.listing import check_format, emit, emit_object
from crowdwatch.cli.machines_cmd import local_service, run

allowlists_app = typer.Typer(
    help="Manage allowlists: sources that alerts and decisions never target.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Allowlist name.")]
ValuesArg = Annotated[list[str], typer.Argument(help="IP addresses or CIDR ranges.")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="human, json or raw (CSV).")]


@allowlists_app.command("create")
def create_cmd(
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What the allowlist is for.")],
) -> None:
    """Create an empty allowlist."""
    with local_service() as svc:
        run(svc.create_allowlist, name, description)
    typer.echo(f"allowlist '{name}' created")


@allowlists_app.command("list")
def list_cmd(output: OutputOpt = "human") -> None:
    """List allowlists with their number of entries."""
    check_format(output)
    with local_service() as svc:
        lists = svc.list_allowlists()
    rows = [
        [
            al["name"],
            al["description"],
            al["created_at"],
            al["updated_at"],
            al["console_managed"],
            len(al["items"]),
        ]
        for al in lists
    ]
    headers = ["Name", "Description", "Created At", "Updated At", "Managed By Console", "Size"]
    emit(output, lists, headers, rows, "No allowlists")


@allowlists_app.command("inspect")
def inspect_cmd(name: NameArg, output: OutputOpt = "human") -> None:
    """Show an allowlist and its entries."""
    check_format(output)
    with local_service() as svc:
        al = run(svc.get_allowlist, name)
    if output == "json":
        emit_object(output, al)
        return
    emit_object(output, {k: v for k, v in al.items() if k != "items"})
    typer.echo("")
    rows = [
        [it["value"], it["description"], it["created_at"], it.get("expiration", "never")]
        for it in al["items"]
    ]
    emit(output, al["items"], ["Value", "Comment", "Created At", "Expiration"], rows, "No entries")


def _expiry(text: str | None) -> timedelta | None:
    if not text:
        return None
    from crowdwatch.lapi.timefmt import parse_duration

    delta = run(parse_duration, text, "--expiration")
    if delta <= timedelta(0):
        raise CliError(f"invalid --expiration {text!r}: must be positive")
    return delta


def _normalized(values: list[str]) -> list[str]:
    """Values in the store's spelling (``10.0.0.1/24`` -> ``10.0.0.0/24``), or a CliError."""
    from crowdwatch.lapi.iprange import parse_ip_or_range

    return [run(parse_ip_or_range, v, "value").text for v in values]


@allowlists_app.command("add")
def add_cmd(
    name: NameArg,
    values: ValuesArg,
    expiration: Annotated[
        str | None, typer.Option("--expiration", "-e", help="Entries expire after this long (ie. 1h, 7d).")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", "-d", help="Comment stored with the entries.")] = "",
) -> None:
    """Add entries (active decisions inside them are deleted at once)."""
    from crowdwatch.lapi.timefmt import now as utcnow

    delta = _expiry(expiration)
    wanted = list(dict.fromkeys(_normalized(values)))
    with local_service() as svc:
        present = {it["value"] for it in run(svc.get_allowlist, name)["items"]}
        new = [v for v in wanted if v not in present]
        for v in wanted:
            if v in present:
                typer.echo(f"{v} is already in allowlist '{name}'")
        if not new:
            return
        expires_at = utcnow() + delta if delta is not None else None
        removed = run(svc.add_allowlist_items, name, new, comment, expires_at)
    typer.echo(f"added {len(new)} entr{'y' if len(new) == 1 else 'ies'} to allowlist '{name}'")
    if removed:
        typer.echo(f"{removed} active decision(s) covered by the new entries deleted")


@allowlists_app.command("remove")
def remove_cmd(name: NameArg, values: ValuesArg) -> None:
    """Remove entries."""
    wanted = list(dict.fromkeys(_normalized(values)))
    with local_service() as svc:
        present = {it["value"] for it in run(svc.get_allowlist, name)["items"]}
        missing = [v for v in wanted if v not in present]
        if missing:
            raise CliError(f"not in allowlist '{name}': {', '.join(missing)}")
        count = run(svc.remove_allowlist_items, name, wanted)
    typer.echo(f"removed {count} entr{'y' if count == 1 else 'ies'} from allowlist '{name}'")


@allowlists_app.command("check")
def check_cmd(values: ValuesArg, output: OutputOpt = "human") -> None:
    """Tell whether each IP or range is allowlisted (and by which entries)."""
    from crowdwatch.lapi.iprange import parse_ip_or_range

    check_format(output)
    results: list[dict[str, Any]] = []
    with local_service() as svc:
        for v in values:
            target = run(parse_ip_or_range, v, "value")
            found = run(svc.check_allowlisted, target)
            results.append(
                {"value": v, "allowlisted": bool(found), "reasons": [reason for _, reason in found]}
            )
    if output == "human":
        for r in results:
            if r["allowlisted"]:
                typer.echo(f"{r['value']} is allowlisted by: {'; '.join(r['reasons'])}")
            else:
                typer.echo(f"{r['value']} is not allowlisted")
        return
    rows = [[r["value"], r["allowlisted"], "; ".join(r["reasons"])] for r in results]
    emit(output, results, ["Value", "Allowlisted", "Reasons"], rows, "")


@allowlists_app.command("delete")
def delete_cmd(name: NameArg) -> None:
    """Delete an allowlist and its entries."""
    with local_service() as svc:
        run(svc.delete_allowlist, name)
    typer.echo(f"allowlist '{name}' deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(allowlists_app, name="allowlists")

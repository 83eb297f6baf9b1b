"""``crowdwatch alerts``: list, inspect and delete alerts in the local database (cscli's flags)."""

from __future__ import annotations

from typing import Annotated

import typer

from crowdwatch.cli.context import CliError
from crowdwatch.cli.decisions_cmd import (
    ContainedOpt,
    IpOpt,
    OutputOpt,
    RangeOpt,
    ScenarioOpt,
    ValueOpt,
    target,
)
from crowdwatch.cli.listing import check_format, emit, emit_object
from crowdwatch.cli.machines_cmd import local_service, run

alerts_app = typer.Typer(help="Manage alerts of the local API.", no_args_is_help=True)

ScopeOpt = Annotated[
    str | None, typer.Option("--scope", help="Restrict to alerts of this scope (ie. ip,range).")
]


@alerts_app.command("list")
def list_cmd(
    ip: IpOpt = None,
    range_: RangeOpt = None,
    scope: ScopeOpt = None,
    value: ValueOpt = None,
    scenario: ScenarioOpt = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="Restrict to alerts with this decision type.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", help="Number of alerts (0: no limit).")] = 50,
    machine: Annotated[bool, typer.Option("--machine", "-m", help="Print the machine that sent it.")] = False,
    contained: ContainedOpt = False,
    output: OutputOpt = "human",
) -> None:
    """List alerts, newest first."""
    from crowdwatch.lapi.storage.alerts import AlertQuery

    check_format(output)
    if limit < 0:
        raise CliError("--limit must be 0 or more")
    query = AlertQuery(
        scope=scope,
        value=value,
        scenario=scenario,
        ip=target(ip, range_),
        contains=not contained,
        decision_type=type_,
        limit=limit,
    )
    with local_service() as svc:
        alerts = run(svc.search_alerts, query)
    rows = [
        [
            a["id"],
            f"{a['source']['scope']}:{a['source']['value']}",
            a["scenario"],
            a["source"].get("cn") or "",
            " ".join(sorted({d["type"] for d in a["decisions"]})),
            a["created_at"],
            *([a["machine_id"]] if machine else []),
        ]
        for a in alerts
    ]
    headers = ["ID", "Value", "Reason", "Country", "Decisions", "Created At"] + (
        ["Machine"] if machine else []
    )
    emit(output, alerts, headers, rows, "No active alerts")


@alerts_app.command("inspect")
def inspect_cmd(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")], output: OutputOpt = "human"
) -> None:
    """Show one alert with its decisions."""
    check_format(output)
    with local_service() as svc:
        alert = run(svc.get_alert, alert_id)
    if output == "json":
        emit_object(output, alert)
        return
    emit_object(output, {k: v for k, v in alert.items() if k not in ("decisions", "events", "source")})
    emit_object(output, {f"source.{k}": v for k, v in alert["source"].items()})
    for d in alert["decisions"]:
        typer.echo(f"decision {d['id']}: {d['type']} {d['scope']}:{d['value']} for {d['duration']}")


@alerts_app.command("delete")
def delete_cmd(
    ip: IpOpt = None,
    range_: RangeOpt = None,
    scope: ScopeOpt = None,
    value: ValueOpt = None,
    scenario: ScenarioOpt = None,
    id_: Annotated[int | None, typer.Option("--id", help="Alert id.")] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Delete all alerts.")] = False,
    contained: ContainedOpt = False,
) -> None:
    """Delete alerts (and their decisions, which bouncers then drop)."""
    from crowdwatch.lapi.storage.alerts import AlertQuery

    filters = (ip, range_, scope, value, scenario, id_)
    if all_ and any(f is not None for f in filters):
        raise CliError("--all cannot be combined with other filters")
    if not all_ and all(f is None for f in filters):
        raise CliError("at least one filter or --all must be specified")
    query = AlertQuery(
        id=id_, scope=scope, value=value, scenario=scenario, ip=target(ip, range_), contains=not contained
    )
    with local_service() as svc:
        count = run(svc.delete_alerts, query)
    typer.echo(f"{count} alert(s) deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")

"""``crowdwatch alerts``: list, inspect, delete and flush alerts in the local database (cscli's flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crowdwatch.cli import context
from crowdwatch.cli.backend import RemoteOpt, admin_backend, call
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
    remote: RemoteOpt = False,
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
    with admin_backend(remote) as svc:
        alerts = call(svc.search_alerts, query)
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
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    output: OutputOpt = "human",
    remote: RemoteOpt = False,
) -> None:
    """Show one alert with its decisions."""
    check_format(output)
    with admin_backend(remote) as svc:
        alert = call(svc.get_alert, alert_id)
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
    remote: RemoteOpt = False,
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
    with admin_backend(remote) as svc:
        count = call(svc.delete_alerts, query)
    typer.echo(f"{count} alert(s) deleted")


def _db_bytes(db_file: Path) -> int | None:
    """Size of a SQLite database with its WAL (``None`` for other engines)."""
    if not db_file.is_file():
        return None
    wal = db_file.with_name(db_file.name + "-wal")
    return db_file.stat().st_size + (wal.stat().st_size if wal.is_file() else 0)


@alerts_app.command("flush")
def flush_cmd(
    max_items: Annotated[
        int, typer.Option("--max-items", help="Maximum number of alerts to keep (0: no count limit).")
    ] = 5000,
    max_age: Annotated[
        str, typer.Option("--max-age", help="Maximum age of alerts to keep (ie. 7d, 12h; '' or 0: no limit).")
    ] = "7d",
    output: OutputOpt = "human",
) -> None:
    """Delete old alerts (alerts with an active decision are always kept); SQLite space is reclaimed."""
    from datetime import timedelta

    from crowdwatch.config import ConfigError, load_config
    from crowdwatch.lapi.storage.retention import RetentionPolicy
    from crowdwatch.lapi.timefmt import parse_duration

    check_format(output)
    if max_items < 0:
        raise CliError("--max-items must be 0 or more")
    age = run(parse_duration, max_age, "--max-age") if max_age.strip() else timedelta(0)
    if age < timedelta(0):
        raise CliError(f"invalid --max-age {max_age!r}: must not be negative")
    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    sqlite = cfg.settings.db_config.type == "sqlite"
    before = _db_bytes(cfg.paths.db_path) if sqlite else None
    with local_service() as svc:
        svc.retention = RetentionPolicy(max_items=max_items, max_age=age or None)
        report = run(svc.flush)
    after = _db_bytes(cfg.paths.db_path) if sqlite else None
    doc = {
        "alerts_deleted": report.alerts,
        "decisions_purged": report.decisions,
        "db_bytes_before": before,
        "db_bytes_after": after,
    }
    if output == "json":
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"{report.alerts} alert(s) deleted, {report.decisions} finished decision(s) purged")
    if before is not None and after is not None:
        typer.echo(f"database size: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")

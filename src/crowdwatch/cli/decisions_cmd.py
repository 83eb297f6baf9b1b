"""``crowdwatch decisions``: list, add, delete and import decisions in the local database (cscli's flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crowdwatch.cli.backend import RemoteOpt, admin_backend, call
from crowdwatch.cli.context import CliError
from crowdwatch.cli.listing import check_format, emit
from crowdwatch.cli.machines_cmd import local_service, run
from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.errors import LapiError
from crowdwatch.lapi.iprange import IpRange, parse_ip_or_range

if TYPE_CHECKING:
    from rich.console import Console

    from crowdwatch.lapi.service import LapiService

decisions_app = typer.Typer(help="Manage decisions of the local API.", no_args_is_help=True)

CLI_MACHINE = "crowdwatch-cli"  # machine_id of the alerts carrying decisions added here
CAPI_ORIGINS = ("CAPI", "lists")

IpOpt = Annotated[
    str | None, typer.Option("--ip", "-i", help="Source ip (shorthand for --scope ip --value <IP>).")
]
RangeOpt = Annotated[
    str | None,
    typer.Option("--range", "-r", help="Source range (shorthand for --scope range --value <RANGE>)."),
]
ValueOpt = Annotated[str | None, typer.Option("--value", "-v", help="The value to match in the scope.")]
TypeOpt = Annotated[str | None, typer.Option("--type", "-t", help="Decision type (ie. ban,captcha).")]
ScenarioOpt = Annotated[str | None, typer.Option("--scenario", "-s", help="Scenario name.")]
ContainedOpt = Annotated[
    bool, typer.Option("--contained", help="Match decisions contained by the range (default: containing it).")
]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="human, json or raw (CSV).")]


def target(ip: str | None, range_: str | None) -> IpRange | None:
    if ip and range_:
        raise CliError("--ip and --range are mutually exclusive")
    text = ip or range_
    if text is None:
        return None
    try:
        return parse_ip_or_range(text, "--ip" if ip else "--range")
    except LapiError as exc:
        raise CliError(exc.message) from None


def _rows(alerts: list[dict[str, Any]], machine: bool) -> list[list[Any]]:
    rows = []
    for a in alerts:
        src = a["source"]
        for d in a["decisions"]:
            row = [
                d["id"],
                d["origin"],
                f"{d['scope']}:{d['value']}",
                d["scenario"],
                d["type"],
                src.get("cn") or "",
                f"{src.get('as_number') or ''} {src.get('as_name') or ''}".strip(),
                a["events_count"],
                d["duration"],
                a["id"],
            ]
            if machine:
                row.append(a["machine_id"])
            rows.append(row)
    return rows


_HEADERS = [
    "ID",
    "Source",
    "Scope:Value",
    "Reason",
    "Action",
    "Country",
    "AS",
    "Events",
    "Expiration",
    "Alert ID",
]


@decisions_app.command("list")
def list_cmd(
    ip: IpOpt = None,
    range_: RangeOpt = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="Restrict to this scope (ie. ip,range).")
    ] = None,
    value: ValueOpt = None,
    type_: TypeOpt = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="Restrict to this origin (ie. cscli,crowdsec).")
    ] = None,
    scenario: ScenarioOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Include decisions from the Central API.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-l", help="Number of alerts to get (0: no limit).")] = 100,
    no_simu: Annotated[bool, typer.Option("--no-simu", help="Exclude decisions in simulation mode.")] = False,
    machine: Annotated[
        bool, typer.Option("--machine", "-m", help="Print the machine that sent the alert.")
    ] = False,
    contained: ContainedOpt = False,
    output: OutputOpt = "human",
    remote: RemoteOpt = False,
) -> None:
    """List active decisions (with the alert that brought each)."""
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
        include_simulated=not no_simu,
        has_active_decision=True,
        decision_type=type_,
        origin=origin,
        limit=limit,
    )
    with admin_backend(remote) as svc:
        alerts = call(svc.search_alerts, query)
    for a in alerts:
        a["decisions"] = [
            d
            for d in a["decisions"]
            if (type_ is None or d["type"] == type_)
            and (origin is None or d["origin"] == origin)
            and (all_ or origin is not None or d["origin"] not in CAPI_ORIGINS)
        ]
    alerts = [a for a in alerts if a["decisions"]]
    headers = _HEADERS + (["Machine"] if machine else [])
    emit(output, alerts, headers, _rows(alerts, machine), "No active decisions")


@decisions_app.command("add")
def add_cmd(
    ip: IpOpt = None,
    range_: RangeOpt = None,
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="Decision duration (ie. 1h,4h,30m).")
    ] = "4h",
    value: ValueOpt = None,
    scope: Annotated[str, typer.Option("--scope", help="Decision scope (ie. ip,range,username).")] = "Ip",
    reason: Annotated[
        str | None, typer.Option("--reason", "-R", help="Decision reason (ie. scenario-name).")
    ] = None,
    type_: Annotated[
        str, typer.Option("--type", "-t", help="Decision type (ie. ban,captcha,throttle).")
    ] = "ban",
    remote: RemoteOpt = False,
) -> None:
    """Add a decision (stored with an alert, as cscli does; bouncers see it at their next poll)."""
    from crowdwatch.lapi.timefmt import format_time
    from crowdwatch.lapi.timefmt import now as utcnow

    if ip and range_:
        raise CliError("--ip and --range are mutually exclusive")
    if ip:
        scope, value = "Ip", ip
    elif range_:
        scope, value = "Range", range_
    if not value:
        raise CliError("missing arguments, a value is required (--ip, --range or --scope and --value)")
    scope = normalize_scope(scope)
    reason = reason or f"manual '{type_}' from '{CLI_MACHINE}'"
    stamp = format_time(utcnow())
    alert = {
        "scenario": reason,
        "scenario_hash": "",
        "scenario_version": "",
        "message": reason,
        "events_count": 1,
        "events": [],
        "start_at": stamp,
        "stop_at": stamp,
        "capacity": 0,
        "leakspeed": "0",
        "simulated": False,
        "remediation": True,
        "source": {"scope": scope, "value": value, **({"ip": value} if scope == "Ip" else {})},
        "decisions": [
            {
                "duration": duration,
                "origin": "cscli",
                "scenario": reason,
                "scope": scope,
                "type": type_,
                "value": value,
            }
        ],
    }
    if scope == "Range":
        alert["source"]["range"] = value  # type: ignore[index]
    with admin_backend(remote) as svc:
        call(svc.create_alerts, CLI_MACHINE, [alert])
    typer.echo("Decision successfully added")


@decisions_app.command("delete")
def delete_cmd(
    ip: IpOpt = None,
    range_: RangeOpt = None,
    type_: TypeOpt = None,
    value: ValueOpt = None,
    scope: Annotated[str | None, typer.Option("--scope", help="The scope to match.")] = None,
    scenario: ScenarioOpt = None,
    origin: Annotated[str | None, typer.Option("--origin", help="The origin to match.")] = None,
    id_: Annotated[str | None, typer.Option("--id", help="Decision id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete all decisions.")] = False,
    contained: ContainedOpt = False,
    remote: RemoteOpt = False,
) -> None:
    """Delete active decisions matching the filters (bouncers hear of it in their stream)."""
    from crowdwatch.lapi.storage.decisions import DecisionQuery

    filters = (ip, range_, type_, value, scope, scenario, origin)
    if all_ and (id_ is not None or any(f is not None for f in filters)):
        raise CliError("--all cannot be combined with other filters")
    if id_ is not None and any(f is not None for f in filters):
        raise CliError("--id cannot be combined with other filters")
    if not all_ and id_ is None and all(f is None for f in filters):
        raise CliError("at least one filter or --all must be specified")
    decision_id: int | None = None
    if id_ is not None:
        try:
            decision_id = int(id_)
        except ValueError:
            raise CliError(f"invalid --id {id_!r}: expected a number") from None
    query = DecisionQuery(
        scope=scope,
        value=value,
        type=type_,
        origin=origin,
        scenario=scenario,
        ip=target(ip, range_),
        contains=not contained,
        id=decision_id,
    )
    with admin_backend(remote) as svc:
        count = call(svc.delete_decisions, query)
    typer.echo(f"{count} decision(s) deleted")


IMPORT_BATCH = 10_000  # decisions per alert (and transaction) when --batch is 0
MAX_REPORTED = 20  # invalid entries printed one by one; the rest are counted


def _import_alert(source: str, decisions: list[dict[str, str]]) -> dict[str, Any]:
    """One alert carrying a batch of imported decisions (as cscli does for imports)."""
    from crowdwatch.lapi.timefmt import format_time
    from crowdwatch.lapi.timefmt import now as utcnow

    stamp = format_time(utcnow())
    return {
        "scenario": f"import {source}: {len(decisions)} decisions",
        "scenario_hash": "",
        "scenario_version": "",
        "message": "",
        "events_count": len(decisions),
        "events": [],
        "start_at": stamp,
        "stop_at": stamp,
        "capacity": 0,
        "leakspeed": "",
        "simulated": False,
        "remediation": True,
        "source": {"scope": "cscli/import", "value": source},
        "decisions": decisions,
    }


def _not_allowlisted(
    svc: LapiService, decisions: list[dict[str, str]]
) -> tuple[list[dict[str, str]], list[str]]:
    """Split off Ip/Range decisions covered by an unexpired allowlist entry (the LAPI would drop them)."""
    from crowdwatch.lapi.iprange import for_scope, parse_range
    from crowdwatch.lapi.timefmt import now as utcnow
    from crowdwatch.lapi.timefmt import parse_time

    now = utcnow()
    ranges = [
        r
        for al in svc.list_allowlists()
        for it in al["items"]
        if ("expiration" not in it or parse_time(it["expiration"]) > now)
        and (r := parse_range(it["value"])) is not None
    ]
    if not ranges:
        return decisions, []
    kept, dropped = [], []
    for d in decisions:
        target = for_scope(d["scope"], d["value"])
        if target is not None and any(r.contains(target) for r in ranges):
            dropped.append(d["value"])
        else:
            kept.append(d)
    return kept, dropped


@decisions_app.command("import")
def import_cmd(
    input_: Annotated[Path, typer.Option("--input", "-i", help="File to import ('-' is not supported).")],
    format_: Annotated[
        str | None,
        typer.Option("--format", help="csv, json or values (default: from the file extension, else values)."),
    ] = None,
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="Duration of entries without one (ie. 1h,4h,30m).")
    ] = "4h",
    scope: Annotated[
        str, typer.Option("--scope", help="Scope of entries without one (ie. ip,range).")
    ] = "Ip",
    reason: Annotated[
        str, typer.Option("--reason", "-R", help="Reason (scenario) of entries without one.")
    ] = "manual",
    type_: Annotated[
        str, typer.Option("--type", "-t", help="Type of entries without one (ie. ban).")
    ] = "ban",
    batch: Annotated[
        int, typer.Option("--batch", help=f"Decisions per alert/transaction (0: {IMPORT_BATCH}).")
    ] = 0,
    output: OutputOpt = "human",
) -> None:
    """Import decisions from a CSV file (header with any of duration,origin,reason,scope,type,value),
    a JSON array of such objects, or a plain list of values (one per line)."""
    from crowdwatch.cli.context import err_console
    from crowdwatch.cli.decisions_import import Defaults, ImportFileError, detect_format, read_decisions
    from crowdwatch.lapi.timefmt import parse_duration

    check_format(output)
    if batch < 0:
        raise CliError("--batch must be 0 or more")
    if run(parse_duration, duration, "--duration").total_seconds() <= 0:
        raise CliError(f"invalid --duration {duration!r}: must be positive")
    try:
        fmt = detect_format(input_, format_)
        parsed = read_decisions(
            input_, fmt, Defaults(duration=duration, type=type_, scope=normalize_scope(scope), reason=reason)
        )
    except ImportFileError as exc:
        raise CliError(str(exc)) from None
    err = err_console()
    for where, why in parsed.invalid[:MAX_REPORTED]:
        err.print(f"[yellow]skipped[/] {input_}:{where}: {why}", highlight=False, soft_wrap=True)
    if len(parsed.invalid) > MAX_REPORTED:
        err.print(f"[yellow]skipped[/] {len(parsed.invalid) - MAX_REPORTED} more invalid entries")
    size = batch or IMPORT_BATCH
    with local_service() as svc:
        decisions, allowlisted = _not_allowlisted(svc, parsed.decisions)
        for value in allowlisted[:MAX_REPORTED]:
            err.print(f"[yellow]skipped[/] {value}: allowlisted", highlight=False, soft_wrap=True)
        if len(allowlisted) > MAX_REPORTED:
            err.print(f"[yellow]skipped[/] {len(allowlisted) - MAX_REPORTED} more allowlisted values")
        if decisions:
            _write_batches(svc, input_.name, decisions, size, err)
    summary = {
        "imported": len(decisions),
        "invalid": len(parsed.invalid),
        "duplicates_merged": parsed.duplicates,
        "allowlisted": len(allowlisted),
    }
    if output == "json":
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"{summary['imported']} decision(s) imported ({summary['invalid']} invalid entries skipped, "
            f"{summary['duplicates_merged']} duplicates merged, {summary['allowlisted']} allowlisted)"
        )
    if not decisions:
        raise CliError(f"no decision imported from {input_}")


def _write_batches(
    svc: LapiService, source: str, decisions: list[dict[str, str]], size: int, err: Console
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=len(decisions) <= size or not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=len(decisions))
        for start in range(0, len(decisions), size):
            chunk = decisions[start : start + size]
            run(svc.create_alerts, CLI_MACHINE, [_import_alert(source, chunk)])
            progress.advance(task, len(chunk))


def register(app: typer.Typer) -> None:
    app.add_typer(decisions_app, name="decisions")

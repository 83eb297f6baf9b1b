"""``crowdwatch lapi``: run the Local API in the foreground; ``lapi status`` checks one."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated

import typer

from crowdwatch import aio
from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import Config
from crowdwatch.lapi.errors import ProfileLoadError
from crowdwatch.lapi.storage import DatabaseError

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def with_metrics_listen(cfg: Config, listen: str) -> Config:
    """``cfg`` with the metrics endpoint moved to ``listen`` (HOST:PORT)."""
    from crowdwatch.lapi.server import split_listen

    host, port = split_listen(listen)
    prom = dataclasses.replace(cfg.settings.prometheus, enabled=True, listen_addr=host, listen_port=port)
    return dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings, prometheus=prom))


def lapi_cmd(
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT to listen on (default: api.server.listen_uri).")
    ] = None,
    metrics_listen: str | None = None,
) -> None:
    """Start the Local API server (CrowdSec LAPI v1 compatible) until interrupted."""
    from crowdwatch.lapi import open_lapi
    from crowdwatch.lapi.server import serve, split_listen
    from crowdwatch.lapi.server.options import OptionsError, ServerOptions, ssl_context

    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not cfg.api.server.enable:
        raise CliError(
            f"{cfg.paths.config_file}: api.server.enable is false, so this machine runs no Local API "
            "(set it to true to serve one here; `crowdwatch run` then runs the agent alone)"
        )
    try:
        host, port = split_listen(listen or cfg.api.server.listen_uri)
        if metrics_listen:
            cfg = with_metrics_listen(cfg, metrics_listen)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(
        level=_LEVELS.get(cfg.common.log_level, logging.ERROR), format="%(asctime)s %(levelname)s %(message)s"
    )
    if cfg.common.log_level not in ("trace", "debug"):
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        options = ServerOptions.from_config(cfg.api.server)
        tls = ssl_context(cfg.api.server.tls, cfg.paths.config_dir)
    except OptionsError as exc:
        raise CliError(str(exc)) from None
    try:
        service = open_lapi(cfg)
    except (ProfileLoadError, DatabaseError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    from crowdwatch.metrics.server import metrics_for_lapi, with_metrics

    registry = metrics_for_lapi(cfg)
    try:
        aio.run(
            with_metrics(
                cfg, registry, serve(service, host, port, options=options, tls=tls, registry=registry)
            )
        )
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        service.db.dispose()


def status_cmd(
    output: Annotated[str, typer.Option("--output", "-o", help="human, json or raw.")] = "human",
) -> None:
    """Log in to the LAPI of the credentials file (api.client.credentials_path) and report."""
    import json

    from crowdwatch.cli.backend import call, credentials
    from crowdwatch.cli.listing import check_format
    from crowdwatch.client.admin import AdminClient

    check_format(output)
    creds = credentials()
    with AdminClient(creds, timeout=10.0) as api:
        st = call(api.status)
    doc = {"url": st.url, "login": st.login, "authenticated": True, "health": st.health, "server": st.server}
    if output == "json":
        typer.echo(json.dumps(doc))
        return
    if output == "raw":
        for key, value in doc.items():
            typer.echo(f"{key}: {value}")
        return
    typer.echo(f"Trying to authenticate with username {st.login} on {st.url}")
    typer.echo("You can successfully interact with Local API (LAPI)")
    typer.echo(f"health: {st.health}" + (f" (server: {st.server})" if st.server else ""))


def _lapi_group(
    ctx: typer.Context,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT to listen on (default: api.server.listen_uri).")
    ] = None,
    metrics_listen: Annotated[
        str | None,
        typer.Option(
            "--metrics-listen", hidden=True, help="HOST:PORT of the metrics endpoint (crowdwatch run)."
        ),
    ] = None,
) -> None:
    """Start the Local API server (CrowdSec LAPI v1 compatible) until interrupted; `lapi status`
    checks a running one."""
    if ctx.invoked_subcommand is None:
        lapi_cmd(listen, metrics_listen)
    elif listen is not None:
        raise CliError("--listen goes with `crowdwatch lapi` alone, not with a subcommand")


def register(app: typer.Typer) -> None:
    group = typer.Typer()
    group.callback(invoke_without_command=True)(_lapi_group)
    group.command("status")(status_cmd)
    app.add_typer(group, name="lapi")

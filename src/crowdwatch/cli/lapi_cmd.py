"""``crowdwatch lapi``: run the Local API in the foreground."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.config import ConfigError, load_config
from crowdwatch.lapi.errors import ProfileLoadError
from crowdwatch.lapi.storage import DatabaseError

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def lapi_cmd(
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT to listen on (default: api.server.listen_uri).")
    ] = None,
) -> None:
    """Start the Local API server (CrowdSec LAPI v1 compatible) until interrupted."""
    from crowdwatch.lapi import open_lapi
    from crowdwatch.lapi.server import serve, split_listen
    from crowdwatch.lapi.server.options import OptionsError, ServerOptions, ssl_context

    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        host, port = split_listen(listen or cfg.api.server.listen_uri)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    logging.basicConfig(
        level=_LEVELS.get(cfg.common.log_level, logging.ERROR), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        options = ServerOptions.from_config(cfg.api.server)
        tls = ssl_context(cfg.api.server.tls, cfg.paths.config_dir)
    except OptionsError as exc:
        raise CliError(str(exc)) from None
    try:
        service = open_lapi(cfg)
    except (ProfileLoadError, DatabaseError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    try:
        asyncio.run(serve(service, host, port, options=options, tls=tls))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        service.db.dispose()


def register(app: typer.Typer) -> None:
    app.command("lapi")(lapi_cmd)

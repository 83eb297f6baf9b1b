"""``crowdwatch run``: the single-machine service — the LAPI and the agent in one process.

On first use the configuration directory is created with defaults (SQLite, bundled
content). A local machine is registered and validated in the LAPI's database and its
credentials written to ``api.client.credentials_path`` (mode 0600), so the agent pushes its
alerts over loopback HTTP to its own LAPI, exactly as a remote agent would. Existing
credentials are kept when they still log in to this LAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from crowdwatch.cli import context
from crowdwatch.cli.agent_cmd import open_runtime, run_agent, setup_logging
from crowdwatch.cli.context import CliError
from crowdwatch.client.lapi import Credentials, load_credentials
from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import Config
from crowdwatch.lapi.service import LapiService


def local_url(host: str, port: int, tls: bool) -> str:
    """The loopback URL of a LAPI listening on ``host:port``."""
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def local_machine_id() -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40].strip("-") or "localhost"
    return f"{name}-crowdwatch"


def _logs_in(service: LapiService, creds: Credentials) -> bool:
    from crowdwatch.lapi.errors import LapiError

    try:
        service.login(creds.login, creds.password, [], "127.0.0.1", "crowdwatch-run")
    except LapiError:
        return False
    return True


def write_credentials(path: Path, creds: Credentials) -> None:
    """Write ``local_api_credentials.yaml`` readable by its owner only (created 0600, renamed)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = "".join(
        f"{k}: {json.dumps(v)}\n"
        for k, v in (("url", creds.url), ("login", creds.login), ("password", creds.password))
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_local_machine(cfg: Config, service: LapiService, url: str) -> Credentials:
    """Credentials of a validated machine of ``service`` reachable at ``url`` (see module doc)."""
    path = cfg.paths.credentials_path
    if path.exists():
        with contextlib.suppress(ConfigError):
            creds = load_credentials(path)
            if creds.login and _logs_in(service, creds):
                if creds.url.rstrip("/") != url.rstrip("/"):
                    creds = Credentials(url=url, login=creds.login, password=creds.password)
                    write_credentials(path, creds)
                return creds
    login = local_machine_id()
    password = secrets.token_urlsafe(32)
    from crowdwatch.lapi.errors import LapiError

    try:
        with contextlib.suppress(LapiError):
            service.delete_machine(login)  # ours, from an earlier run whose credentials are gone
        service.register_machine(login, password, "127.0.0.1", validated=True)
    except LapiError as exc:
        raise CliError(f"cannot register the local machine {login!r}: {exc}") from None
    creds = Credentials(url=url, login=login, password=password)
    try:
        write_credentials(path, creds)
    except OSError as exc:
        raise CliError(f"{path}: cannot write LAPI credentials: {exc.strerror or exc}") from None
    return creds


def run_cmd(
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT of the LAPI (default: api.server.listen_uri).")
    ] = None,
) -> None:
    """Run the Local API and the agent together (single-machine install) until interrupted."""
    from crowdwatch.lapi import open_lapi
    from crowdwatch.lapi.errors import ProfileLoadError
    from crowdwatch.lapi.server import serve, split_listen
    from crowdwatch.lapi.server.options import OptionsError, ServerOptions, ssl_context
    from crowdwatch.lapi.storage import DatabaseError
    from crowdwatch.metrics.server import metrics_for_agent, metrics_for_lapi, with_metrics

    try:
        cfg = load_config(context.STATE.config_dir)
        host, port = split_listen(listen or cfg.api.server.listen_uri)
        options = ServerOptions.from_config(cfg.api.server)
        tls = ssl_context(cfg.api.server.tls, cfg.paths.config_dir)
    except (ConfigError, OptionsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    setup_logging(cfg)
    try:
        service = open_lapi(cfg)
    except (ProfileLoadError, DatabaseError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    try:
        creds = ensure_local_machine(cfg, service, local_url(host, port, tls is not None))
        runtime = open_runtime(cfg, creds.login)
        registry = metrics_for_lapi(cfg)
        metrics_for_agent(runtime, cfg, registry)

        async def main() -> None:
            ready = asyncio.Event()
            lapi = asyncio.create_task(
                serve(service, host, port, ready, options=options, tls=tls, registry=registry)
            )
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({lapi, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if lapi.done():
                waiter.cancel()
                runtime.close()
                lapi.result()  # raises the bind error
                return
            try:
                # installed after serve's own handlers: SIGTERM stops the agent first, then the LAPI
                await run_agent(runtime, creds, batch=cfg.crowdwatch.push_batch)
            finally:
                lapi.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lapi

        try:
            asyncio.run(with_metrics(cfg, registry, main()))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        service.db.dispose()


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)

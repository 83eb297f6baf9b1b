"""``crowdwatch run``: the single-machine service — the agent, and the LAPI in a child process.

On first use the configuration directory is created with defaults (SQLite, bundled
content). A local machine is registered and validated in the LAPI's database and its
credentials written to ``api.client.credentials_path`` (mode 0600), so the agent pushes its
alerts over loopback HTTP to its own LAPI, exactly as a remote agent would. Existing
credentials are kept when they still log in to this LAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from crowdwatch.cli import context
from crowdwatch.cli.agent_cmd import open_runtime, run_agent, setup_logging
from crowdwatch.cli.context import CliError
from crowdwatch.client.lapi import Credentials, load_credentials
from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import Config
from crowdwatch.lapi.service import LapiService

log = logging.getLogger(__name__)


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


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the LAPI child if ``crowdwatch run`` dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LapiChild:
    """The LAPI of ``crowdwatch run``, a ``crowdwatch lapi`` child process restarted if it dies."""

    RESTART_MAX = 30.0

    def __init__(self, argv: list[str], health_url: str, ssl: Any) -> None:
        self.argv = argv
        self.health_url = health_url
        self.ssl = ssl
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the child and wait until it answers ``/health``; raises :class:`CliError`."""
        import aiohttp

        self.proc = await asyncio.create_subprocess_exec(*self.argv, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise CliError(
                        f"the LAPI process exited with status {self.proc.returncode} (see its log above)"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(self.health_url, ssl=self.ssl) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise CliError(f"the LAPI process did not answer {self.health_url} within {timeout:.0f} s")

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restart the child (with back-off) whenever it exits before ``stop`` is set."""
        delay = 0.5
        while not stop.is_set():
            assert self.proc is not None
            code = await self.proc.wait()
            if stop.is_set():
                return
            log.error("the LAPI process exited with status %s; restarting it in %.1f s", code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await self.start()
                delay = 0.5
            except CliError as exc:
                log.error("%s", exc)
                delay = min(delay * 2, self.RESTART_MAX)

    async def terminate(self, timeout: float = 20.0) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def run_cmd(
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT of the LAPI (default: api.server.listen_uri).")
    ] = None,
) -> None:
    """Run the Local API and the agent together (single-machine install) until interrupted.

    The LAPI runs in a child process (``crowdwatch lapi``, restarted if it dies) so that
    detection and the API each get a core; the agent pushes to it over loopback HTTP.
    With api.server.enable false, only the agent runs, pushing to the LAPI of the credentials file.
    """
    from crowdwatch.lapi import open_lapi
    from crowdwatch.lapi.errors import ProfileLoadError
    from crowdwatch.lapi.server import split_listen
    from crowdwatch.lapi.server.options import OptionsError, ServerOptions, ssl_context
    from crowdwatch.lapi.storage import DatabaseError
    from crowdwatch.metrics.remote import RemoteCollector
    from crowdwatch.metrics.server import metrics_for_agent, with_metrics

    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not cfg.api.server.enable:
        run_agent_alone(cfg, listen)
        return
    try:
        host, port = split_listen(listen or cfg.api.server.listen_uri)
        ServerOptions.from_config(cfg.api.server)  # checked here: errors before anything starts
        tls = ssl_context(cfg.api.server.tls, cfg.paths.config_dir)
    except (ConfigError, OptionsError, ValueError) as exc:
        raise CliError(str(exc)) from None
    setup_logging(cfg)
    try:
        service = open_lapi(cfg)  # creates/migrates the database before the child opens it
    except (ProfileLoadError, DatabaseError, ConfigError) as exc:
        raise CliError(str(exc)) from None
    url = local_url(host, port, tls is not None)
    try:
        creds = ensure_local_machine(cfg, service, url)
    finally:
        service.db.dispose()
    runtime = open_runtime(cfg, creds.login)
    argv = [sys.executable, "-m", "crowdwatch.cli.main", "--config-dir", str(cfg.paths.config_dir)]
    argv += ["lapi", "--listen", f"{host}:{port}"]
    registry = metrics_for_agent(runtime, cfg)
    if registry is not None:
        metrics_port = free_loopback_port()
        argv += ["--metrics-listen", f"127.0.0.1:{metrics_port}"]
        registry.register(RemoteCollector(f"http://127.0.0.1:{metrics_port}/metrics"))
    child = LapiChild(argv, url + "health", False if tls is not None else None)

    async def main() -> None:
        stop = asyncio.Event()  # set by SIGTERM/SIGINT (from the start: no signal kills us half-way)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await child.start()
        except BaseException:
            runtime.close()
            await child.terminate()
            raise
        lapi_stop = asyncio.Event()
        supervisor = asyncio.create_task(child.supervise(lapi_stop))
        try:
            if stop.is_set():
                runtime.close()
            else:
                await run_agent(runtime, creds, batch=cfg.crowdwatch.push_batch, stop=stop)
        finally:
            lapi_stop.set()  # SIGTERM stops the agent first (last pushes), then the LAPI
            await child.terminate()
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor

    asyncio.run(with_metrics(cfg, registry, main()))


def run_agent_alone(cfg: Config, listen: str | None) -> None:
    """``api.server.enable: false``: no LAPI on this machine; the agent pushes its alerts to
    the LAPI of ``api.client.credentials_path`` (as ``crowdwatch agent`` does)."""
    from crowdwatch.metrics.server import metrics_for_agent, with_metrics

    if listen is not None:
        raise CliError("--listen sets the local LAPI's address, and api.server.enable is false")
    try:
        creds = load_credentials(cfg.paths.credentials_path)
    except ConfigError as exc:
        raise CliError(
            f"{exc} (api.server.enable is false: the agent pushes to the LAPI of this credentials "
            "file; create it with url, login and password of a machine of that LAPI)"
        ) from None
    setup_logging(cfg)
    log.info("api.server.enable is false: running the agent alone, pushing to %s", creds.url)
    runtime = open_runtime(cfg, creds.login)
    registry = metrics_for_agent(runtime, cfg)
    asyncio.run(with_metrics(cfg, registry, run_agent(runtime, creds, batch=cfg.crowdwatch.push_batch)))


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)

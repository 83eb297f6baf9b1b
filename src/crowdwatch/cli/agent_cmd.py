"""``crowdwatch agent``: follow the configured logs, detect, push alerts to the LAPI.

The agent runtime (sources, engine thread, state file) and the pusher share one asyncio
loop: SIGTERM/SIGINT stop cleanly (sources stopped, queued lines processed, bucket state
dumped, queued alerts delivered for a few seconds), SIGHUP reloads items and acquisition
without losing bucket state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import typer

from crowdwatch.agent.pusher import Pusher
from crowdwatch.agent.runtime import AgentError, AgentRuntime
from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.client.lapi import Credentials, LapiClient, load_credentials
from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import Config

log = logging.getLogger("crowdwatch.agent")

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
DRAIN_SECONDS = 5.0


def setup_logging(cfg: Config) -> None:
    logging.basicConfig(
        level=_LEVELS.get(cfg.common.log_level, logging.ERROR),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if cfg.common.log_level not in ("trace", "debug"):
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step is noise


async def run_agent(
    runtime: AgentRuntime,
    creds: Credentials,
    *,
    batch: int,
    stop: asyncio.Event | None = None,
    started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``runtime`` (an :class:`AgentRuntime`) and a pusher to the LAPI of ``creds`` until
    ``stop`` is set or SIGTERM/SIGINT; SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else asyncio.Event()
    reloading: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        log.info("SIGHUP: reloading items and acquisition")
        try:
            await asyncio.to_thread(runtime.reload)
        except AgentError as exc:
            log.error("reload failed, the previous configuration keeps running: %s", exc)

    def on_hup() -> None:
        task = loop.create_task(reload())
        reloading.add(task)
        task.add_done_callback(reloading.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, on_hup)

    scenarios = runtime.engine.scenarios.names if runtime.engine.scenarios is not None else []
    try:
        async with LapiClient(creds, scenarios=scenarios) as client:
            dead_letter = runtime.config.paths.data_dir / "rejected-alerts.jsonl"
            pusher = Pusher(runtime.state, client, batch=batch, dead_letter=dead_letter)
            runtime.on_queued.append(pusher.notify)
            runtime.push_stats = lambda: pusher.stats
            push_task = loop.create_task(pusher.run())
            try:
                await asyncio.to_thread(runtime.start)
                log.info(
                    "agent started: %d sources, %d alerts queued",
                    len(runtime.sources),
                    runtime.state.queue_len(),
                )
                if started is not None:
                    await started()
                await stop.wait()
                log.info("stopping: processing queued lines and saving bucket state")
                for task in list(reloading):
                    with contextlib.suppress(Exception):
                        await task
                await asyncio.to_thread(runtime.stop)
            finally:
                await pusher.stop(DRAIN_SECONDS)
                if not push_task.done():
                    push_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await push_task
    finally:
        await asyncio.to_thread(runtime.close)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        log.info("agent stopped")


def open_runtime(cfg: Config, machine_id: str) -> AgentRuntime:
    """An :class:`AgentRuntime` for ``cfg``; configuration problems become :class:`CliError`."""
    try:
        return AgentRuntime(cfg, machine_id=machine_id)
    except AgentError as exc:
        raise CliError(str(exc)) from None


def agent_cmd() -> None:
    """Follow the configured data sources, detect attacks and push alerts to the LAPI.

    The LAPI and watcher credentials come from api.client.credentials_path
    (local_api_credentials.yaml: url, login, password).
    """
    try:
        cfg = load_config(context.STATE.config_dir)
        creds = load_credentials(cfg.paths.credentials_path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    setup_logging(cfg)
    runtime = open_runtime(cfg, creds.login)
    from crowdwatch.metrics.server import metrics_for_agent, with_metrics

    registry = metrics_for_agent(runtime, cfg)
    asyncio.run(with_metrics(cfg, registry, run_agent(runtime, creds, batch=cfg.crowdwatch.push_batch)))


def register(app: typer.Typer) -> None:
    app.command("agent")(agent_cmd)

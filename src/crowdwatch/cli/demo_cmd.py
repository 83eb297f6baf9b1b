"""``crowdwatch demo``: the single-machine service, live, on the bundled sample attack.

Steps (each one said on stderr):

1. the configuration directory is resolved as for every command (created with defaults on
   first use). When its acquisition has no data source yet, ``acquis.d/crowdwatch-demo.yaml``
   is written, following ``<data_dir>/demo/access.log`` (nginx) and ``auth.log`` (syslog);
   a real acquisition is never touched (the demo then asks for a scratch ``--config-dir``).
   A demo refuses to start beside a running service of the same directory; when the demo
   logs are the only sources, the agent state of an earlier demo is reset (its blackhole
   windows would silence the same attackers for minutes) and the demo logs start empty;
2. ``crowdwatch run`` starts as a child process — the real service, its output in
   ``<log_dir>/demo-run.log`` — on the configured LAPI address, or a free port when that one
   is taken; the demo waits for ``/health`` to answer;
3. the bundled samples are appended to the demo logs over a few seconds, their timestamps
   rewritten to "now" (:mod:`crowdwatch.cli.demo_feed`), while the local database is polled
   for the alerts and decisions the service records;
4. once every attacker a forensic replay of the samples finds has a decision (or after
   ``--timeout``: error naming the run log), the decisions table is printed as
   ``crowdwatch decisions list`` prints it, with the time taken and next steps;
5. the service is stopped with SIGTERM (clean shutdown), or with ``--keep-running`` left
   running until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crowdwatch.cli import context
from crowdwatch.cli.context import CliError
from crowdwatch.cli.demo_feed import DemoLog, Feeder, expected_attackers, schedule
from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import Config

if TYPE_CHECKING:
    from rich.console import Console

    from crowdwatch.lapi.service import LapiService

DEMO_ACQUISITION = "crowdwatch-demo.yaml"
RUN_LOG = "demo-run.log"
# bundled sample → (demo log name, acquisition type)
DEMO_LOGS = (("nginx-access.log", "access.log", "nginx"), ("auth.log", "auth.log", "syslog"))
READY_TIMEOUT = 60.0  # service start (database migration, items) until /health answers
STOP_TIMEOUT = 30.0  # SIGTERM until exit (bucket dump, alerts drained) before SIGKILL
POLL_INTERVAL = 0.25


def demo_logs(cfg: Config) -> list[DemoLog]:
    from crowdwatch.hub.loadout import bundled_content_dir

    samples = bundled_content_dir() / "samples"
    base = cfg.paths.data_dir / "demo"
    return [DemoLog(samples / sample, kind, base / name) for sample, name, kind in DEMO_LOGS]


def _acquisition_yaml(logs: list[DemoLog]) -> str:
    docs = [
        f"source: file\nfilenames:\n  - {json.dumps(str(log.target))}\nlabels:\n  type: {log.type}\n"
        "start_from: beginning\n"
        for log in logs
    ]
    return (
        "# Written by `crowdwatch demo`: follows the demo logs it appends the bundled samples to.\n"
        "# Delete this file once acquis.yaml (or another file of this directory) names real logs.\n"
        + "---\n".join(docs)
    )


def ensure_demo_acquisition(cfg: Config, logs: list[DemoLog]) -> tuple[Path, bool, bool]:
    """(the demo acquisition file, whether it was written now, whether other acquisition
    files name data sources too); see the module doc."""
    from crowdwatch.acquisition.config import load_acquisition

    path = cfg.paths.acquisition_dir / DEMO_ACQUISITION
    try:
        specs = load_acquisition(cfg.paths.acquisition_path, cfg.paths.acquisition_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    real = sorted({s.file for s in specs if Path(s.file) != path})
    if path.exists():
        return path, False, bool(real)
    if real:
        raise CliError(
            f"the acquisition of {cfg.paths.config_dir} already has data sources ({', '.join(real)}); "
            "the demo leaves a real acquisition alone: run it on a scratch directory, e.g. "
            "`crowdwatch --config-dir /tmp/crowdwatch-demo demo`"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_acquisition_yaml(logs), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot write the demo acquisition: {exc.strerror or exc}") from None
    return path, True, False


def reset_demo_state(cfg: Config) -> bool:
    """Forget the agent state of an earlier demo (positions, bucket state and blackhole
    windows: they would silence the same attackers for up to the scenarios' blackhole, 5 min).
    Only called when the demo logs are the only data sources; kept when alerts still wait for
    delivery. Whether the state was removed."""
    from crowdwatch.agent.state import AgentState

    path = cfg.paths.agent_state_path
    if not path.exists():
        return False
    try:
        state = AgentState(path)
        try:
            if state.queue_len():
                return False
        finally:
            state.close()
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
    except Exception:  # an unreadable state: left to the service to report
        return False
    return True


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pick_listen(cfg: Config) -> tuple[str, int, bool]:
    """(host, port, moved): the configured LAPI address, or a free port on the same host."""
    from crowdwatch.lapi.server import split_listen

    try:
        host, port = split_listen(cfg.api.server.listen_uri)
    except ValueError as exc:
        raise CliError(f"api.server.listen_uri: {exc}") from None
    if _port_free(host, port):
        return host, port, False
    return host, _free_port(host), True


def _loopback_tls() -> ssl.SSLContext:
    """TLS for probing our own LAPI over loopback (its certificate may be self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def running_service(cfg: Config) -> str | None:
    """The URL of a LAPI that already accepts this configuration's machine credentials — its
    ``crowdwatch run`` is running (the demo must not start a second agent on the same state)."""
    from crowdwatch.client.lapi import load_credentials

    if not cfg.paths.credentials_path.exists():
        return None
    try:
        creds = load_credentials(cfg.paths.credentials_path)
    except ConfigError:
        return None
    if not creds.url or not creds.login:
        return None
    url = creds.url.rstrip("/") + "/v1/watchers/login"
    body = json.dumps({"machine_id": creds.login, "password": creds.password, "scenarios": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    ctx = _loopback_tls() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
            return creds.url if resp.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the service gets SIGTERM if the demo dies without stopping it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Service:
    """``crowdwatch run`` as a child process of the demo."""

    cfg: Config
    host: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None

    @property
    def url(self) -> str:
        from crowdwatch.cli.run_cmd import local_url

        return local_url(self.host, self.port, bool(self.cfg.api.server.tls.cert_file))

    def start(self) -> None:
        listen = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        argv = [sys.executable, "-m", "crowdwatch.cli.main", "--config-dir", str(self.cfg.paths.config_dir)]
        argv += ["run", "--listen", listen]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the demo only; it stops the service
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 5) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def failed(self, what: str) -> CliError:
        tail = self.log_tail()
        return CliError(f"{what}; see the service log {self.log_path}" + (f":\n{tail}" if tail else ""))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until ``GET /health`` answers; :class:`CliError` if the service exits or times out."""
        ctx = _loopback_tls() if self.url.startswith("https") else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.failed(f"the service exited (status {self.proc.returncode if self.proc else '?'})")
            try:
                with urllib.request.urlopen(self.url + "health", timeout=1, context=ctx) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise self.failed(f"the service did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        return self.exit_code


@dataclass
class Watch:
    """What the demo has seen in the local database: alerts received since ``since`` and the
    active decisions on their sources (a decision already active from an earlier demo is
    extended by the new alert, not duplicated: it counts once the new alert is in)."""

    since: datetime
    expected: dict[str, list[str]]
    seen_at: dict[str, float] = field(default_factory=dict)  # IP → seconds after the first line
    alerted: set[str] = field(default_factory=set)  # IPs with an alert since ``since``
    active: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # IP → alerts with decisions

    def poll(self, svc: LapiService, started: float | None) -> None:
        from crowdwatch.lapi.iprange import parse_ip_or_range
        from crowdwatch.lapi.storage.alerts import AlertQuery

        elapsed = time.monotonic() - started if started is not None else 0.0
        for alert in svc.search_alerts(AlertQuery(since=self.since, scope="Ip")):
            self.alerted.add(alert["source"].get("value", ""))
        for ip in sorted(self.alerted - self.seen_at.keys()):
            query = AlertQuery(ip=parse_ip_or_range(ip, "ip"), has_active_decision=True)
            found = [a for a in svc.search_alerts(query) if a["decisions"]]
            if found:
                self.active[ip] = found
                self.seen_at[ip] = elapsed

    @property
    def complete(self) -> bool:
        return all(ip in self.seen_at for ip in self.expected)

    def missing(self) -> list[str]:
        return [ip for ip in self.expected if ip not in self.seen_at]

    def decisions(self) -> list[dict[str, Any]]:
        out = []
        for ip, alerts in sorted(self.active.items(), key=lambda kv: self.seen_at[kv[0]]):
            for alert in alerts:
                for d in alert["decisions"]:
                    out.append(
                        {
                            "ip": ip,
                            "value": d["value"],
                            "scope": d["scope"],
                            "type": d["type"],
                            "scenario": d["scenario"],
                            "origin": d["origin"],
                            "duration": d["duration"],
                            "alert_id": alert["id"],
                            "seconds_after_first_line": round(self.seen_at[ip], 3),
                        }
                    )
        return out


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM to the demo unwinds it (stopping the service) like Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _feed_and_watch(
    feeder: Feeder, watch: Watch, svc: LapiService, service: Service, timeout: float, err: Console
) -> None:
    """Append the samples on schedule and poll the database until every expected attacker has
    a decision; :class:`CliError` after ``timeout`` seconds or if the service dies."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    feeder.open()
    try:
        with progress:
            lines_task = progress.add_task("appending sample lines  ", total=len(feeder.lines))
            ips_task = progress.add_task("attackers with decision ", total=len(watch.expected))
            deadline = time.monotonic() + timeout
            next_poll = 0.0
            while True:
                wait = feeder.feed_due()
                progress.update(lines_task, completed=feeder.written)
                now = time.monotonic()
                if now >= next_poll:
                    if not service.alive():
                        raise service.failed("the service stopped during the demo")
                    watch.poll(svc, feeder.started)
                    progress.update(ips_task, completed=len(watch.expected) - len(watch.missing()))
                    next_poll = now + POLL_INTERVAL
                    if feeder.done and watch.complete:
                        return
                if now >= deadline:
                    missing = watch.missing()
                    raise service.failed(
                        f"no decision after {timeout:.0f} s for {len(missing)} of the "
                        f"{len(watch.expected)} attacking IPs ({', '.join(missing[:5])}"
                        f"{', …' if len(missing) > 5 else ''})"
                    )
                time.sleep(max(0.01, min(next_poll - now, wait if not feeder.done else POLL_INTERVAL)))
    finally:
        feeder.close()


def _next_steps(cfg: Config, acquisition: Path, keep_running: bool) -> str:
    explicit = context.STATE.config_dir is not None and "CROWDWATCH_CONFIG_DIR" not in os.environ
    cw = f"crowdwatch --config-dir {cfg.paths.config_dir}" if explicit else "crowdwatch"
    running = "" if keep_running else " (while it runs)"
    steps = [
        (f"{cw} decisions list", "the decisions in the local database"),
        (f"{cw} alerts list", "the alerts that brought them"),
        (f"{cw} metrics", f"what the service read, parsed and detected{running}"),
    ]
    if not keep_running:
        steps.append((f"{cw} run", "keep protecting: the service in the foreground"))
    width = max(len(c) for c, _ in steps) + 3
    lines = ["Next steps:", *(f"  {c.ljust(width)}{what}" for c, what in steps)]
    lines.append(
        f"  real logs: name them in {cfg.paths.acquisition_path} (e.g. /var/log/nginx/access.log "
        f"type nginx, /var/log/auth.log type syslog) and delete {acquisition}"
    )
    return "\n".join(lines)


def demo_cmd(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the service running at the end (Ctrl-C stops it).")
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="human or json.")] = "human",
    duration: Annotated[
        float, typer.Option("--duration", help="Seconds over which the sample lines are appended.")
    ] = 6.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the decisions before giving up.")
    ] = 60.0,
) -> None:
    """Start the service on the bundled sample attack, appended live, and show its decisions."""
    if output not in ("human", "json"):
        raise CliError(f"unknown output format {output!r} (expected one of: human, json)")
    if duration < 0 or timeout <= 0:
        raise CliError("--duration must be 0 or more and --timeout positive")
    err = _console()
    try:
        cfg = load_config(context.STATE.config_dir)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    logs = demo_logs(cfg)
    acquisition, written, shared = ensure_demo_acquisition(cfg, logs)
    err.print(f"configuration: {cfg.paths.config_dir}")
    err.print(
        f"acquisition: {'wrote' if written else 'using'} {acquisition} (demo logs in {logs[0].target.parent})"
    )

    from crowdwatch.agent.runtime import AgentError, load_engine

    try:
        expected = expected_attackers(load_engine(cfg), logs, cfg.crowdwatch.max_line_bytes)
    except (AgentError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if not expected:
        raise CliError(
            "the detection items raise no remediation alert on the bundled samples: nothing to show"
        )
    url = running_service(cfg)
    if url is not None:
        raise CliError(
            f"crowdwatch already runs on {cfg.paths.config_dir} (LAPI {url}): stop it first, "
            "or run the demo on a scratch directory (`crowdwatch --config-dir /tmp/crowdwatch-demo demo`)"
        )
    if not shared and reset_demo_state(cfg):
        err.print(f"reset the agent state of the previous demo ({cfg.paths.agent_state_path})")
    for log in logs:  # each demo starts from empty logs (the service reads new files from the start)
        with contextlib.suppress(FileNotFoundError):
            log.target.unlink()

    host, port, moved = pick_listen(cfg)
    if moved:
        err.print(f"[yellow]{cfg.api.server.listen_uri} is in use: the demo's LAPI listens on port {port}[/]")
    service = Service(cfg, host, port, cfg.paths.log_dir / RUN_LOG)
    doc: dict[str, Any] = {}
    interrupted = False
    with _sigterm_as_exit():
        try:
            feeder, watch = _start_and_watch(service, logs, expected, duration, timeout, err)
            doc = {
                "config_dir": str(cfg.paths.config_dir),
                "acquisition": {"file": str(acquisition), "written": written},
                "logs": [{"file": str(log.target), "type": log.type} for log in logs],
                "lapi_url": service.url,
                "run_log": str(service.log_path),
                "lines_appended": feeder.written,
                "expected_attackers": expected,
                "seconds_to_first_decision": round(min(watch.seen_at.values()), 3),
                "seconds_to_all_decisions": round(max(watch.seen_at.values()), 3),
                "decisions": watch.decisions(),
            }
            if output == "human":
                from crowdwatch.cli.decisions_cmd import list_cmd

                list_cmd(output="human")  # exactly `crowdwatch decisions list`
                typer.echo(
                    f"\n{len(expected)} attacking IPs got a decision "
                    f"{doc['seconds_to_all_decisions']:.1f} s after the first sample line was appended "
                    f"(the first one after {doc['seconds_to_first_decision']:.1f} s; "
                    f"{feeder.written} lines over {duration:g} s, live: log → agent → LAPI).\n"
                )
                typer.echo(_next_steps(cfg, acquisition, keep_running))
            if keep_running:
                assert service.proc is not None
                if output == "json":
                    doc["service"] = {"pid": service.proc.pid, "running": True}
                    typer.echo(json.dumps(doc, indent=2))
                    sys.stdout.flush()
                err.print(
                    f"\nthe service keeps running (pid {service.proc.pid}, LAPI {service.url}, "
                    f"log {service.log_path}); Ctrl-C stops it"
                )
                with contextlib.suppress(KeyboardInterrupt):  # the normal end of --keep-running
                    service.proc.wait()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if service.alive():
                err.print(("interrupted: " if interrupted else "") + "stopping the service (SIGTERM)…")
            t_stop = time.monotonic()
            code = service.stop()
            if code in (0, -signal.SIGTERM):
                err.print(f"service stopped cleanly in {time.monotonic() - t_stop:.1f} s")
            elif code is not None:
                err.print(f"[yellow]the service exited with status {code}; see {service.log_path}[/]")
    if interrupted:
        raise typer.Exit(130)
    if output == "json" and not keep_running:
        doc["service"] = {"pid": service.proc.pid if service.proc else None, "exit_code": code}
        typer.echo(json.dumps(doc, indent=2))


def _start_and_watch(
    service: Service,
    logs: list[DemoLog],
    expected: dict[str, list[str]],
    duration: float,
    timeout: float,
    err: Console,
) -> tuple[Feeder, Watch]:
    """Start the service, wait for it, feed the samples and watch the decisions appear."""
    from crowdwatch.lapi import open_lapi

    t_start = time.monotonic()
    service.start()
    assert service.proc is not None
    err.print(f"starting `crowdwatch run` (pid {service.proc.pid}, log {service.log_path})…")
    service.wait_ready()
    err.print(f"service ready in {time.monotonic() - t_start:.1f} s, LAPI on {service.url}")
    feeder = Feeder(schedule(logs), duration)
    watch = Watch(datetime.now(UTC) - timedelta(seconds=1), expected)
    try:
        svc = open_lapi(service.cfg)
    except Exception as exc:  # the service opened the same database a moment ago
        raise service.failed(f"cannot read the service's database: {exc}") from None
    try:
        err.print(
            f"appending {len(feeder.lines)} sample lines over {duration:g} s; "
            f"waiting for decisions on {len(expected)} attacking IPs…"
        )
        _feed_and_watch(feeder, watch, svc, service, timeout, err)
    finally:
        svc.db.dispose()
    return feeder, watch


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)

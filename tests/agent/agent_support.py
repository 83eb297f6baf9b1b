"""Support for the agent tests: a configuration directory with a watched log, a real LAPI in
a thread on its own SQLite file, the ``crowdwatch agent`` subprocess, state inspection."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from crowdwatch.config import load_config
from crowdwatch.config.schema import Config
from crowdwatch.lapi import open_lapi
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage.alerts import AlertQuery
from crowdwatch.scenarios import state

PASSWORD = "agent-test-password-0123"
CROWDWATCH = str(Path(sys.executable).parent / "crowdwatch")


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def attack_line(n: int, ip: str) -> str:
    """A failed SSH authentication (crowdwatch/ssh-bf counts these) numbered ``n``."""
    return f"Mar 10 08:00:02 web1 sshd[{1000 + n % 9000}]: Invalid user u{n} from {ip} port {20000 + n % 40000}\n"


def noise_line(n: int) -> str:
    return f"Mar 10 08:00:03 web1 CRON[{n}]: pam_unix(cron:session): session closed for user root\n"


class AgentEnv:
    """``root/etc`` configuration, ``root/auth.log`` watched (type syslog), a LAPI in a thread."""

    def __init__(self, root: Path, *, checkpoint_interval: str = "200ms") -> None:
        self.root = root
        self.config_dir = root / "etc"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.log = root / "auth.log"
        self.log.touch()
        (self.config_dir / "config.yaml").write_text(
            "common:\n  log_level: info\n"
            f"config_paths:\n  config_dir: {self.config_dir}\n  data_dir: {root / 'data'}\n"
            f"db_config:\n  type: sqlite\n  db_path: {root / 'data' / 'lapi.db'}\n"
            f"crowdwatch:\n  checkpoint_interval: {checkpoint_interval}\n"
        )
        (self.config_dir / "acquis.yaml").write_text(
            f"source: file\nfilenames:\n  - {self.log}\nlabels:\n  type: syslog\nstart_from: beginning\n"
        )
        self.cfg: Config = load_config(self.config_dir)
        self.service: LapiService | None = None
        self.lapi: Any = None
        self.agent: subprocess.Popen[bytes] | None = None
        self.agent_log: IO[bytes] | None = None
        self.written = 0

    # --- the LAPI -------------------------------------------------------------------------

    def start_lapi(self) -> str:
        from lapi_thread import ThreadServer

        self.service = open_lapi(self.cfg)
        self.service.register_machine("agent", PASSWORD, "", True)
        self.lapi = ThreadServer(self.service)
        url = self.lapi.url
        path = self.cfg.paths.credentials_path
        path.write_text(f"url: {url}/\nlogin: agent\npassword: {PASSWORD}\n")
        os.chmod(path, 0o600)
        return str(url)

    def lapi_alerts(self) -> list[tuple[str, str]]:
        assert self.service is not None
        rows = self.service.search_alerts(AlertQuery())
        return sorted((r["scenario"], r["source"]["value"]) for r in rows)

    # --- the agent ------------------------------------------------------------------------

    def start_agent(self) -> subprocess.Popen[bytes]:
        self.agent_log = open(self.root / "agent.log", "ab")  # noqa: SIM115 - closed in stop_agent
        self.agent = subprocess.Popen(
            [CROWDWATCH, "--config-dir", str(self.config_dir), "agent"],
            stdout=self.agent_log,
            stderr=subprocess.STDOUT,
        )
        return self.agent

    def agent_output(self) -> str:
        p = self.root / "agent.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop_agent(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.agent is not None
        if self.agent.poll() is None:
            self.agent.send_signal(sig)
        rc = self.agent.wait(timeout)
        if self.agent_log is not None:
            self.agent_log.close()
        self.agent = None
        return rc

    def close(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait()
        if self.agent_log is not None:
            self.agent_log.close()
        if self.lapi is not None:
            self.lapi.stop()
        if self.service is not None:
            self.service.db.dispose()

    # --- the watched log ------------------------------------------------------------------

    def write(self, lines: list[str]) -> None:
        with open(self.log, "a") as f:
            f.writelines(lines)
        self.written += len(lines)

    # --- the agent's state file (read while the agent runs: WAL readers) -------------------

    def state_rows(self) -> dict[str, dict[str, Any]]:
        path = self.cfg.paths.agent_state_path
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT key, counters FROM positions").fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()
        return {k: orjson.loads(c) if c else {} for k, c in rows}

    def lines_done(self) -> int:
        return sum(int(c.get("lines", 0)) for c in self.state_rows().values())

    def bucket_dump(self) -> dict[str, dict[str, int]] | None:
        db = sqlite3.connect(f"file:{self.cfg.paths.agent_state_path}?mode=ro", uri=True, timeout=10)
        try:
            row = db.execute("SELECT data FROM buckets WHERE id = 1").fetchone()
        finally:
            db.close()
        return state.describe(row[0]) if row else None


def bucket_sizes(dump: dict[str, dict[str, int]], scenario: str) -> dict[str, int]:
    """Bucket key → queued events of ``scenario`` in a bucket dump (``state.describe``)."""
    return dict(dump.get(scenario, {}))

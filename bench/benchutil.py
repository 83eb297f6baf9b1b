"""Shared by the benchmarks: measuring a child process, and a stand-in LAPI for CrowdSec."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
from typing import Any


def vm_hwm_kb(pid: int | str = "self") -> int:
    """Peak resident set of a process's current program (``VmHWM``; 0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float, int, str, str]:
    """Run ``cmd``; (exit code, wall s, cpu s, peak RSS KiB, stdout, stderr) of that child alone.

    The peak RSS is ``VmHWM`` polled every 50 ms, not ``ru_maxrss``: Linux carries the RSS
    a process had before ``exec`` (here: a copy of this driver, holding logs and alerts)
    into ``ru_maxrss``, while ``VmHWM`` only covers the program that runs.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = [0]
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], vm_hwm_kb(proc.pid))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            wall,
            usage.ru_utime + usage.ru_stime,
            peak[0],
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


class FakeLapi:
    """Answers CrowdSec's login and records the alerts it pushes."""

    def __init__(self) -> None:
        self.alerts: list[tuple[str, str, str]] = []  # (scenario, source scope, source value)
        lapi = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "login" in self.path:
                    answer: Any = {"code": 200, "expire": "2099-01-01T00:00:00Z", "token": "bench"}
                else:
                    if self.path.rstrip("/").endswith("/alerts"):
                        for alert in json.loads(body):
                            src = alert.get("source") or {}
                            lapi.alerts.append(
                                (alert["scenario"], src.get("scope", ""), src.get("value", ""))
                            )
                    answer = []
                self._reply(answer)

            def do_GET(self) -> None:
                self._reply([])

            def _reply(self, answer: Any) -> None:
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

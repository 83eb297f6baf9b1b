"""The ``journalctl`` data source: entries of the systemd journal, through ``journalctl``.

``journalctl -o json --no-pager`` runs in a thread with the configured
``journalctl_filter`` arguments appended (matches such as ``_SYSTEMD_UNIT=ssh.service``, or
options such as ``--directory=...``). In ``tail`` mode it also gets ``--follow`` and starts
after the persisted cursor (``--after-cursor``), or at the end of the journal (``-n 0``) when
there is none; ``cat`` mode reads from the persisted cursor or from the start, then stops.

Each entry becomes one line, formatted as journalctl's default ``short`` output that CrowdSec
reads (``Mmm dd hh:mm:ss host identifier[pid]: message``, local time), so the usual
``type: syslog`` label and the ``syslog-logs`` parser apply; binary fields (JSON byte arrays)
are decoded as UTF-8. A multi-line message stays one record (journalctl would print the
continuation lines separately). The record's position is the entry's ``__CURSOR``, its time
the entry's source timestamp (``_SOURCE_REALTIME_TIMESTAMP``, else ``__REALTIME_TIMESTAMP``).

If journalctl exits while following (journal rotation or vacuum, a crash), it is restarted
after the last cursor delivered, with a back-off of :attr:`JournaldSource.restart_delay`
doubling up to :attr:`JournaldSource.max_restart_delay`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

from crowdwatch.acquisition.base import LineRecord, Resume, Sink, SourceCounters, SourceSpec
from crowdwatch.acquisition.file import AcquisitionError
from crowdwatch.acquisition.registry import AcquisitionConfigError, check_options

log = logging.getLogger(__name__)

OPTIONS = frozenset({"journalctl_filter", "journalctl_path"})  # journalctl_path: crowdwatch (tests)
_STABLE_RUN = 10.0  # seconds a journalctl must live for the back-off to start over


def _config_error(spec: SourceSpec, message: str) -> AcquisitionConfigError:
    return AcquisitionConfigError(f"journalctl source: {message}", spec.file, spec.line)


def _text(value: Any) -> str | None:
    """A journal field from ``-o json``: a string, a byte array, or a list of those (repeated
    field: the first value)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        if all(isinstance(b, int) for b in value):
            try:
                return bytes(value).decode("utf-8", "replace")
            except ValueError:
                return None
        return _text(value[0])
    return None


def _usec(value: Any) -> datetime | None:
    text = _text(value)
    if not text or not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text) / 1e6, UTC)


def format_entry(entry: dict[str, Any]) -> tuple[str, datetime | None] | None:
    """The ``short`` line of one JSON journal entry and its time; ``None`` without MESSAGE."""
    message = _text(entry.get("MESSAGE"))
    if message is None:
        return None
    ts = _usec(entry.get("_SOURCE_REALTIME_TIMESTAMP")) or _usec(entry.get("__REALTIME_TIMESTAMP"))
    local = (ts or datetime.now(UTC)).astimezone()
    head = f"{local:%b %d %H:%M:%S}"
    host = _text(entry.get("_HOSTNAME"))
    if host:
        head += f" {host}"
    ident = _text(entry.get("SYSLOG_IDENTIFIER")) or _text(entry.get("_COMM"))
    pid = _text(entry.get("_PID")) or _text(entry.get("SYSLOG_PID"))
    if ident:
        head += f" {ident}[{pid}]" if pid else f" {ident}"
    return f"{head}: {message.rstrip()}", ts


class JournaldSource:
    """Follows (or reads once) the journal through ``journalctl`` (see the module docstring)."""

    OPTION_KEYS = OPTIONS
    restart_delay = 0.5
    max_restart_delay = 30.0

    def __init__(self, spec: SourceSpec, filters: list[str], journalctl: str = "journalctl") -> None:
        self.spec = spec
        self.filters = filters
        self.journalctl = journalctl
        self.key = f"journald:{' '.join(filters)}"
        self.src = f"journalctl-{'.'.join(filters)}"
        self.restarts = 0
        self._counters = SourceCounters(type=spec.labels.get("type", ""))
        self._cursor: str | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> JournaldSource:
        check_options(spec, OPTIONS)
        filters = spec.options.get("journalctl_filter")
        if not isinstance(filters, list) or not filters:
            raise _config_error(spec, "journalctl_filter must be a non-empty list of journalctl arguments")
        if not all(isinstance(f, str) and f for f in filters):
            raise _config_error(spec, "journalctl_filter items must be non-empty strings")
        path = spec.options.get("journalctl_path", "journalctl")
        if not isinstance(path, str) or not path:
            raise _config_error(spec, "journalctl_path must be a path")
        return cls(spec, list(filters), path)

    # -- LiveSource --

    def start(self, sink: Sink, resume: Resume) -> None:
        if self._thread is not None:
            raise RuntimeError("journald source already started")
        exe = shutil.which(self.journalctl)
        if exe is None:
            raise AcquisitionError(f"{self.journalctl}: not found (journalctl source {self.key})")
        cursor = resume(self.key)
        self._cursor = cursor if isinstance(cursor, str) and cursor else None
        self._thread = threading.Thread(target=self._run, args=(exe, sink), name="journald", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            _end(proc)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def counters(self) -> dict[str, SourceCounters]:
        return {self.key: self._counters}

    # -- the reader thread --

    def command(self, exe: str | None = None) -> list[str]:
        """The journalctl command line for the current cursor."""
        cmd = [exe or self.journalctl]
        follow = self.spec.mode != "cat"
        if follow:
            cmd.append("--follow")
        cmd += ["-o", "json", "--no-pager"]
        if self._cursor is not None:
            cmd.append(f"--after-cursor={self._cursor}")
        elif follow:
            cmd += ["-n", "0"]
        return cmd + self.filters

    def _run(self, exe: str, sink: Sink) -> None:
        delay = self.restart_delay
        try:
            while not self._stopping.is_set():
                started = time.monotonic()
                rc, produced, err = self._run_once(exe, sink)
                if self._stopping.is_set():
                    return
                if self.spec.mode == "cat":
                    if rc != 0:
                        self._counters.errors += 1
                        log.error("journalctl %s exited with status %s: %s", self.key, rc, err)
                    return
                if produced or time.monotonic() - started > _STABLE_RUN:
                    delay = self.restart_delay
                log.warning(
                    "journalctl %s exited with status %s (%s); restarting in %.1f s",
                    self.key,
                    rc,
                    err or "no message",
                    delay,
                )
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, self.max_restart_delay)
                self.restarts += 1
        except Exception:  # pragma: no cover - a bug: log it rather than die silently
            log.exception("journald source %s failed", self.key)

    def _run_once(self, exe: str, sink: Sink) -> tuple[int | None, bool, str]:
        """Run journalctl once until it exits; (exit status, whether lines came, stderr tail)."""
        produced = False
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(
                    self.command(exe), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile
                )
            except OSError as e:
                self._counters.errors += 1
                return None, False, str(e)
            with self._lock:
                self._proc = proc
            if self._stopping.is_set():
                _end(proc)
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    if self._handle(raw, sink):
                        produced = True
            finally:
                _end(proc)
                proc.stdout.close()
                with self._lock:
                    self._proc = None
            return proc.returncode, produced, _tail(errfile)

    def _handle(self, raw: bytes, sink: Sink) -> bool:
        try:
            entry = json.loads(raw)
        except ValueError:
            if raw.strip():
                self._counters.errors += 1
                log.debug("journalctl %s: not JSON: %.200r", self.key, raw)
            return False
        if not isinstance(entry, dict):
            self._counters.errors += 1
            return False
        cursor = _text(entry.get("__CURSOR"))
        formatted = format_entry(entry)
        if formatted is None:  # no MESSAGE: nothing to parse, but move past it
            if cursor:
                self._cursor = cursor
            return False
        text, ts = formatted
        self._counters.read += 1
        sink(
            LineRecord(
                key=self.key,
                text=text,
                labels=self.spec.labels,
                module="journalctl",
                src=self.src,
                position=cursor,
                time=ts,
            )
        )
        if cursor:
            self._cursor = cursor
        return True


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (then kill it) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.terminate()
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(errfile: IO[bytes], limit: int = 500) -> str:
    errfile.seek(0, os.SEEK_END)
    size = errfile.tell()
    errfile.seek(max(0, size - limit))
    return errfile.read().decode("utf-8", "replace").strip().replace("\n", " | ")

"""The ``file`` data source, live (``mode: tail``) or once (``mode: cat``) — ENGINE.md §3.2.

One thread per source follows every file its ``filenames`` globs match. Globs are expanded at
start and again every ``discovery_poll_interval`` (1 s by default), so files created while
running are picked up (read from their first byte). The thread wakes up on inotify events
of the files' directories, or every 0.25 s when inotify is unavailable or
``poll_without_inotify: true``; every wake-up reads what was appended to every file.

Lines are split by :func:`crowdwatch.acquisition.file.split_lines`, the scanner replay uses:
a last line without ``\\n`` waits until it is complete, over-long lines are counted as errors
and skipped. In ``tail`` mode the text is passed unmodified (a trailing ``\\r`` is kept, as
CrowdSec does on Linux); ``cat`` mode removes it and decompresses ``.gz`` files.

Positions. Each record carries ``{"dev", "ino", "offset", "head"}``: the file's identity, the
byte offset just after the line and a hash of the file's first ``min(128, offset)`` bytes,
which tells a reused inode or a rewritten file from the one that was read. When a stream
starts, the saved position is honoured if the file at that path is the same one (same
dev/ino/head, size >= offset); if the file was rotated away meanwhile, the rotated file is
looked for in the same directory (same dev/ino and head) and read from the saved offset to its
end before the new file is read from its start; otherwise the file is read from its start.
A tailed file with no saved position starts at its end (CrowdSec's behaviour;
``start_from: beginning`` changes that).

Rotation while running:

* rename (``create`` style): the path now names another inode. The old file stays open and is
  read to its end until it has not grown for :data:`ROTATE_GRACE` seconds (a writer may not
  have reopened its log yet); its unterminated last line, if any, is then emitted and the new
  file is read from offset 0. Lines of one path are delivered in file order.
* copytruncate / truncation: the file is smaller than the offset read, or its first bytes
  changed. If a copy of the old content sits beside it (same head, at least as long as the
  offset), the rest of that copy is read first; then the file is read from offset 0.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import re
import select
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Self

from crowdwatch.acquisition.base import LineRecord, Resume, Sink, SourceCounters, SourceSpec
from crowdwatch.acquisition.file import (
    DEFAULT_MAX_LINE_BYTES,
    AcquisitionError,
    ReadStats,
    open_binary,
    split_lines,
)
from crowdwatch.acquisition.registry import AcquisitionConfigError, check_options

log = logging.getLogger(__name__)

HEAD_BYTES = 128
POLL_INTERVAL = 0.25  # seconds between two passes without inotify (and at most with it)
DISCOVERY_INTERVAL = 1.0  # default seconds between two glob expansions
ROTATE_GRACE = 1.0  # seconds a rotated file must stay unchanged before it is closed
BATCH_LINES = 4096  # lines read from one file before the others get their turn
_END_SCAN = 64 * 1024  # bytes searched backwards for a line start when starting at the end

_INOTIFY_MASK = (
    0x00000002  # MODIFY
    | 0x00000004  # ATTRIB
    | 0x00000008  # CLOSE_WRITE
    | 0x00000040  # MOVED_FROM
    | 0x00000080  # MOVED_TO
    | 0x00000100  # CREATE
    | 0x00000200  # DELETE
)


@dataclass
class _Reader:
    """One open file being read (a path's current file, or a rotated one being finished)."""

    path: str
    f: BinaryIO
    dev: int
    ino: int
    offset: int
    gz: bool = False
    head: str = ""
    head_len: int = -1
    in_long_line: bool = False
    rotated: bool = False
    copy: bool = False  # a complete copy of content read before: closed at its end, no grace
    changed_at: float = field(default_factory=time.monotonic)  # last growth (for ROTATE_GRACE)


@dataclass
class _Stream:
    """A path and the file(s) read for it, first one first."""

    key: str
    path: str
    readers: list[_Reader] = field(default_factory=list)


def _head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _read_head(path: str, n: int) -> bytes | None:
    try:
        with _open_path(path) as f:
            return f.read(n)
    except (OSError, AcquisitionError, EOFError):
        return None


def _open_path(path: str) -> BinaryIO:
    return open_binary(Path(path))


def _duration(value: Any, what: str, spec: SourceSpec) -> float:
    """A Go duration (``500ms``, ``30s``, ``1m``) or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s|m|h)\s*", str(value))
        if not m:
            raise AcquisitionConfigError(
                f"{what}: expected a duration such as 30s, got {value!r}", spec.file, spec.line
            )
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    if seconds <= 0:
        raise AcquisitionConfigError(f"{what}: must be positive", spec.file, spec.line)
    return seconds


class FileSource:
    """Follows (``tail``) or reads once (``cat``) the files named by ``filenames`` globs."""

    OPTION_KEYS = frozenset(
        {
            "filename",
            "filenames",
            "exclude_regexps",
            "poll_without_inotify",
            "force_inotify",
            "max_buffer_size",
            "discovery_poll_enable",
            "discovery_poll_interval",
            "start_from",
        }
    )

    def __init__(
        self,
        spec: SourceSpec,
        patterns: list[str],
        *,
        exclude: Iterable[str] = (),
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        use_inotify: bool = True,
        discovery_interval: float = DISCOVERY_INTERVAL,
        start_from_end: bool = True,
        poll_interval: float = POLL_INTERVAL,
        rotate_grace: float = ROTATE_GRACE,
    ) -> None:
        self.spec = spec
        self.patterns = list(patterns)
        self.exclude = [re.compile(x) for x in exclude]
        self.max_line_bytes = max_line_bytes
        self.use_inotify = use_inotify
        self.discovery_interval = discovery_interval
        self.start_from_end = start_from_end
        self.poll_interval = poll_interval
        self.rotate_grace = rotate_grace
        self.cat = spec.mode == "cat"
        self.labels = dict(spec.labels)
        self._counters: dict[str, SourceCounters] = {}
        self._streams: dict[str, _Stream] = {}
        self._finished_inodes: dict[tuple[int, int], int] = {}  # rotated files closed: final offset
        self._warned: set[str] = set()
        self._resumed: set[str] = set()  # keys whose saved position was used (only at first open)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = False
        self._sink: Sink = lambda rec: None
        self._resume: Resume = lambda key: None
        self._inotify: Any = None
        self._watched: set[str] = set()
        self._wake_r, self._wake_w = -1, -1
        self.inotify_active = False  # for tests and metrics: whether inotify is in use

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> Self:
        check_options(spec, cls.OPTION_KEYS)
        opts = spec.options

        def fail(message: str) -> AcquisitionConfigError:
            return AcquisitionConfigError(message, spec.file, spec.line)

        def str_list(key: str) -> list[str]:
            value = opts.get(key)
            if value is None:
                return []
            if isinstance(value, str):
                return [value]
            if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
                return [str(v) for v in value]
            raise fail(f"{key}: expected a list of strings")

        def flag(key: str) -> bool:
            value = opts.get(key, False)
            if value is None:
                return False
            if not isinstance(value, bool):
                raise fail(f"{key}: expected true or false, got {value!r}")
            return value

        patterns = str_list("filename") + str_list("filenames")
        if not patterns:
            raise fail("file source: filename or filenames is required")
        exclude = str_list("exclude_regexps")
        for x in exclude:
            try:
                re.compile(x)
            except re.error as exc:
                raise fail(f"exclude_regexps: invalid regexp {x!r}: {exc}") from None
        max_line = opts.get("max_buffer_size", DEFAULT_MAX_LINE_BYTES)
        if max_line in (None, 0):
            max_line = DEFAULT_MAX_LINE_BYTES
        if isinstance(max_line, bool) or not isinstance(max_line, int) or max_line < 1:
            raise fail(f"max_buffer_size: expected a positive integer, got {max_line!r}")
        poll = flag("poll_without_inotify")
        if poll and flag("force_inotify"):
            raise fail("poll_without_inotify and force_inotify cannot both be true")
        interval = DISCOVERY_INTERVAL
        if opts.get("discovery_poll_interval") is not None:
            interval = _duration(opts["discovery_poll_interval"], "discovery_poll_interval", spec)
        flag("discovery_poll_enable")  # accepted; discovery always runs
        start = opts.get("start_from", "end")
        if start not in ("end", "beginning"):
            raise fail(f"start_from: must be end or beginning, got {start!r}")
        return cls(
            spec,
            patterns,
            exclude=exclude,
            max_line_bytes=max_line,
            use_inotify=not poll,
            discovery_interval=interval,
            start_from_end=start == "end",
        )

    # --- LiveSource -------------------------------------------------------------------------

    def start(self, sink: Sink, resume: Resume) -> None:
        if self._thread is not None:
            raise RuntimeError("source already started")
        self._sink, self._resume = sink, resume
        self._wake_r, self._wake_w = os.pipe()
        if not self.cat and self.use_inotify:
            self._setup_inotify()
        self._thread = threading.Thread(target=self._run, name=f"file-source:{self.spec.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("file source %s did not stop within %.1fs", self.spec.name, timeout)
                return
        self._close_all()

    @property
    def done(self) -> bool:
        return self._done

    def counters(self) -> dict[str, SourceCounters]:
        return self._counters

    # --- thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.cat:
                self._run_cat()
                return
            self._discover(initial=True)
            next_discovery = time.monotonic() + self.discovery_interval
            while not self._stop.is_set():
                busy = False
                for s in list(self._streams.values()):
                    if self._stop.is_set():
                        break
                    busy |= self._poll_stream(s)
                now = time.monotonic()
                if now >= next_discovery:
                    self._discover(initial=False)
                    next_discovery = now + self.discovery_interval
                if not busy:
                    self._wait(min(self.poll_interval, max(0.0, next_discovery - now)))
        except Exception:  # pragma: no cover - a bug; do not die silently
            log.exception("file source %s stopped on an unexpected error", self.spec.name)
        finally:
            self._done = True

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_r]
        if self._inotify is not None:
            fds.append(self._inotify.fileno())
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            return
        if self._inotify is not None and self._inotify.fileno() in ready:
            with contextlib.suppress(OSError):
                self._inotify.read(timeout=0)

    def _setup_inotify(self) -> None:
        try:
            from inotify_simple import INotify

            self._inotify = INotify()
            self.inotify_active = True
        except (ImportError, OSError) as exc:
            if self.spec.options.get("force_inotify"):
                raise AcquisitionError(f"file source: inotify unavailable: {exc}") from None
            log.warning("file source: inotify unavailable (%s), polling every %ss", exc, self.poll_interval)

    def _watch(self, directory: str) -> None:
        if self._inotify is None or directory in self._watched:
            return
        try:
            self._inotify.add_watch(directory, _INOTIFY_MASK)
            self._watched.add(directory)
        except OSError:
            pass  # does not exist (yet): retried at the next discovery

    def _close_all(self) -> None:
        for s in self._streams.values():
            for r in s.readers:
                with contextlib.suppress(OSError):
                    r.f.close()
            s.readers.clear()
        if self._inotify is not None:
            with contextlib.suppress(OSError):
                self._inotify.close()
            self._inotify = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1

    # --- discovery ------------------------------------------------------------------------

    def _expand(self) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for pattern in self.patterns:
            if glob.has_magic(pattern):
                base = pattern
                while glob.has_magic(base):
                    base = os.path.dirname(base)
                self._watch(base or ".")
                matches = sorted(glob.glob(pattern, recursive=True))
            else:
                self._watch(os.path.dirname(pattern) or ".")
                matches = [pattern]
            for m in matches:
                if m in seen or any(x.search(m) for x in self.exclude):
                    continue
                try:
                    if not stat.S_ISREG(os.stat(m).st_mode):
                        continue
                except OSError:
                    continue
                if not self.cat and m.endswith(".gz"):
                    self._warn_once(m, "%s: compressed files are only read in cat mode, skipped")
                    continue
                seen.add(m)
                out.append(m)
        return out

    def _warn_once(self, path: str, message: str, *args: object) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning(message, path, *args)

    def _counter(self, key: str) -> SourceCounters:
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = SourceCounters(type=self.labels.get("type", ""))
        return c

    def _discover(self, *, initial: bool) -> None:
        open_inodes = {(r.dev, r.ino) for s in self._streams.values() for r in s.readers}
        for path in self._expand():
            if path in self._streams:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in open_inodes:
                continue  # a rotated file still being finished under its old name
            s = _Stream(f"file:{path}", path)
            self._counter(s.key)
            try:
                self._open_stream(s, st, initial=initial)
            except OSError as exc:
                self._warn_once(path, "%s: cannot read: %s", exc.strerror or exc)
                self._counter(s.key).errors += 1
                continue
            self._streams[path] = s
            self._watch(os.path.dirname(path) or ".")

    def _open_stream(self, s: _Stream, st: os.stat_result, *, initial: bool) -> None:
        """Open ``s.path`` at the right offset (saved position, rotated file, start or end)."""
        # the saved position is for the first open of a path in this run; a path that comes back
        # later (deleted, then created again) is a new file
        pos = self._resume(s.key) if s.key not in self._resumed else None
        self._resumed.add(s.key)
        ident = (st.st_dev, st.st_ino)
        gz = self.cat and s.path.endswith(".gz")
        if isinstance(pos, dict) and {"dev", "ino", "offset", "head"} <= pos.keys():
            dev, ino, offset, head = int(pos["dev"]), int(pos["ino"]), int(pos["offset"]), str(pos["head"])
            size_ok = gz or st.st_size >= offset  # a .gz offset counts decompressed bytes
            if (dev, ino) == ident and size_ok and self._head_matches(s.path, offset, head):
                s.readers.append(self._open(s.path, offset))
                return
            old = self._find_rotated(s.path, offset, head, ident=(dev, ino))
            if old is None and (dev, ino) == ident:
                old = self._find_rotated(s.path, offset, head)  # truncated: a copy beside it?
            if old is not None:
                r = self._open(old, offset)
                r.rotated = True
                s.readers.append(r)
            s.readers.append(self._open(s.path, 0))
            return
        if ident in self._finished_inodes:  # a file we finished under another name
            s.readers.append(self._open(s.path, self._finished_inodes.pop(ident)))
            return
        if initial and not self.cat and self.start_from_end:
            r = self._open(s.path, 0)
            r.offset = self._end_offset(r, st.st_size)
            s.readers.append(r)
            return
        s.readers.append(self._open(s.path, 0))

    def _open(self, path: str, offset: int) -> _Reader:
        gz = self.cat and path.endswith(".gz")
        if gz:
            f = _open_path(path)
            st = os.stat(path)
        else:
            f = open(path, "rb")  # noqa: SIM115 - kept open while following the file
            st = os.fstat(f.fileno())
        r = _Reader(path, f, st.st_dev, st.st_ino, offset, gz=gz)
        self._update_head(r)
        return r

    def _end_offset(self, r: _Reader, size: int) -> int:
        """Where a tail from the end starts: just after the last complete line."""
        if size == 0:
            return 0
        start = max(0, size - _END_SCAN)
        data = os.pread(r.f.fileno(), size - start, start)
        nl = data.rfind(b"\n")
        if nl < 0:
            return size if start > 0 else 0
        return start + nl + 1

    # --- identity -------------------------------------------------------------------------

    def _head_of(self, r: _Reader, n: int) -> str:
        if r.gz:
            data = _read_head(r.path, n) or b""
        else:
            data = os.pread(r.f.fileno(), n, 0)
        return _head_hash(data[:n])

    def _update_head(self, r: _Reader) -> None:
        n = min(HEAD_BYTES, r.offset)
        if n != r.head_len:
            r.head = self._head_of(r, n)
            r.head_len = n

    def _head_matches(self, path: str, offset: int, head: str) -> bool:
        data = _read_head(path, min(HEAD_BYTES, offset))
        return data is not None and _head_hash(data) == head

    def _find_rotated(
        self, path: str, offset: int, head: str, *, ident: tuple[int, int] | None = None
    ) -> str | None:
        """A file beside ``path`` holding the content read so far: the same inode (renamed) when
        ``ident`` is given, else a copy (same first bytes), at least ``offset`` bytes long."""
        directory = os.path.dirname(path) or "."
        best: tuple[float, str] | None = None
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return None
        for e in entries:
            if e.path == path or e.name.endswith(".gz"):
                continue
            try:
                st = e.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size < offset:
                continue
            if ident is not None and (st.st_dev, st.st_ino) != ident:
                continue
            if not self._head_matches(e.path, offset, head):
                continue
            if best is None or st.st_mtime > best[0]:
                best = (st.st_mtime, e.path)
        return best[1] if best else None

    # --- reading --------------------------------------------------------------------------

    def _poll_stream(self, s: _Stream) -> bool:
        """Check ``s``'s file for rotation/truncation and read what was appended; True if more
        may be readable at once."""
        try:
            st: os.stat_result | None = os.stat(s.path)
            if st is not None and not stat.S_ISREG(st.st_mode):
                st = None
        except OSError:
            st = None
        cur = s.readers[-1] if s.readers else None
        try:
            if st is not None:
                if cur is None:
                    s.readers.append(self._open(s.path, 0))
                elif (st.st_dev, st.st_ino) != (cur.dev, cur.ino):
                    if not cur.rotated:
                        cur.rotated = True
                        cur.changed_at = time.monotonic()
                    s.readers.append(self._open(s.path, 0))
                elif not cur.rotated and self._truncated(cur, st.st_size):
                    self._restart(s, cur)
            elif cur is not None and not cur.rotated:
                cur.rotated = True
                cur.changed_at = time.monotonic()
        except OSError as exc:
            self._warn_once(s.path, "%s: cannot read: %s", exc.strerror or exc)
        if not s.readers:
            del self._streams[s.path]
            return False
        r = s.readers[0]
        try:
            more = self._read(s, r, final=False)
        except OSError as exc:
            self._counter(s.key).errors += 1
            self._warn_once(s.path, "%s: read error: %s", exc)
            more = False
        if r.rotated and not more and (r.copy or time.monotonic() - r.changed_at >= self.rotate_grace):
            with contextlib.suppress(OSError):
                self._read(s, r, final=True)  # its unterminated last line is complete now
            with contextlib.suppress(OSError):
                r.f.close()
            s.readers.pop(0)
            self._remember_finished(r)
            return bool(s.readers)
        return more

    def _remember_finished(self, r: _Reader) -> None:
        self._finished_inodes[(r.dev, r.ino)] = r.offset
        if len(self._finished_inodes) > 1024:
            self._finished_inodes.pop(next(iter(self._finished_inodes)))

    def _truncated(self, r: _Reader, size: int) -> bool:
        if size < r.offset:
            return True
        return r.head_len > 0 and self._head_of(r, r.head_len) != r.head

    def _restart(self, s: _Stream, r: _Reader) -> None:
        """``r`` (the path's current file) was truncated or rewritten: finish a copy of the old
        content if one sits beside it, then read the file from its start."""
        copy = self._find_rotated(s.path, r.offset, r.head) if r.offset > 0 else None
        if copy is not None:
            c = self._open(copy, r.offset)
            c.rotated = c.copy = True
            s.readers.insert(len(s.readers) - 1, c)
        r.offset = 0
        r.in_long_line = False
        r.head_len = -1
        self._update_head(r)

    def _read(self, s: _Stream, r: _Reader, *, final: bool) -> bool:
        """Deliver the complete lines appended to ``r`` (and with ``final`` its last partial
        line); True if the batch limit stopped reading before the end."""
        if r.gz:
            return self._read_gz(s, r)
        f = r.f
        f.seek(r.offset)
        st = ReadStats()
        base = r.offset
        counters = self._counter(s.key)
        sink, stop = self._sink, self._stop
        labels, key, src = self.labels, s.key, s.path
        head_ok = r.head_len >= HEAD_BYTES
        n = 0
        more = False
        lines = split_lines(
            f, self.max_line_bytes, st, partial=final, strip_cr=self.cat, skip_first=r.in_long_line
        )
        for raw in lines:
            if raw.too_long:
                counters.errors += 1
                continue
            offset = base + st.bytes
            if not head_ok:
                r.offset = offset
                self._update_head(r)
                head_ok = r.head_len >= HEAD_BYTES
            counters.read += 1
            position = {"dev": r.dev, "ino": r.ino, "offset": offset, "head": r.head}
            sink(LineRecord(key, raw.text, labels, "file", src, position))
            n += 1
            if n >= BATCH_LINES or stop.is_set():
                more = True
                break
        if st.bytes:
            r.changed_at = time.monotonic()
        r.offset = base + st.bytes
        r.in_long_line = st.in_long_line
        self._update_head(r)
        return more

    def _read_gz(self, s: _Stream, r: _Reader) -> bool:
        """Cat mode, compressed file: one pass from ``r.offset`` (decompressed bytes) to the end."""
        f = r.f
        st = ReadStats()
        counters = self._counter(s.key)
        first = _read_head(r.path, HEAD_BYTES) or b""
        head128 = _head_hash(first)
        try:
            f.seek(r.offset)
            for raw in split_lines(f, self.max_line_bytes, st):
                if raw.too_long:
                    counters.errors += 1
                    continue
                offset = r.offset + st.bytes
                counters.read += 1
                head = head128 if offset >= HEAD_BYTES else _head_hash(first[:offset])
                position = {"dev": r.dev, "ino": r.ino, "offset": offset, "head": head}
                self._sink(LineRecord(s.key, raw.text, self.labels, "file", s.path, position))
                if self._stop.is_set():
                    break
        except (OSError, EOFError, ValueError) as exc:
            counters.errors += 1
            log.warning("%s: read error: %s", s.path, exc)
        return False

    def _run_cat(self) -> None:
        for path in self._expand():
            if self._stop.is_set():
                return
            s = _Stream(f"file:{path}", path)
            self._counter(s.key)
            try:
                st = os.stat(path)
                self._open_stream(s, st, initial=True)
                for r in s.readers:
                    if r.gz:
                        self._read_gz(s, r)
                    else:
                        while self._read(s, r, final=True) and not self._stop.is_set():
                            pass
            except OSError as exc:
                self._counter(s.key).errors += 1
                log.warning("%s: cannot read: %s", path, exc.strerror or exc)
            finally:
                for r in s.readers:
                    with contextlib.suppress(OSError):
                        r.f.close()
        missing = [p for p in self.patterns if not glob.has_magic(p) and not os.path.isfile(p)]
        for p in missing:
            log.warning("%s: does not exist or is not a file", p)

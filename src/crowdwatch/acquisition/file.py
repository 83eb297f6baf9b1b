"""The ``file`` data source in ``cat`` mode (ENGINE.md §3.2): read a file once, from the start.

Line production follows CrowdSec's line scanner: lines end at ``\\n``, one trailing ``\\r`` is
removed, empty lines are skipped, ``.gz`` files are decompressed. Bytes are decoded as UTF-8
with invalid sequences replaced by U+FFFD, so binary content never raises.

Over-long lines: CrowdSec aborts the whole read of a file at the first line longer than its
buffer (64 KiB by default). crowdwatch instead yields a :class:`RawLine` with
``too_long=True`` holding the first ``max_line_bytes`` bytes, counts it, skips the rest of
that line and keeps reading, so one bad line does not hide the rest of a log. Callers
should not parse such records.
"""

from __future__ import annotations

import glob
import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, NamedTuple

DEFAULT_MAX_LINE_BYTES = 64 * 1024
_DRAIN_CHUNK = 1 << 20


class AcquisitionError(Exception):
    """A data source cannot be opened (message starts with the path)."""


class RawLine(NamedTuple):
    """One line of a file: decoded text (no line terminator), 1-based line number, too-long flag."""

    text: str
    lineno: int
    too_long: bool = False


@dataclass
class ReadStats:
    """Counters of one read: lines yielded, empty lines skipped, too-long lines, bytes, read error."""

    lines: int = 0
    empty: int = 0
    too_long: int = 0
    bytes: int = 0
    error: str = ""

    @property
    def skipped(self) -> int:
        return self.empty + self.too_long


def expand_globs(patterns: Iterable[str]) -> list[Path]:
    """The files named by ``patterns`` (shell globs, ``**`` included), in order, each once.

    A pattern's matches are sorted; directories are skipped. Raises :class:`AcquisitionError`
    for a pattern that names no file.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
        else:
            matches = [Path(pattern)]
        files = [m for m in matches if m.is_file()]
        if not files:
            what = "matches no file" if glob.has_magic(pattern) else "does not exist or is not a file"
            raise AcquisitionError(f"{pattern}: {what}")
        for f in files:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out


def open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing ``.gz`` files (like CrowdSec, by suffix)."""
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise AcquisitionError(f"{path}: cannot open: {exc.strerror or exc}") from None


def read_lines(
    path: str | Path,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    stats: ReadStats | None = None,
) -> Iterator[RawLine]:
    """Yield the non-empty lines of ``path`` (cat mode). Fills ``stats`` as it goes.

    Raises :class:`AcquisitionError` if the file cannot be opened; a read error in the middle
    (corrupt or truncated ``.gz``) ends the iteration and is recorded in ``stats.error``.
    """
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be positive")
    p = Path(path)
    st = stats if stats is not None else ReadStats()
    limit = max_line_bytes + 1  # room for the "\n"
    with open_binary(p) as f:
        readline = partial(f.readline, limit)
        lineno = 0
        try:
            for chunk in iter(readline, b""):
                lineno += 1
                st.bytes += len(chunk)
                if chunk[-1:] == b"\n":
                    body = chunk[:-1]
                elif len(chunk) < limit:
                    body = chunk  # last line without a terminator
                else:
                    st.bytes += _drain_line(f)
                    st.too_long += 1
                    yield RawLine(chunk[:max_line_bytes].decode("utf-8", "replace"), lineno, True)
                    continue
                if body[-1:] == b"\r":
                    body = body[:-1]
                if not body:
                    st.empty += 1
                    continue
                st.lines += 1
                yield RawLine(body.decode("utf-8", "replace"), lineno)
        except (OSError, EOFError, zlib.error) as exc:
            st.error = f"{p}: read error after line {lineno}: {exc}"


def _drain_line(f: BinaryIO) -> int:
    """Skip to just after the next ``\\n`` (or EOF); return the number of bytes skipped."""
    skipped = 0
    while True:
        chunk = f.readline(_DRAIN_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk[-1:] == b"\n":
            return skipped

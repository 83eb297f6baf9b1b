"""The ``file`` data source in ``cat`` mode (ENGINE.md §3.2): read a file once, from the start.

:func:`split_lines` is the one line scanner of crowdwatch: ``replay``, ``explain``, hubtest
and the live file source (:mod:`crowdwatch.acquisition.tail`, which calls it with
``partial=False`` and ``strip_cr=False``) all split and decode lines through it.

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
from functools import partial as partial_fn
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
    lineno: int = 0  # lines seen (numbering of RawLine.lineno)
    in_long_line: bool = False  # tail mode: stopped inside an over-long line (see split_lines)

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
    with open_binary(p) as f:
        try:
            yield from split_lines(f, max_line_bytes, st)
        except (OSError, EOFError, zlib.error) as exc:
            st.error = f"{p}: read error after line {st.lineno}: {exc}"


def split_lines(
    f: BinaryIO,
    max_line_bytes: int,
    st: ReadStats,
    *,
    partial: bool = True,
    strip_cr: bool = True,
    skip_first: bool = False,
) -> Iterator[RawLine]:
    """Split what remains of ``f`` into lines: the one line scanner of cat mode, replay and tail.

    ``st.bytes`` counts the bytes consumed, and is up to date whenever a line is yielded (the
    offset just after that line, relative to where reading started). With ``partial=False``
    (tail mode) a last line without ``\\n`` is neither yielded nor counted, so that reading
    can resume at its start once it is complete; an over-long line whose end has not been
    written yet is yielded (flagged) and ``st.in_long_line`` tells the next call to skip the
    rest of it (``skip_first=True``). ``strip_cr`` removes one trailing ``\\r`` (cat mode).
    Read errors propagate.
    """
    limit = max_line_bytes + 1  # room for the "\n"
    readline = partial_fn(f.readline, limit)
    st.in_long_line = False
    if skip_first:
        skipped, ended = _drain_line(f)
        st.bytes += skipped
        if not ended:
            st.in_long_line = True
            return
    for chunk in iter(readline, b""):
        if chunk[-1:] == b"\n":
            body = chunk[:-1]
        elif len(chunk) < limit:
            if not partial:
                return  # incomplete last line: not consumed
            body = chunk  # last line without a terminator
        else:
            st.lineno += 1
            skipped, ended = _drain_line(f)
            st.bytes += len(chunk) + skipped
            st.too_long += 1
            st.in_long_line = not ended and not partial
            yield RawLine(chunk[:max_line_bytes].decode("utf-8", "replace"), st.lineno, True)
            continue
        st.lineno += 1
        st.bytes += len(chunk)
        if strip_cr and body[-1:] == b"\r":
            body = body[:-1]
        if not body:
            st.empty += 1
            continue
        st.lines += 1
        yield RawLine(body.decode("utf-8", "replace"), st.lineno)


def _drain_line(f: BinaryIO) -> tuple[int, bool]:
    """Skip to just after the next ``\\n`` (or EOF); return the bytes skipped and whether a
    ``\\n`` ended them."""
    skipped = 0
    while True:
        chunk = f.readline(_DRAIN_CHUNK)
        skipped += len(chunk)
        if not chunk:
            return skipped, False
        if chunk[-1:] == b"\n":
            return skipped, True

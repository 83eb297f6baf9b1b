"""The live file source with real files and real threads."""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crowdwatch.acquisition.base import LineRecord, SourceSpec
from crowdwatch.acquisition.tail import FileSource


class Collector:
    """A sink that keeps the records and lets a test wait for them."""

    def __init__(self) -> None:
        self.records: list[LineRecord] = []
        self.cond = threading.Condition()

    def __call__(self, rec: LineRecord) -> None:
        with self.cond:
            self.records.append(rec)
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[LineRecord]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.records) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.records)

    def texts(self) -> list[str]:
        with self.cond:
            return [r.text for r in self.records]

    def last_positions(self) -> dict[str, Any]:
        with self.cond:
            return {r.key: r.position for r in self.records}


def _spec(*patterns: str, mode: str = "tail", **options: Any) -> SourceSpec:
    opts: dict[str, Any] = {"filenames": list(patterns), **options}
    return SourceSpec("file", {"type": "test"}, "acquis.yaml", 1, mode=mode, options=opts)


@pytest.fixture
def run_source() -> Iterator[Callable[..., tuple[FileSource, Collector]]]:
    started: list[FileSource] = []

    def run(
        spec: SourceSpec, resume: Callable[[str], Any] | None = None, **attrs: Any
    ) -> tuple[FileSource, Collector]:
        src = FileSource.from_spec(spec)
        for k, v in attrs.items():
            setattr(src, k, v)
        sink = Collector()
        src.start(sink, resume or (lambda key: None))
        started.append(src)
        return src, sink

    yield run
    for src in started:
        src.stop()


def _append(p: Path, text: str) -> None:
    with p.open("a") as f:
        f.write(text)


def _settle() -> None:
    time.sleep(0.3)  # let the source do its first pass


def test_tail_starts_at_end_and_sees_appends_within_a_second(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\nhalf")
    src, sink = run_source(_spec(str(log)))
    _settle()
    t0 = time.monotonic()
    _append(log, " done\nnew 1\r\n\nnew 2\npartial")
    recs = sink.wait_for(3, timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    # "half" + " done" was written before the start: the line start is before the end
    assert [r.text for r in recs] == ["half done", "new 1\r", "new 2"]  # tail keeps "\r", skips empty
    r = recs[-1]
    assert (r.key, r.module, r.src, r.labels) == (f"file:{log}", "file", str(log), {"type": "test"})
    st = log.stat()
    assert r.position["offset"] == st.st_size - len("partial")
    assert (r.position["dev"], r.position["ino"]) == (st.st_dev, st.st_ino)
    assert src.inotify_active
    _append(log, " line\n")
    assert sink.wait_for(4, timeout=1.0)[-1].text == "partial line"
    assert src.counters()[f"file:{log}"].read == 4


def test_polling_mode_and_start_from_beginning(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("a\nb\n")
    src, sink = run_source(_spec(str(log), poll_without_inotify=True, start_from="beginning"))
    assert sink.wait_for(2, timeout=1.0) and sink.texts() == ["a", "b"]
    assert not src.inotify_active
    t0 = time.monotonic()
    _append(log, "c\n")
    sink.wait_for(3, timeout=1.0)
    assert sink.texts() == ["a", "b", "c"] and time.monotonic() - t0 < 1.0


def test_glob_discovers_new_files_from_their_start_and_excludes(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    (tmp_path / "a.log").write_text("existing\n")
    src, sink = run_source(
        _spec(str(tmp_path / "*.log"), exclude_regexps=[r"skip"], discovery_poll_interval="200ms")
    )
    _settle()
    (tmp_path / "skip.log").write_text("excluded\n")
    (tmp_path / "b.log").write_text("first of b\nsecond of b\n")
    sink.wait_for(2, timeout=2.0)
    _append(tmp_path / "a.log", "appended to a\n")
    sink.wait_for(3, timeout=2.0)
    time.sleep(0.3)
    assert sorted(sink.texts()) == ["appended to a", "first of b", "second of b"]
    assert set(src.counters()) == {f"file:{tmp_path / 'a.log'}", f"file:{tmp_path / 'b.log'}"}


def test_file_that_does_not_exist_yet_is_read_when_it_appears(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "sub" / "later.log"
    _src, sink = run_source(_spec(str(log), discovery_poll_interval="100ms"))
    _settle()
    log.parent.mkdir()
    log.write_text("hello\n")
    assert [r.text for r in sink.wait_for(1, timeout=2.0)] == ["hello"]


def test_over_long_lines_are_counted_and_skipped(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    src, sink = run_source(_spec(str(log), max_buffer_size=10))
    _settle()
    _append(log, "short\n" + "x" * 15)  # the long line is not complete yet
    sink.wait_for(1)
    time.sleep(0.3)
    _append(log, "y" * 30 + "\nafter\n")
    sink.wait_for(2)
    time.sleep(0.2)
    assert sink.texts() == ["short", "after"]
    c = src.counters()[f"file:{log}"]
    assert (c.read, c.errors) == (2, 1)


def _writer(
    path: Path,
    n: int,
    rotate: Callable[[], None],
    rotate_every: int,
    pause: float = 0.0005,
    pause_every: int = 1,
) -> None:
    """Append numbered lines, calling ``rotate`` between some of them (as logrotate would)."""
    f = path.open("a")
    for i in range(n):
        if i and i % rotate_every == 0:
            f.close()
            rotate()
            f = path.open("a")
        f.write(f"line {i:06d}\n")
        f.flush()
        if pause and i % pause_every == 0:
            time.sleep(pause)
    f.close()


def _assert_exactly(texts: list[str], n: int) -> None:
    assert len(texts) == len(set(texts)), "a line was delivered twice"
    missing = {f"line {i:06d}" for i in range(n)} - set(texts)
    assert not missing, f"{len(missing)} lines missing, e.g. {sorted(missing)[:3]}"
    assert len(texts) == n


def test_rename_rotation_during_a_stream(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    _src, sink = run_source(_spec(str(log)), rotate_grace=0.3)
    _settle()
    k = 0

    def rotate() -> None:
        nonlocal k
        k += 1
        os.rename(log, tmp_path / f"app.log.{k}")  # the writer reopens the path: a new file

    n = 3000
    _writer(log, n, rotate, rotate_every=700, pause=0.002, pause_every=100)
    sink.wait_for(n, timeout=10.0)
    time.sleep(0.5)
    texts = sink.texts()
    _assert_exactly(texts, n)
    assert texts == sorted(texts), "lines of one path must come in order"
    assert k == 4


def test_rename_rotation_with_a_late_writer_to_the_old_file(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    _src, sink = run_source(_spec(str(log)), rotate_grace=0.5)
    _settle()
    old = log.open("a")
    old.write("before 1\n")
    old.flush()
    sink.wait_for(1)
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("new 1\n")  # the new file exists before the writer has reopened
    time.sleep(0.1)
    old.write("late to old\n")
    old.close()
    recs = sink.wait_for(3, timeout=3.0)
    assert [r.text for r in recs] == ["before 1", "late to old", "new 1"]


def test_copytruncate_during_a_stream(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    _src, sink = run_source(_spec(str(log)))
    _settle()
    k = 0

    def rotate() -> None:  # logrotate copytruncate (the writer is paused meanwhile)
        nonlocal k
        k += 1
        shutil.copyfile(log, tmp_path / f"app.log.{k}")
        with log.open("r+") as f:
            f.truncate(0)
        time.sleep(0.2)  # rotations are far apart compared with the reader's passes

    n = 6000
    # bursts of 100 lines: the reader is some way behind when the file is copied and truncated
    _writer(log, n, rotate, rotate_every=1100, pause=0.002, pause_every=100)
    sink.wait_for(n, timeout=10.0)
    time.sleep(0.5)
    _assert_exactly(sink.texts(), n)


def test_truncation_restarts_at_zero(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    _src, sink = run_source(_spec(str(log)))
    _settle()
    _append(log, "a fairly long first line\nsecond\n")
    sink.wait_for(2)
    log.write_text("x\n")  # truncated and rewritten, smaller
    sink.wait_for(3)
    log.write_text("y" * 60 + "\n")  # rewritten, larger than before: the head tells
    sink.wait_for(4)
    assert sink.texts() == ["a fairly long first line", "second", "x", "y" * 60]


def test_restart_with_last_position_neither_loses_nor_repeats(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    src, sink = run_source(_spec(str(log)))
    _settle()
    n = 2000
    done = threading.Event()

    def write() -> None:
        with log.open("a") as f:
            for i in range(n):
                f.write(f"line {i:06d}\n")
                f.flush()
                if i % 50 == 0:
                    time.sleep(0.002)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    texts: list[str] = []
    positions: dict[str, Any] = {}
    # stop and restart the source three times while the writer runs
    for _ in range(3):
        time.sleep(0.05)
        src.stop()
        texts += sink.texts()
        positions.update(sink.last_positions())
        saved = dict(positions)
        src, sink = run_source(_spec(str(log)), resume=saved.get)
    t.join()
    sink.wait_for(n - len(texts), timeout=5.0)
    time.sleep(0.3)
    texts += sink.texts()
    _assert_exactly(texts, n)


def test_restart_after_rotation_reads_the_rest_of_the_rotated_file(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    src, sink = run_source(_spec(str(log)))
    _settle()
    _append(log, "one\ntwo\n")
    sink.wait_for(2)
    src.stop()
    positions = sink.last_positions()
    _append(log, "three\n")  # written after the stop, then rotated away
    os.rename(log, tmp_path / "app.log.1")
    log.write_text("four\n")
    _src2, sink2 = run_source(_spec(str(log)), resume=positions.get)
    sink2.wait_for(2, timeout=3.0)
    assert sink2.texts() == ["three", "four"]


def test_inode_reuse_or_rewrite_restarts_at_zero(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    log = tmp_path / "app.log"
    log.write_text("new content 1\nnew content 2\n")
    st = log.stat()
    # a position saved for another file that had this inode (different first bytes)
    stale = {"dev": st.st_dev, "ino": st.st_ino, "offset": 14, "head": "0" * 16}
    src, sink = run_source(_spec(str(log)), resume={f"file:{log}": stale}.get)
    sink.wait_for(2)
    assert sink.texts() == ["new content 1", "new content 2"]
    # a position past the end (the file was truncated while we were down)
    first = sink.records[0].position
    log.write_text("n\n")
    src.stop()
    _src2, sink2 = run_source(_spec(str(log)), resume={f"file:{log}": first}.get)
    sink2.wait_for(1)
    assert sink2.texts() == ["n"]


def test_cat_mode_reads_plain_and_gzip_once(
    tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]
) -> None:
    (tmp_path / "a.log").write_bytes(b"plain 1\r\n\nplain 2")
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(b"gz 1\ngz 2\n"))
    src, sink = run_source(_spec(str(tmp_path / "a.log"), str(tmp_path / "*.gz"), mode="cat"))
    deadline = time.monotonic() + 3
    while not src.done and time.monotonic() < deadline:
        time.sleep(0.02)
    assert src.done
    assert sink.texts() == ["plain 1", "plain 2", "gz 1", "gz 2"]  # cat strips "\r", emits the last line
    gz_pos = sink.records[-1].position
    assert gz_pos["offset"] == len(b"gz 1\ngz 2\n")
    # cat resumes too: a saved position in the gzip file skips what was read
    first_gz = sink.records[2].position
    src2, sink2 = run_source(
        _spec(str(tmp_path / "b.log.gz"), mode="cat"), resume={f"file:{tmp_path / 'b.log.gz'}": first_gz}.get
    )
    sink2.wait_for(1)
    time.sleep(0.2)
    assert src2.done and sink2.texts() == ["gz 2"]


def test_stop_is_prompt(tmp_path: Path, run_source: Callable[..., tuple[FileSource, Collector]]) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    src, _ = run_source(_spec(str(log)))
    _settle()
    t0 = time.monotonic()
    src.stop()
    assert time.monotonic() - t0 < 0.2
    assert src.done

import gzip
from pathlib import Path

import pytest

from crowdwatch.acquisition.file import AcquisitionError, ReadStats, read_lines


def _read(path: Path, **kw: int) -> tuple[list[tuple[str, int, bool]], ReadStats]:
    st = ReadStats()
    return [tuple(r) for r in read_lines(path, stats=st, **kw)], st  # type: ignore[misc]


def test_lines_crlf_empty_and_missing_final_newline(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_bytes(b"one\r\n\r\ntwo\n\nthree\r\r\nlast")
    lines, st = _read(p)
    assert lines == [("one", 1, False), ("two", 3, False), ("three\r", 5, False), ("last", 6, False)]
    assert (st.lines, st.empty, st.too_long, st.skipped) == (4, 2, 0, 2)
    assert st.bytes == p.stat().st_size


def test_gzip_is_decompressed(tmp_path: Path) -> None:
    p = tmp_path / "a.log.gz"
    p.write_bytes(gzip.compress(b"alpha\nbeta\n"))
    lines, st = _read(p)
    assert [t for t, _, _ in lines] == ["alpha", "beta"]
    assert st.error == ""


def test_truncated_gzip_ends_with_error_not_exception(tmp_path: Path) -> None:
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(b"alpha\n" * 1000)[:40])
    lines, st = _read(p)
    assert st.error.startswith(str(p))
    assert len(lines) < 1000


def test_too_long_line_is_flagged_and_reading_continues(tmp_path: Path) -> None:
    p = tmp_path / "long.log"
    p.write_bytes(b"ok\n" + b"x" * 50 + b"\n" + b"y" * 10 + b"\nafter\n")
    lines, st = _read(p, max_line_bytes=10)
    assert lines == [("ok", 1, False), ("x" * 10, 2, True), ("y" * 10, 3, False), ("after", 4, False)]
    assert (st.lines, st.too_long) == (3, 1)


def test_too_long_last_line_without_newline(tmp_path: Path) -> None:
    p = tmp_path / "long.log"
    p.write_bytes(b"a" * 11)
    lines, st = _read(p, max_line_bytes=10)
    assert lines == [("a" * 10, 1, True)]
    assert (st.lines, st.too_long) == (0, 1)


def test_binary_content_never_raises(tmp_path: Path) -> None:
    p = tmp_path / "bin.log"
    p.write_bytes(b"\x00\xff\xfe caf\xc3\xa9 \xe9\n" + bytes(range(256)) * 300)
    lines, st = _read(p)
    assert lines[0][0] == "\x00\ufffd\ufffd café \ufffd"
    assert st.lines + st.too_long == len(lines)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AcquisitionError, match="cannot open"):
        list(read_lines(tmp_path / "nope.log"))

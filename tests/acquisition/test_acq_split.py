"""split_lines in tail mode (partial lines wait, over-long lines across reads)."""

import io

from crowdwatch.acquisition.file import ReadStats, split_lines


def _split(data: bytes, **kw: object) -> tuple[list[tuple[str, bool]], ReadStats]:
    st = ReadStats()
    out = [(r.text, r.too_long) for r in split_lines(io.BytesIO(data), 8, st, **kw)]  # type: ignore[arg-type]
    return out, st


def test_tail_mode_leaves_the_incomplete_last_line_unread() -> None:
    lines, st = _split(b"one\r\ntwo\npart", partial=False, strip_cr=False)
    assert lines == [("one\r", False), ("two", False)]
    assert st.bytes == len(b"one\r\ntwo\n") and not st.in_long_line


def test_cat_mode_emits_it_and_strips_cr() -> None:
    lines, st = _split(b"one\r\ntwo\npart")
    assert lines == [("one", False), ("two", False), ("part", False)]
    assert st.bytes == len(b"one\r\ntwo\npart")


def test_over_long_line_split_across_reads() -> None:
    data = b"ok\n" + b"x" * 20
    lines, st = _split(data, partial=False)
    assert lines == [("ok", False), ("x" * 8, True)]
    assert st.in_long_line and st.bytes == len(data)
    # the rest of the long line arrives: skipped, then normal lines
    lines, st2 = _split(b"xxxx\nnext\n", partial=False, skip_first=True)
    assert lines == [("next", False)] and st2.bytes == 10 and not st2.in_long_line
    # still no end of line: everything is skipped and the flag stays
    lines, st3 = _split(b"xxxx", partial=False, skip_first=True)
    assert lines == [] and st3.in_long_line and st3.bytes == 4

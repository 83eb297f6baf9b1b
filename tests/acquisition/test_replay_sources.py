from pathlib import Path

import pytest

from crowdwatch.acquisition.file import AcquisitionError, expand_globs
from crowdwatch.acquisition.replay import Source, replay
from crowdwatch.event import OVFLW, TIMEMACHINE, Event


class FakeEngine:
    """Parses lines starting with "ok", raises an alert on lines containing "attack"."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, int]] = []
        self.finished = False

    def process(self, evt: Event) -> list[Event]:
        self.seen.append((evt.Line.Raw, evt.Line.Src, evt.Line.Labels["type"], evt.ExpectMode))
        evt.Process = evt.Line.Raw.startswith("ok")
        return [Event(type_=OVFLW)] if "attack" in evt.Line.Raw else []

    def finish(self) -> None:
        self.finished = True


def test_replay_feeds_files_in_order_and_counts(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("ok one\nbad\n\nok attack\n")
    b.write_text("ok two attack\n" + "x" * 50 + "\n")
    engine, alerts, hooks = FakeEngine(), [], []
    stats = replay(
        engine,
        [Source(a, {"type": "nginx"}), Source(b, {"type": "syslog"})],
        alerts.append,
        max_line_bytes=20,
        progress=lambda src: lambda done: hooks.append((src.path.name, done)),
    )
    assert engine.seen == [
        ("ok one", str(a), "nginx", TIMEMACHINE),
        ("bad", str(a), "nginx", TIMEMACHINE),
        ("ok attack", str(a), "nginx", TIMEMACHINE),
        ("ok two attack", str(b), "syslog", TIMEMACHINE),
    ]
    assert engine.finished and len(alerts) == 2
    assert [(s.lines_read, s.parsed, s.alerts, s.read.empty, s.read.too_long) for s in stats] == [
        (3, 2, 1, 1, 0),
        (2, 1, 1, 0, 1),
    ]
    assert hooks[-2:] == [("a.log", a.stat().st_size), ("b.log", b.stat().st_size)]


def test_expand_globs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.log", "a.log", "sub/c.log", "x.txt"):
        (tmp_path / name).write_text("x\n")
    got = expand_globs([str(tmp_path / "*.log"), str(tmp_path / "a.log"), str(tmp_path / "**" / "c.log")])
    assert got == [tmp_path / "a.log", tmp_path / "b.log", tmp_path / "sub" / "c.log"]
    with pytest.raises(AcquisitionError, match="matches no file"):
        expand_globs([str(tmp_path / "*.gz")])
    with pytest.raises(AcquisitionError, match="does not exist or is not a file"):
        expand_globs([str(tmp_path / "sub")])

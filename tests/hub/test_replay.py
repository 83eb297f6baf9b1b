"""Replay of hub tests: document shape, acquisition semantics, override_statics, error tolerance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tests.hub.conftest import write

from crowdwatch.hub.hubtest import FORMAT, Replay, replay
from crowdwatch.hub.hubtest.replay import dumps_document

RAW_PARSER = """\
name: me/raw
filter: "evt.Line.Labels.type == 'demo'"
onsuccess: next_stage
grok:
  pattern: "^%{WORD:verb} %{DATA:rest}$"
  apply_on: Line.Raw
statics:
  - meta: source_ip
    value: "1.2.3.4"
  - meta: datasource_path
    expression: evt.Line.Src
"""
SECOND_RAW = """\
name: me/other
filter: "1 == 2"
statics:
  - meta: never
    value: x
"""
DATE_PARSER = """\
name: me/date
filter: "evt.Parsed.verb != ''"
statics:
  - target: evt.StrTime
    value: "Feb 12 14:10:21"
  - method: ParseDate
    expression: evt.StrTime
"""


@pytest.fixture
def demo(tmp_path: Path, shared_hub: Path) -> tuple[Path, Path]:
    """A hub using the shared snapshot's patterns + a test dir with custom items by path."""
    hub = tmp_path / "hub"
    write(hub / "parsers/s00-raw/me/raw.yaml", RAW_PARSER)
    write(hub / "parsers/s00-raw/me/zz-other.yaml", SECOND_RAW)
    write(hub / "parsers/s01-parse/me/date.yaml", DATE_PARSER)
    (hub / "patterns").symlink_to(shared_hub / "patterns")
    (hub / "data").mkdir()
    test = tmp_path / "cases" / "demo"
    write(test / "demo.log", "GET /a\r\n\nPOST /b\nnomatch\n")
    write(
        test / "config.yaml",
        """\
parsers:
- ./parsers/s01-parse/me/date.yaml
- ./parsers/s00-raw/me/zz-other.yaml
- ./parsers/s00-raw/me/raw.yaml
scenarios: [""]
log_file: demo.log
log_type: demo
labels: {program: demo-app}
override_statics:
 - meta: forced
   value: "007"
""",
    )
    return hub, test


def test_document_shape(demo: tuple[Path, Path]) -> None:
    hub, test = demo
    now = datetime(2026, 3, 1, tzinfo=UTC)
    doc = replay(Replay(test, hub, now=now))
    assert doc["format"] == FORMAT
    assert doc["producer"].startswith("crowdwatch ")
    assert doc["buckets"] == [] and doc["errors"] == []
    parsers = doc["parsers"]
    assert list(parsers) == ["s00-raw", "s01-parse", "success"]
    assert parsers["success"] == {"": []}
    # evaluation order: overrides (00_) first, then raw.yaml, then zz-other.yaml (only on failure)
    assert list(parsers["s00-raw"]) == ["overrides", "me/raw", "me/other"]
    raw = parsers["s00-raw"]["me/raw"]
    assert [e["Success"] for e in raw] == [True, True, False]  # empty line skipped
    assert [e["Idx"] for e in raw] == [2, 2, 2]
    assert len(parsers["s00-raw"]["overrides"]) == 3
    assert len(parsers["s00-raw"]["me/other"]) == 1  # only the line me/raw did not take
    first = raw[0]["Evt"]
    assert first["Line"]["Raw"] == "GET /a"  # CR removed
    assert first["Line"]["Labels"] == {"type": "demo", "program": "demo-app"}
    assert first["Line"]["Module"] == "file"
    assert first["Line"]["Src"] == str(test / "demo.log")
    assert first["ExpectMode"] == 1
    assert first["Parsed"] == {"verb": "GET", "rest": "/a"}
    assert first["Meta"]["forced"] == "007"  # override statics ran before
    date = parsers["s01-parse"]["me/date"][0]["Evt"]
    assert date["Enriched"]["MarshaledTime"] == "2026-02-12T14:10:21Z"  # year from the pinned clock
    assert (
        orjson.loads(dumps_document(doc))["parsers"]["s00-raw"]["me/raw"][0]["Evt"]["Meta"]["forced"] == "007"
    )


def test_records_are_snapshots(demo: tuple[Path, Path]) -> None:
    hub, test = demo
    doc = replay(Replay(test, hub))
    overrides = doc["parsers"]["s00-raw"]["overrides"][0]["Evt"]
    assert "verb" not in overrides["Parsed"]  # taken before me/raw ran


def test_broken_item_still_emits_document(demo: tuple[Path, Path]) -> None:
    hub, test = demo
    (hub / "parsers/s00-raw/me/zz-other.yaml").write_text("name: me/other\nfilter: 'evt.Nope'\nstatics: []\n")
    config = (test / "config.yaml").read_text().replace("- ./parsers/s01-parse/me/date.yaml\n", "- nope/x\n")
    (test / "config.yaml").write_text(config)
    doc = replay(Replay(test, hub))
    assert any("unknown parser 'nope/x'" in e for e in doc["errors"])
    assert any("zz-other.yaml" in e for e in doc["errors"])
    assert [e["Success"] for e in doc["parsers"]["s00-raw"]["me/raw"]] == [True, True, False]


def test_now_from_environment(demo: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    hub, test = demo
    monkeypatch.setenv("CROWDWATCH_HUBTEST_NOW", "2024-05-05T00:00:00Z")
    doc = replay(Replay(test, hub))
    assert doc["parsers"]["s01-parse"]["me/date"][0]["Evt"]["Enriched"]["MarshaledTime"].startswith("2024-")

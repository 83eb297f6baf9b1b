"""Real hub parsers on hubtest lines: node results match the cases' parser.assert lines."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.grok import PatternLibrary
from crowdwatch.parser import LoadContext, ParserFile, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers

SHARED = Path(__file__).resolve().parents[3] / "shared"
HUB = SHARED / "hub"
CASES = SHARED / "hubtest" / "cases"
HUB_PARSERS = {
    "crowdsecurity/syslog-logs": "s00-raw",
    "crowdsecurity/sshd-logs": "s01-parse",
    "crowdsecurity/nginx-logs": "s01-parse",
    "crowdsecurity/dateparse-enrich": "s02-enrich",
}
ASSERT = re.compile(
    r'^results\["([^"]+)"\]\["([^"]+)"\]\[(\d+)\]\.'
    r'(?:Success == (true|false)|Evt\.(Parsed|Meta|Enriched)\["([^"]+)"\] == ("(?:[^"\\]|\\.)*"))$'
)

pytestmark = pytest.mark.skipif(not HUB.is_dir(), reason="shared hub snapshot not available")


def _parser_files(case: Path, config: dict[str, Any]) -> list[ParserFile] | None:
    files = []
    for item in config["parsers"]:
        path = case / item
        name = f"crowdsecurity/{path.stem}" if item.startswith("./") else item
        if name not in HUB_PARSERS:
            return None
        stage = HUB_PARSERS[name]
        if not item.startswith("./") or not path.is_file():  # local copies are not always shipped
            path = HUB / "parsers" / stage / f"{name}.yaml"
        files.append(ParserFile(stage, path))
    return files


def _cases() -> list[Any]:
    out = []
    for case in sorted(CASES.glob("*")) if CASES.is_dir() else []:
        asserts = case / "parser.assert"
        if asserts.is_file() and any(ASSERT.match(x.strip()) for x in asserts.read_text().splitlines()):
            config = yaml.safe_load((case / "config.yaml").read_text())
            if _parser_files(case, config) is not None:
                out.append(pytest.param(case, id=case.name))
    return out


class Recorder:
    def __init__(self) -> None:
        self.results: dict[str, dict[str, list[tuple[bool, dict[str, dict[str, str]]]]]] = {}

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        snapshot = {"Parsed": dict(evt.Parsed), "Meta": dict(evt.Meta), "Enriched": dict(evt.Enriched)}
        self.results.setdefault(stage, {}).setdefault(node_name, []).append((success, snapshot))


def _comparable(field: str, key: str, value: str) -> str:
    if key == "datasource_path":
        return os.path.basename(value)
    if key in ("timestamp", "MarshaledTime"):
        return value[4:]  # year-less syslog dates take the current year
    return value


@pytest.mark.parametrize("case", _cases())
def test_hub_case(case: Path) -> None:
    config = yaml.safe_load((case / "config.yaml").read_text())
    patterns = PatternLibrary.with_base()
    patterns.load_dir(HUB / "patterns")
    files = _parser_files(case, config)
    assert files is not None
    pipe = ParserPipeline.load(files, LoadContext(patterns, HUB / "data", Enrichers(HUB / "data")))
    labels = {"type": config["log_type"], **(config.get("labels") or {})}
    log_file = case / config["log_file"]
    recorder = Recorder()
    for raw in log_file.read_text().splitlines():
        evt = Event(Line(raw=raw, src=str(log_file), labels=labels, module="file"), expect_mode=TIMEMACHINE)
        pipe.process(evt, recorder)

    for line in (case / "parser.assert").read_text().splitlines():
        m = ASSERT.match(line.strip())
        if m is None:
            continue
        stage, node, index, success, field, key, quoted = m.groups()
        entries = recorder.results.get(stage, {}).get(node, [])
        assert int(index) < len(entries), f"{line}: only {len(entries)} results"
        got_success, snapshot = entries[int(index)]
        if success is not None:
            assert got_success == (success == "true"), line
        else:
            want = _comparable(field, key, json.loads(quoted))
            got = _comparable(field, key, snapshot[field].get(key, ""))
            assert got == want, f"{line}: got {snapshot[field].get(key)!r}"


@pytest.mark.parametrize(
    "kind",
    ["parsers", "postoverflows"],
)
def test_every_hub_item_loads(kind: str) -> None:
    patterns = PatternLibrary.with_base()
    patterns.load_dir(HUB / "patterns")
    files = [ParserFile(p.parent.parent.name, p) for p in sorted((HUB / kind).glob("*/*/*.y*ml"))]
    pipe = ParserPipeline.load(files, LoadContext(patterns, HUB / "data", Enrichers(HUB / "data")))
    assert pipe.stages == (
        ["s00-raw", "s01-parse", "s02-enrich"] if kind == "parsers" else ["s00-enrich", "s01-whitelist"]
    )
    assert len(pipe.stats) >= len(files)

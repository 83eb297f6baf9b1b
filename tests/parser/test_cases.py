"""Data-driven parser cases: cases/*.yaml give parser files, events and the expected outcome.

Each case file is a YAML stream of cases::

    name: what the case shows
    parsers: {"<stage>/<file>.yaml": "<parser YAML text>"}
    events:
      - line: raw line            # Line.Raw; ``type`` sets Labels.type (default syslog)
        stage/parsed/meta: ...    # optional preset event fields
        expect:                   # every key optional
          forward: bool           # return value of process()
          process/whitelisted: bool
          stage/reason/strtime/marshaledtime/raw: str
          parsed/meta/enriched/unmarshaled: {key: value}   # subset equality
          no_parsed/no_meta/no_enriched: [key]             # keys that must be absent
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crowdwatch.expr.helpers import stash

from .helpers import build, event

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _load_cases() -> list[Any]:
    out = []
    for path in CASES:
        for case in yaml.safe_load_all(path.read_text()):
            out.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return out


@pytest.mark.parametrize("case", _load_cases())
def test_case(case: dict[str, Any]) -> None:
    stash.reset()
    pipe = build(case["parsers"])
    for i, spec in enumerate(case["events"]):
        evt = event(spec.get("line", ""), spec.get("type", "syslog"))
        evt.Stage = spec.get("stage", "")
        evt.Parsed.update(spec.get("parsed", {}))
        evt.Meta.update(spec.get("meta", {}))
        forward = pipe.process(evt)
        _check(spec.get("expect", {}), evt, forward, f"event {i} ({spec.get('line', '')!r})")


def _check(expect: dict[str, Any], evt: Any, forward: bool, where: str) -> None:
    scalars = {
        "forward": forward,
        "process": evt.Process,
        "whitelisted": evt.Whitelisted,
        "stage": evt.Stage,
        "reason": evt.WhitelistReason,
        "strtime": evt.StrTime,
        "marshaledtime": evt.MarshaledTime,
        "raw": evt.Line.Raw,
    }
    maps = {"parsed": evt.Parsed, "meta": evt.Meta, "enriched": evt.Enriched, "unmarshaled": evt.Unmarshaled}
    for key, want in expect.items():
        if key in scalars:
            assert scalars[key] == want, f"{where}: {key} is {scalars[key]!r}, expected {want!r}"
        elif key in maps:
            got = {k: maps[key].get(k, "<missing>") for k in want}
            assert got == {k: str(v) for k, v in want.items()}, f"{where}: {key} {got!r} != {want!r}"
        elif key.startswith("no_"):
            present = [k for k in want if k in maps[key[3:]]]
            assert not present, f"{where}: {key[3:]} unexpectedly has {present!r}"
        elif key.startswith("has_"):
            missing = [k for k in want if not maps[key[4:]].get(k)]
            assert not missing, f"{where}: {key[4:]} lacks {missing!r}"
        else:
            raise AssertionError(f"unknown expectation {key!r}")

"""Data-driven scenario cases: cases/*.yaml give scenarios, a timeline of events and the
overflows expected from it (the ENGINE.md §13 experiments and more).

Each case file is a YAML stream of cases::

    name: what the case shows
    scenarios: [<scenario file text>, ...]
    events:                      # steps, in order; ``repeat: n`` expands a step n times
      - t: 0                     # replay event, MarshaledTime = 2024-01-01T00:00:00Z + t seconds
        ip: 1.2.3.4              # Meta.source_ip (default 1.2.3.4; null: absent)
        meta: {verb: a}          # more Meta; ``enriched``: Enriched
        time: "..."              # explicit MarshaledTime instead of ``t``
      - {live: true, now: 5}     # LIVE event poured with wall clock 2024-01-01T00:00:05Z
      - {tick: 100}              # ScenarioSet.tick(wall clock + 100 s)
      - {flush: true}
    expect:                      # every overflow, in emission order
      - {step: 3, scenario: me/t, count: 4, start: 0, stop: 0, sources: [1.2.3.4], events: 4,
         message: "..."}         # start/stop: seconds (or RFC 3339 text); all keys but step optional
    stats: {me/t: {overflowed: 2}}   # optional, subset of ScenarioSet.stats
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crowdwatch.event import Event

from .helpers import at, log_event, scenario_set, summary, wall

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _load_cases() -> list[Any]:
    out = []
    for path in CASES:
        for case in yaml.safe_load_all(path.read_text()):
            out.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return out


def _steps(case: dict[str, Any]) -> list[dict[str, Any]]:
    steps = []
    for step in case.get("events", []):
        steps.extend([step] * int(step.get("repeat", 1)))
    return steps


def _event(step: dict[str, Any]) -> Event:
    return log_event(
        step.get("t"),
        ip=step.get("ip", "1.2.3.4"),
        meta={k: str(v) for k, v in (step.get("meta") or {}).items()},
        enriched={k: str(v) for k, v in (step.get("enriched") or {}).items()},
        marshaled=step.get("time"),
        live=bool(step.get("live")),
    )


@pytest.mark.parametrize("case", _load_cases())
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    scen = scenario_set(tmp_path, *case["scenarios"])
    got: list[tuple[int, Event]] = []
    for i, step in enumerate(_steps(case)):
        if "tick" in step:
            out = scen.tick(wall(step["tick"]))
        elif step.get("flush"):
            scen.flush()
            out = []
        else:
            now = wall(step["now"]) if "now" in step else None
            out = scen.pour(_event(step), now=now)
        got.extend((i, o) for o in out)
    expect = case.get("expect") or []
    seen = [f"step {i}: {summary(o)}" for i, o in got]
    assert len(got) == len(expect), f"expected {len(expect)} overflows, got:\n" + "\n".join(seen)
    for n, (want, (step_no, evt)) in enumerate(zip(expect, got)):
        s = summary(evt)
        s["step"] = step_no
        for key, value in want.items():
            if key in ("start", "stop") and not isinstance(value, str):
                value = at(value)
            assert s[key] == value, f"overflow {n}: {key} is {s[key]!r}, expected {value!r}\n" + "\n".join(
                seen
            )
    for name, counters in (case.get("stats") or {}).items():
        st = scen.stats[name].to_dict()
        assert {k: st[k] for k in counters} == counters, f"stats of {name}: {st}"

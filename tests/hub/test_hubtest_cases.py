"""The visible CrowdSec hub tests (../shared/hubtest/cases) replayed in-process.

A test passes when all its checked asserts (parser and scenario) hold; at least 95 % of all
tests must pass, and the assert lines too.
"""

from __future__ import annotations

from pathlib import Path

from crowdwatch.hub.hubtest.runner import run_tests


def test_hub_tests_pass_rate(shared_cases: Path, shared_hub: Path) -> None:
    tests = sorted(p for p in shared_cases.iterdir() if (p / "config.yaml").is_file())
    outcomes = run_tests(tests, shared_hub, tests_root=shared_cases, jobs=0)
    assert not [o.name for o in outcomes if o.error]
    failing = {
        o.name: [
            f"{kind}.assert:{f.line}: {f.status} {f.detail}"
            for kind, section in (("parser", o.parser), ("scenario", o.scenario))
            for f in section.failures[:2]
        ]
        for o in outcomes
        if not o.passed
    }
    passed = sum(o.passed for o in outcomes)
    assert passed / len(outcomes) >= 0.95, f"{passed}/{len(outcomes)} tests passed; failing: {failing}"
    sections = [s for o in outcomes for s in (o.parser, o.scenario) if s.checked]
    assert sum(s.total for s in sections if s.checked and s.total) > 0
    assert any(o.scenario.checked for o in outcomes) and any(o.parser.checked for o in outcomes)
    lines = sum(s.total for s in sections)
    lines_ok = sum(s.passed for s in sections)
    assert lines_ok / lines >= 0.95, f"{lines_ok}/{lines} assert lines passed"

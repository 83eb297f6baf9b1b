"""The visible CrowdSec hub tests (/work/shared/hubtest/cases) replayed in-process: parser asserts ≥ 95 %."""

from __future__ import annotations

from pathlib import Path

from crowdwatch.hub.hubtest.runner import run_tests


def test_parser_assert_pass_rate(shared_cases: Path, shared_hub: Path) -> None:
    tests = sorted(p for p in shared_cases.iterdir() if (p / "config.yaml").is_file())
    outcomes = run_tests(tests, shared_hub, tests_root=shared_cases, jobs=0)
    assert not [o.name for o in outcomes if o.error]
    checked = [o.parser for o in outcomes if o.parser.checked]
    lines = sum(p.total for p in checked)
    passed = sum(p.passed for p in checked)
    failing = {
        o.name: [f"{f.line}: {f.status} {f.detail}" for f in o.parser.failures[:2]]
        for o in outcomes
        if not o.parser.ok
    }
    assert lines > 0
    assert passed / lines >= 0.95, f"{passed}/{lines} parser assert lines passed; failing tests: {failing}"

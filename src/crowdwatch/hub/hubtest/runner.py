"""Run hub tests in-process: replay, then evaluate ``parser.assert`` and ``scenario.assert`` (HUB.md §7.3).

Like ``cscli hubtest run``: parser asserts are checked unless ``ignore_parsers``, scenario
asserts when the test lists a scenario; a checked file must be non-empty and every line true.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crowdwatch.hub.hubtest.asserts import (
    LineResult,
    evaluate_parser_asserts,
    evaluate_scenario_asserts,
    read_assert_lines,
)
from crowdwatch.hub.hubtest.config import load_test_config
from crowdwatch.hub.hubtest.replay import Replay, default_now, replay
from crowdwatch.hub.index import HubError


@dataclass
class SectionResult:
    """One assert file's outcome."""

    checked: bool
    total: int = 0
    passed: int = 0
    failures: list[LineResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.checked or (self.total > 0 and self.passed == self.total)


@dataclass
class TestOutcome:
    """The verdict of one test: ``pass``, ``fail`` or ``error`` (the test could not be replayed)."""

    __test__ = False  # not a pytest class

    name: str
    parser: SectionResult
    scenario: SectionResult = field(default_factory=lambda: SectionResult(checked=False))
    error: str = ""
    replay_errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        return "pass" if self.parser.ok and self.scenario.ok else "fail"

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        return d


def _section(
    checked: bool, path: Path, evaluate: Callable[[list[tuple[int, str]]], list[LineResult]]
) -> SectionResult:
    section = SectionResult(checked=checked)
    if not checked:
        return section
    lines = read_assert_lines(path)
    section.total = len(lines)
    results = evaluate(lines)
    section.passed = sum(r.status == "PASS" for r in results)
    section.failures = [r for r in results if r.status != "PASS"]
    return section


def run_test(
    test_dir: Path, hub_dir: Path, *, tests_root: Path | None = None, now: datetime | None = None
) -> TestOutcome:
    """Replay one test and evaluate its asserts."""
    name = test_dir.name
    try:
        cfg = load_test_config(test_dir)
        doc = replay(Replay(test_dir, hub_dir, tests_root=tests_root, now=now or default_now()))
    except HubError as exc:
        return TestOutcome(name, SectionResult(checked=False), error=str(exc))
    parser = _section(
        not cfg.ignore_parsers,
        test_dir / "parser.assert",
        lambda lines: evaluate_parser_asserts(lines, doc["parsers"]),
    )
    scenario = _section(
        cfg.checks_scenarios,
        test_dir / "scenario.assert",
        lambda lines: evaluate_scenario_asserts(lines, doc["buckets"]),
    )
    return TestOutcome(name, parser, scenario, replay_errors=doc["errors"])


def _run_packed(args: tuple[Path, Path, Path | None, datetime | None]) -> TestOutcome:
    test_dir, hub_dir, tests_root, now = args
    return run_test(test_dir, hub_dir, tests_root=tests_root, now=now)


def run_tests(
    test_dirs: Sequence[Path],
    hub_dir: Path,
    *,
    tests_root: Path | None = None,
    now: datetime | None = None,
    jobs: int = 0,
) -> list[TestOutcome]:
    """Run tests, in ``jobs`` worker processes (0: one per CPU; 1: in this process), in order."""
    workers = min(jobs or os.cpu_count() or 1, len(test_dirs))
    packed = [(t, hub_dir, tests_root, now) for t in test_dirs]
    if workers <= 1:
        return [_run_packed(p) for p in packed]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run_packed, packed))

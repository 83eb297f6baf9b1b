"""Replay one hub test and build the ``crowdsec-hubtest-results/v1`` document (OUTPUT_CONTRACT.md §2-3).

Acquisition is hubtest's: every non-empty line of the log file is one TIMEMACHINE event, in
file order, labelled ``{type: log_type} + labels``, with a clock pinned in 2026 (the hub's
asserts embed the year in which they were generated; year-less timestamps take the year of
the replay clock).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from crowdwatch import __version__
from crowdwatch.acquisition.file import AcquisitionError, ReadStats, read_lines
from crowdwatch.engine import DetectionEngine
from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.expr.helpers import stash
from crowdwatch.hub.hubtest.config import OVERRIDES_FILE, OVERRIDES_STAGE, TestConfig, load_test_config
from crowdwatch.hub.index import Hub, HubError, HubItem
from crowdwatch.hub.loadout import (
    install_order,
    load_scenarios,
    load_tolerant,
    make_context,
    scenario_files,
    sort_files,
)
from crowdwatch.parser import ParserFile, ParserLoadError

FORMAT = "crowdsec-hubtest-results/v1"
NOW_ENV = "CROWDWATCH_HUBTEST_NOW"
DEFAULT_NOW = datetime(2026, 8, 22, 0, 0, 0, tzinfo=UTC)
"""Replay clock: the hub snapshot's date (year-less log timestamps become 2026)."""


def parse_now(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 instant (naive values are UTC)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HubError(f"invalid replay clock {text!r}: expected e.g. 2026-08-22T00:00:00Z") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def default_now() -> datetime:
    """The replay clock: ``$CROWDWATCH_HUBTEST_NOW`` if set, else :data:`DEFAULT_NOW`."""
    text = os.environ.get(NOW_ENV, "")
    return parse_now(text) if text else DEFAULT_NOW


class ResultRecorder:
    """Collects one ``{Idx, Success, Evt}`` entry per node evaluation (OUTPUT_CONTRACT.md §3.1)."""

    __slots__ = ("_idx", "results")

    def __init__(self) -> None:
        self.results: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._idx: dict[tuple[str, str], int] = {}

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        nodes = self.results.get(stage)
        if nodes is None:
            nodes = self.results[stage] = {}
        entries = nodes.get(node_name)
        if entries is None:
            entries = nodes[node_name] = []
            self._idx[(stage, node_name)] = len(nodes)
        snap = evt.to_dict()
        if snap["Unmarshaled"]:  # to_dict shares the nested JSON: freeze it now
            snap["Unmarshaled"] = copy.deepcopy(snap["Unmarshaled"])
        entries.append({"Idx": self._idx[(stage, node_name)], "Success": success, "Evt": snap})


@dataclass
class Replay:
    """Inputs of one replay (paths default to the hub's ``patterns/``, ``data/`` and the test's parent)."""

    test_dir: Path
    hub_dir: Path
    tests_root: Path | None = None
    patterns_dir: Path | None = None
    data_dir: Path | None = None
    now: datetime = field(default_factory=default_now)


def _resolve_all(
    hub: Hub, cfg: TestConfig, tests_root: Path | None, errors: list[str]
) -> dict[str, list[HubItem]]:
    out: dict[str, list[HubItem]] = {}
    for kind, refs in (
        ("parsers", cfg.parsers),
        ("scenarios", cfg.scenarios),
        ("postoverflows", cfg.postoverflows),
    ):
        items = []
        for ref in refs:
            try:
                items.append(hub.resolve(kind, ref, test_dir=cfg.dir, tests_root=tests_root))
            except HubError as exc:
                errors.append(str(exc))
        out[kind] = items
    return out


def dumps_document(doc: dict[str, Any]) -> bytes:
    """The document as JSON bytes (keys may be ``str`` subclasses; odd values become strings)."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS, default=str)


def make_event(raw: str, src: str, labels: dict[str, str], now: datetime) -> Event:
    """A file-acquired replay event; the replay clock stands in for the wall clock."""
    evt = Event(Line(raw, src, labels, "file", now), expect_mode=TIMEMACHINE)
    evt.Time = now
    return evt


def _overflow_snapshot(ovf: Event) -> dict[str, Any]:
    snap = ovf.to_dict()
    if snap["Unmarshaled"]:
        snap["Unmarshaled"] = copy.deepcopy(snap["Unmarshaled"])
    return snap


def _staged_files(items: list[HubItem], errors: list[str]) -> list[ParserFile]:
    return [ParserFile(i.stage, i.path) for i in install_order(items, errors)]


def replay(spec: Replay) -> dict[str, Any]:
    """Run the test and return the result document. Problems go to ``errors``, never raise
    (except :class:`HubError` for an unreadable ``config.yaml`` or hub directory).

    Parsed events (``Process`` and not whitelisted) are poured into the listed scenarios in
    file order; every overflow goes through the postoverflows and is recorded in ``buckets``
    (whitelisted ones too), reprocessed overflows are poured again; postoverflow node
    evaluations join the ``parsers`` map under their stage names. At the end of the log the
    live buckets are dropped without overflowing, as CrowdSec does (OUTPUT_CONTRACT.md §2).
    """
    cfg = load_test_config(spec.test_dir)
    hub = Hub(spec.hub_dir)
    stash.reset()  # each test starts like a fresh crowdsec process
    errors: list[str] = []
    items = _resolve_all(hub, cfg, spec.tests_root, errors)
    files = _staged_files(items["parsers"], errors)
    overrides = cfg.overrides_yaml()
    if overrides is not None:
        files.append(ParserFile(OVERRIDES_STAGE, cfg.dir / OVERRIDES_FILE, text=overrides))
    recorder = ResultRecorder()
    buckets: list[dict[str, Any]] = []
    doc: dict[str, Any] = {
        "format": FORMAT,
        "producer": f"crowdwatch {__version__}",
        "parsers": recorder.results,
        "buckets": buckets,
        "errors": errors,
    }
    now = spec.now

    def clock() -> datetime:
        return now

    patterns_dir = spec.patterns_dir or hub.root / "patterns"
    data_dir = spec.data_dir or hub.root / "data"
    try:
        pipe = load_tolerant(
            sort_files(files), lambda: make_context(patterns_dir, data_dir, clock=clock), errors
        )
        scen = None
        if items["scenarios"]:
            scen = load_scenarios(scenario_files(hub, items["scenarios"], errors), data_dir, errors=errors)
        post = None
        if items["postoverflows"]:
            post_files = sort_files(_staged_files(items["postoverflows"], errors))
            post = load_tolerant(
                post_files, lambda: make_context(patterns_dir, data_dir, clock=clock), errors
            )
    except (HubError, ParserLoadError) as exc:
        errors.append(str(exc))
        return doc
    engine = DetectionEngine(
        pipe, scen, post, on_overflow=lambda ovf, _depth: buckets.append(_overflow_snapshot(ovf)), clock=clock
    )
    labels = {"type": cfg.log_type, **cfg.labels}
    src = str(cfg.log_path)
    stats = ReadStats()
    try:
        for line in read_lines(cfg.log_path, stats=stats):
            evt = make_event(line.text, src, labels, now)
            try:
                engine.process(evt, recorder)
            except Exception as exc:  # per-event problems never abort the replay
                errors.append(f"{src}:{line.lineno}: {type(exc).__name__}: {exc}")
    except AcquisitionError as exc:
        errors.append(str(exc))
    engine.finish()
    if stats.error:
        errors.append(stats.error)
    recorder.results.setdefault("success", {"": []})
    return doc

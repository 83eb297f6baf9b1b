"""Explain how the engine treats log lines: every parser node tried, its result, what it set,
the scenario buckets the event was poured into and the overflows it caused.

The :class:`ExplainRecorder` snapshots the fields parsers write (``Parsed``, ``Meta``,
``Enriched``, ``Unmarshaled``, ``StrTime``, ``MarshaledTime``) after every top-level node
evaluation (postoverflow nodes included, under their stage names) and keeps the difference
with the previous snapshot. It is only used by ``crowdwatch explain``; the replay hot path
never pays for it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crowdwatch.engine import DetectionEngine
from crowdwatch.event import TIMEMACHINE, Event, Line

MAP_FIELDS = ("Parsed", "Meta", "Enriched", "Unmarshaled")
STR_FIELDS = ("StrTime", "MarshaledTime")

Snapshot = dict[str, Any]
Change = tuple[Any, Any]  # (before, after); None = absent


def snapshot(evt: Event) -> Snapshot:
    snap: Snapshot = {f: dict(getattr(evt, f)) for f in MAP_FIELDS}
    if snap["Unmarshaled"]:
        snap["Unmarshaled"] = copy.deepcopy(snap["Unmarshaled"])
    for f in STR_FIELDS:
        snap[f] = getattr(evt, f)
    return snap


def diff(before: Snapshot, after: Snapshot) -> dict[str, dict[str, Change]]:
    """Per field, the keys whose value changed: ``{field: {key: (before, after)}}``.

    String fields report their change under the key ``""``.
    """
    out: dict[str, dict[str, Change]] = {}
    for f in MAP_FIELDS:
        b, a = before[f], after[f]
        changed = {k: (b.get(k), v) for k, v in a.items() if k not in b or b[k] != v}
        changed.update({k: (v, None) for k, v in b.items() if k not in a})
        if changed:
            out[f] = changed
    for f in STR_FIELDS:
        if before[f] != after[f]:
            out[f] = {"": (before[f], after[f])}
    return out


@dataclass
class NodeStep:
    stage: str
    name: str
    success: bool
    changes: dict[str, dict[str, Change]]
    overflow: int = 0  # 0: the log event; n: postoverflows on the n-th overflow the line caused
    scenario: str = ""  # the scenario of that overflow


@dataclass
class Pour:
    """The event (or an overflow it caused, when reprocessed) entered this scenario's bucket."""

    scenario: str
    bucket_key: str


@dataclass
class OverflowInfo:
    """An overflow the event caused, as it left the postoverflows."""

    scenario: str
    sources: list[str]
    events_count: int
    whitelisted: bool
    reprocess_depth: int  # 0: caused by the event itself; n: by an overflow reprocessed n times

    @classmethod
    def of(cls, ovf: Event, depth: int) -> OverflowInfo:
        alert = ovf.Overflow.Alert
        return cls(
            alert.Scenario if alert else "",
            sorted(ovf.Overflow.Sources),
            alert.EventsCount if alert else 0,
            ovf.Overflow.Whitelisted,
            depth,
        )


@dataclass
class LineExplanation:
    lineno: int
    raw: str
    verdict: str  # parsed | unparsed | whitelisted | error
    steps: list[NodeStep] = field(default_factory=list)
    final: Snapshot = field(default_factory=dict)
    whitelist_reason: str = ""
    error: str = ""
    pours: list[Pour] = field(default_factory=list)
    overflows: list[OverflowInfo] = field(default_factory=list)

    def to_dict(self, verbose: bool) -> dict[str, Any]:
        stages: list[dict[str, Any]] = []
        group = (-1, "")
        for s in self.steps:
            if (s.overflow, s.stage) != group:
                group = (s.overflow, s.stage)
                stages.append({"stage": s.stage, "nodes": []})
                if s.overflow:
                    stages[-1]["overflow"] = s.scenario
            node: dict[str, Any] = {"name": s.name, "success": s.success}
            if verbose:
                node["changes"] = {
                    f: {k: {"before": b, "after": a} for k, (b, a) in keys.items()}
                    for f, keys in s.changes.items()
                }
            stages[-1]["nodes"].append(node)
        d: dict[str, Any] = {"line": self.lineno, "raw": self.raw, "verdict": self.verdict, "stages": stages}
        if self.whitelist_reason:
            d["whitelist_reason"] = self.whitelist_reason
        if self.error:
            d["error"] = self.error
        d["scenarios"] = [{"scenario": p.scenario, "bucket_key": p.bucket_key} for p in self.pours]
        d["overflows"] = [
            {
                "scenario": o.scenario,
                "sources": o.sources,
                "events_count": o.events_count,
                "whitelisted": o.whitelisted,
                "reprocess_depth": o.reprocess_depth,
            }
            for o in self.overflows
        ]
        if verbose:
            d["final"] = self.final
        return d


class ExplainRecorder:
    """A parse recorder that keeps, per node evaluation, the success flag and the fields it changed."""

    def __init__(self, evt: Event) -> None:
        self.steps: list[NodeStep] = []
        self._evt = evt
        self._last = snapshot(evt)
        self._overflow = 0
        self._scenario = ""

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        if evt is not self._evt:  # postoverflows on an overflow the line caused: a fresh event
            self._evt = evt
            self._last = snapshot(Event())
            for f in STR_FIELDS:  # set by the scenario engine, not by the postoverflows
                self._last[f] = getattr(evt, f)
            self._overflow += 1
            alert = evt.Overflow.Alert
            self._scenario = alert.Scenario if alert is not None else ""
        snap = snapshot(evt)
        step = NodeStep(stage, node_name, success, diff(self._last, snap), self._overflow, self._scenario)
        self.steps.append(step)
        self._last = snap


class PourLog:
    """A pour recorder: the buckets of one event, in pour order."""

    def __init__(self) -> None:
        self.pours: list[Pour] = []

    def poured(self, scenario: str, bucket_key: str) -> None:
        self.pours.append(Pour(scenario, bucket_key))


def explain_lines(
    engine: DetectionEngine,
    lines: Iterable[tuple[int, str]],
    labels: dict[str, str],
    src: str = "explain",
    now: datetime | None = None,
) -> list[LineExplanation]:
    """Run each ``(lineno, raw)`` through ``engine`` as a replayed (TIMEMACHINE) file event."""
    out = []
    overflows: list[OverflowInfo] = []
    engine.on_overflow = lambda ovf, depth: overflows.append(OverflowInfo.of(ovf, depth))
    for lineno, raw in lines:
        evt = Event(Line(raw, src, labels, "file", now or datetime.now(UTC)), expect_mode=TIMEMACHINE)
        rec = ExplainRecorder(evt)
        pours = PourLog()
        overflows.clear()
        error = ""
        try:
            engine.process(evt, rec, pours)
        except Exception as exc:  # a per-event failure is part of the explanation, not a crash
            error = f"{type(exc).__name__}: {exc}"
        if error:
            verdict = "error"
        elif evt.Whitelisted:
            verdict = "whitelisted"
        else:
            verdict = "parsed" if evt.Process else "unparsed"
        out.append(
            LineExplanation(
                lineno,
                raw,
                verdict,
                rec.steps,
                snapshot(evt),
                evt.WhitelistReason,
                error,
                pours.pours,
                list(overflows),
            )
        )
    return out

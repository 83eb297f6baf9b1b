"""Explain how the parser pipeline treats log lines: every node tried, its result, what it set.

The :class:`ExplainRecorder` snapshots the fields parsers write (``Parsed``, ``Meta``,
``Enriched``, ``Unmarshaled``, ``StrTime``, ``MarshaledTime``) after every top-level node
evaluation and keeps the difference with the previous snapshot. It is only used by
``crowdwatch explain``; the replay hot path never pays for it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crowdwatch.event import TIMEMACHINE, Event, Line
from crowdwatch.parser import ParserPipeline

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


@dataclass
class LineExplanation:
    lineno: int
    raw: str
    verdict: str  # parsed | unparsed | whitelisted | error
    steps: list[NodeStep] = field(default_factory=list)
    final: Snapshot = field(default_factory=dict)
    whitelist_reason: str = ""
    error: str = ""

    def to_dict(self, verbose: bool) -> dict[str, Any]:
        stages: list[dict[str, Any]] = []
        for s in self.steps:
            if not stages or stages[-1]["stage"] != s.stage:
                stages.append({"stage": s.stage, "nodes": []})
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
        if verbose:
            d["final"] = self.final
        return d


class ExplainRecorder:
    """A parse recorder that keeps, per node evaluation, the success flag and the fields it changed."""

    def __init__(self, evt: Event) -> None:
        self.steps: list[NodeStep] = []
        self._last = snapshot(evt)

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        snap = snapshot(evt)
        self.steps.append(NodeStep(stage, node_name, success, diff(self._last, snap)))
        self._last = snap


def explain_lines(
    pipe: ParserPipeline,
    lines: Iterable[tuple[int, str]],
    labels: dict[str, str],
    src: str = "explain",
    now: datetime | None = None,
) -> list[LineExplanation]:
    """Run each ``(lineno, raw)`` through ``pipe`` as a replayed (TIMEMACHINE) file event."""
    out = []
    for lineno, raw in lines:
        evt = Event(Line(raw, src, labels, "file", now or datetime.now(UTC)), expect_mode=TIMEMACHINE)
        rec = ExplainRecorder(evt)
        error = ""
        try:
            kept = pipe.process(evt, rec)
        except Exception as exc:  # a per-event failure is part of the explanation, not a crash
            kept, error = False, f"{type(exc).__name__}: {exc}"
        if error:
            verdict = "error"
        elif evt.Whitelisted:
            verdict = "whitelisted"
        else:
            verdict = "parsed" if kept else "unparsed"
        out.append(
            LineExplanation(lineno, raw, verdict, rec.steps, snapshot(evt), evt.WhitelistReason, error)
        )
    return out

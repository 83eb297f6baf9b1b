"""The stage algorithm (ENGINE.md §4.4) over compiled nodes; also used for postoverflows (§8)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from crowdwatch.event import ZERO_TIME, Event
from crowdwatch.parser.errors import DropEvent
from crowdwatch.parser.loader import LoadContext, ParserFile, load_nodes
from crowdwatch.parser.node import Node

log = logging.getLogger("crowdwatch.parser")


class ParseRecorder(Protocol):
    """Receives every top-level node evaluation (hubtest parser results, explain)."""

    def record(self, stage: str, node_name: str, success: bool, evt: Event) -> None:
        """Called after the node ran; ``evt`` is live (copy it to keep it)."""


@dataclass(frozen=True, slots=True)
class NodeStats:
    stage: str
    name: str
    hits: int  # times the filter passed
    ok: int  # times the node succeeded

    @property
    def ko(self) -> int:
        return self.hits - self.ok


class ParserPipeline:
    """Compiled stages of nodes. :meth:`process` runs an event through them."""

    __slots__ = ("_index", "_nodes", "_stages", "errors")

    def __init__(self, nodes: Sequence[Node], next_of: dict[str, str]) -> None:
        stages = sorted({n.stage for n in nodes}, key=str.encode)
        next_of.clear()
        next_of.update(itertools.pairwise(stages))
        self._stages = [(stage, tuple(n for n in nodes if n.stage == stage)) for stage in stages]
        self._index = {stage: i for i, stage in enumerate(stages)}
        self._nodes = tuple(nodes)
        self.errors = 0  # events dropped by a processing error

    @classmethod
    def load(cls, files: Sequence[ParserFile], ctx: LoadContext) -> ParserPipeline:
        """Load and compile ``files``; raises :class:`ParserLoadError` on bad configuration."""
        next_of: dict[str, str] = {}
        return cls(load_nodes(files, ctx, next_of), next_of)

    @property
    def stages(self) -> list[str]:
        return [stage for stage, _ in self._stages]

    @property
    def stats(self) -> list[NodeStats]:
        """Hit counters of every node (children included), in pipeline order."""
        return [NodeStats(n.stage, n.name, n.hits, n.ok) for top in self._nodes for n in top.walk()]

    def process(self, evt: Event, recorder: ParseRecorder | None = None) -> bool:
        """Run ``evt`` through the stages; True iff it parsed (``Process``) and is not whitelisted."""
        try:
            if recorder is None:
                parsed = self._run(evt)
            else:
                parsed = self._run_recorded(evt, recorder)
        except DropEvent as exc:
            self.errors += 1
            log.debug("event dropped: %s", exc)
            return False
        except Exception:
            self.errors += 1
            log.exception("event dropped: unexpected error while parsing")
            return False
        return parsed and not evt.Whitelisted

    def _enter(self, evt: Event) -> None:
        if not evt.Stage and self._stages:
            evt.Stage = self._stages[0][0]
        evt.Process = False
        if evt.Time == ZERO_TIME:
            evt.Time = datetime.now(UTC)

    def _run(self, evt: Event) -> bool:
        self._enter(evt)
        index = self._index
        for i, (stage, nodes) in enumerate(self._stages):
            if index.get(evt.Stage, -1) > i:
                continue
            if evt.Stage != stage:
                return False
            ok = False
            for node in nodes:
                if node.process(evt):
                    ok = True
                    if node.next_stage:
                        break
                if evt.Stage != stage:
                    break
            if not ok:
                return False
        evt.Process = True
        return True

    def _run_recorded(self, evt: Event, recorder: ParseRecorder) -> bool:
        """:meth:`_run` reporting each top-level node evaluation to ``recorder``."""
        self._enter(evt)
        index = self._index
        for i, (stage, nodes) in enumerate(self._stages):
            if index.get(evt.Stage, -1) > i:
                continue
            if evt.Stage != stage:
                return False
            ok = False
            for node in nodes:
                success = node.process(evt)
                recorder.record(stage, node.name, success, evt)
                if success:
                    ok = True
                    if node.next_stage:
                        break
                if evt.Stage != stage:
                    break
            if not ok:
                return False
        evt.Process = True
        return True

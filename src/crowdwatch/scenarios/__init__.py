"""Scenarios: buckets, overflows and alerts (ENGINE.md §6–§7).

``ScenarioSet.load(files, ctx)`` compiles scenario files; ``pour(evt, now)`` returns the
overflow events (Type OVFLW, ``Overflow`` = :class:`Overflow`, i.e. CrowdSec's
RuntimeAlert) an event causes; ``tick(now)`` drives LIVE timers; ``flush()`` ends a replay;
``dump()``/``restore()`` keep bucket state across restarts.
"""

from __future__ import annotations

from crowdwatch.event import RuntimeAlert as Overflow
from crowdwatch.scenarios.context import AlertContext, ContextLoadError
from crowdwatch.scenarios.errors import ScenarioLoadError
from crowdwatch.scenarios.factory import PourRecorder
from crowdwatch.scenarios.loader import ScenarioContext, ScenarioFile
from crowdwatch.scenarios.scenario_set import ScenarioSet
from crowdwatch.scenarios.state import StateError
from crowdwatch.scenarios.stats import ScenarioStats

__all__ = [
    "AlertContext",
    "ContextLoadError",
    "Overflow",
    "PourRecorder",
    "ScenarioContext",
    "ScenarioFile",
    "ScenarioLoadError",
    "ScenarioSet",
    "ScenarioStats",
    "StateError",
]

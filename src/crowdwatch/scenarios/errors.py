"""Scenario load errors."""

from __future__ import annotations

from crowdwatch.itemschema import ItemLoadError


class ScenarioLoadError(ItemLoadError):
    """A scenario file cannot be loaded. ``str()`` is ``file:line[:col]: message``; ``.file`` names the file."""

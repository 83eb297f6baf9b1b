"""Parser errors: load-time (:class:`ParserLoadError`) and the per-event drop signal."""

from __future__ import annotations

from crowdwatch.itemschema import ItemLoadError


class ParserLoadError(ItemLoadError):
    """A parser/postoverflow file cannot be loaded. ``str()`` is ``file:line[:col]: message``."""


class DropEvent(Exception):
    """Raised while processing an event when it must be dropped (e.g. a static of a bad type)."""

"""The LAPI server's event loop: uvloop when it is installed (HTTP handling costs about a
third less CPU per request on it: alert ingestion +35 % in bench/bench_lapi.py), asyncio's
own loop otherwise or when ``CROWDWATCH_EVENT_LOOP=asyncio`` asks for it. The agent keeps
asyncio's loop: it spends its time in the engine thread, not in I/O."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop."""
    if os.environ.get("CROWDWATCH_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)

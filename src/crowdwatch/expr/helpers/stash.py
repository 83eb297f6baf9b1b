"""The stash: named in-memory caches written by parser nodes (ENGINE.md §4.7).

Entries expire on the **wall clock** (also in replay mode). Two definitions with the same
name create two caches: writes go to all of them, reads come from the first. Only the LRU
eviction policy is implemented; ``LFU`` and ``ARC`` definitions are accepted and behave as
LRU (eviction only matters once a cache is full).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.durations import parse_go_duration
from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.helpers.ttlcache import TTLCache
from crowdwatch.expr.registry import helper
from crowdwatch.expr.values import Duration

STRATEGIES = ("LRU", "LFU", "ARC")
DEFAULT_SIZE = 100

_caches: dict[str, list[TTLCache]] = {}
_clock: list[Callable[[], float]] = [time.time]


def _now() -> float:
    return _clock[0]()


def set_clock(clock: Callable[[], float] | None) -> None:
    """Use ``clock`` (seconds) instead of the wall clock; ``None`` restores ``time.time``."""
    _clock[0] = clock or time.time


def define(name: str, size: int, ttl_seconds: float, strategy: str) -> None:
    """Create a cache ``name`` (another one if the name exists). ``ValueError`` on a bad strategy."""
    if strategy and strategy.upper() not in STRATEGIES:
        raise ValueError(f"unknown stash strategy {strategy!r} (expected LRU, LFU or ARC)")
    _caches.setdefault(name, []).append(TTLCache(size if size > 0 else DEFAULT_SIZE, ttl_seconds, _now))


def set(name: str, key: str, value: str, ttl_seconds: float | None = None) -> None:
    """Write ``key`` → ``value`` into every cache called ``name`` (unknown name: ``KeyError``)."""
    caches = _caches.get(name)
    if not caches:
        raise KeyError(f"stash {name!r} is not defined")
    for cache in caches:
        cache.set(key, value, ttl_seconds)


def get(name: str, key: str) -> str:
    """Value of ``key`` in the first cache called ``name``; ``""`` if absent or expired."""
    caches = _caches.get(name)
    if not caches:
        return ""
    value = caches[0].get(key)
    return value if isinstance(value, str) else ""


def reset() -> None:
    """Drop every cache."""
    _caches.clear()


@helper("GetFromStash", 2, returns="str")
def GetFromStash(cache: object, key: object) -> str:
    return get(want_str("GetFromStash", cache), want_str("GetFromStash", key))


@helper("SetInStash", 4, returns="any")
def SetInStash(cache: object, key: object, value: object, ttl: object) -> None:
    """Write into a stash; ``ttl`` is a duration (or duration text), ``nil`` for the cache's TTL."""
    if ttl is None:
        seconds = None
    elif isinstance(ttl, Duration):
        seconds = int(ttl) / 1e9
    elif isinstance(ttl, str):
        try:
            seconds = parse_go_duration(ttl) / 1e9
        except ValueError as exc:
            raise ExprRuntimeError(f"SetInStash: {exc}") from None
    else:
        raise ExprRuntimeError(f"SetInStash: ttl must be a duration, not {type(ttl).__name__}")
    try:
        set(
            want_str("SetInStash", cache), want_str("SetInStash", key), want_str("SetInStash", value), seconds
        )
    except KeyError as exc:
        raise ExprRuntimeError(f"SetInStash: {exc.args[0]}") from None
    return None

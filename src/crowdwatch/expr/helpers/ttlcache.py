"""A bounded least-recently-used cache with a per-entry time to live."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    """LRU cache of at most ``size`` entries; each entry expires ``ttl`` seconds after it was
    written (``ttl <= 0``: never). ``clock`` returns the current time in seconds."""

    __slots__ = ("_data", "clock", "size", "ttl")

    def __init__(self, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self.size = max(1, size)
        self.ttl = ttl
        self.clock = clock
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        hit = self._data.get(key)
        if hit is None:
            return default
        expires, value = hit
        if expires and expires <= self.clock():
            del self._data[key]
            return default
        self._data.move_to_end(key)
        return value

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        life = self.ttl if ttl is None else ttl
        self._data[key] = (self.clock() + life if life > 0 else 0.0, value)
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

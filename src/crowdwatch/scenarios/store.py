"""Bucket deadlines: one heap for all scenarios, invalidated lazily (one for LIVE buckets,
one for replay buckets).

A bucket is pushed once, when its timer is first armed. Re-arming only moves
``bucket.deadline``; when the heap entry comes up, a bucket whose deadline moved later is
pushed again and a dead bucket is dropped. The heap therefore holds at most one entry per
bucket created within the last lifetime, and memory stays bounded by the active keys.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crowdwatch.event import Event
    from crowdwatch.scenarios.bucket import Bucket


class Timers:
    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Bucket]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, bucket: Bucket) -> None:
        assert bucket.deadline is not None
        heapq.heappush(self._heap, (bucket.deadline, next(self._seq), bucket))

    def push_all(self, buckets: list[Bucket]) -> None:
        """``push`` each of ``buckets`` (deadlines set), in one heapify (restoring state)."""
        deadlines = [b.deadline for b in buckets]
        self._heap.extend(zip(deadlines, self._seq, buckets))  # type: ignore[arg-type]
        heapq.heapify(self._heap)

    def expire(self, now: int, out: list[Event]) -> None:
        """Expire every bucket whose deadline is before ``now`` (ns), in deadline order."""
        heap = self._heap
        while heap and heap[0][0] < now:
            when, _, bucket = heapq.heappop(heap)
            if not bucket.alive:
                continue
            deadline = bucket.deadline
            assert deadline is not None
            if deadline > when:
                heapq.heappush(heap, (deadline, next(self._seq), bucket))
                continue
            bucket.scenario.expire(bucket, out)

    def clear(self) -> None:
        self._heap.clear()

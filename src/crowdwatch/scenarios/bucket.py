"""One bucket (CrowdSec's ``Leaky``) and its event queue, as expressions see them (ENGINE.md §6.4, §6.7).

``condition``, ``overflow_filter`` and bayesian conditions get ``queue`` (:class:`Queue`)
and ``leaky`` (:class:`Bucket`); the fields they may read are listed in ``EXPR_FIELDS``
and registered in :data:`crowdwatch.event.MODEL_CLASSES` under CrowdSec's type names
(``Queue``, ``Leaky``) so that the expression compiler checks them like event fields.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from crowdwatch.event import MODEL_CLASSES, Event
from crowdwatch.expr.values import Duration as GoDuration
from crowdwatch.scenarios.clock import Stamp, to_datetime

if TYPE_CHECKING:
    from crowdwatch.scenarios.factory import Scenario

UNBOUNDED = -1
_MAX_INT = 2**63 - 1


class Queue:
    """The ``queue`` of expressions: ``Queue`` (the events, oldest first) and ``L`` (the size
    limit: the list holds at most ``L + 1`` events; Go's max int when unbounded). A view on a
    bucket's event list, made only when an expression needs it."""

    __slots__ = ("L", "Queue")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {"Queue": "list", "L": "int"}
    EXPR_METHODS: ClassVar[dict[str, str]] = {"GetQueue": "get_queue"}

    def __init__(self, events: list[Event], limit: int) -> None:
        self.Queue = events
        self.L = limit if limit != UNBOUNDED else _MAX_INT

    def get_queue(self) -> list[Event]:
        return self.Queue


EventQueue = Queue


class Bucket:
    """The state of one bucket instance (one scenario, one group key), live until it overflows,
    is cancelled or expires. ``tokens``/``tlast`` are its limiter state (:mod:`.limiter`)."""

    __slots__ = (
        "alive",
        "deadline",
        "distinct",
        "events",
        "first",
        "guillotines",
        "key",
        "last",
        "mode",
        "ovflw",
        "qview",
        "scenario",
        "tlast",
        "tokens",
        "total",
        "uid",
    )

    EXPR_FIELDS: ClassVar[dict[str, str]] = {
        "Name": "str",
        "Mode": "int",
        "Mapkey": "str",
        "Uuid": "str",
        "Total_count": "int",
        "First_ts": "time",
        "Last_ts": "time",
        "Ovflw_ts": "time",
        "Duration": "duration",
        "Capacity": "int",
        "CacheSize": "int",
        "Leakspeed": "duration",
        "Reprocess": "bool",
        "Simulated": "bool",
        "Queue": "Queue",
    }
    EXPR_METHODS: ClassVar[dict[str, str]] = {}

    def __init__(self, scenario: Scenario, key: str, mode: int) -> None:
        self.scenario = scenario
        self.key = key  # the group-by value; the table key inside its scenario
        self.mode = mode
        self.alive = True
        self.total = 0
        self.first: Stamp | None = None
        self.last: Stamp | None = None
        self.ovflw: Stamp | None = None
        self.deadline: int | None = None  # LIVE buckets: expiry/timer instant (ns)
        self.events: list[Event] = []
        self.qview: Queue | None = None
        self.tokens = 0.0
        self.tlast: int | None = None
        self.distinct: set[str] | None = set() if scenario.distinct is not None else None
        self.guillotines: list[bool] | None = scenario.new_guillotines()
        self.uid = ""

    def add(self, evt: Event) -> None:
        """Queue ``evt``, first dropping the oldest events beyond the scenario's queue size."""
        q = self.events
        limit = self.scenario.queue_size
        if limit != UNBOUNDED and len(q) > limit:
            del q[: len(q) - limit]
        q.append(evt)

    @property
    def queue(self) -> Queue:
        view = self.qview
        if view is None:
            view = self.qview = Queue(self.events, self.scenario.queue_size)
        return view

    # --- fields reachable from expressions ---------------------------------------------------
    @property
    def Name(self) -> str:
        return self.scenario.name

    @property
    def Mode(self) -> int:
        return self.mode

    @property
    def Mapkey(self) -> str:
        return self.scenario.mapkey(self.key)

    @property
    def Uuid(self) -> str:
        if not self.uid:
            self.uid = uuid.uuid4().hex
        return self.uid

    @property
    def Total_count(self) -> int:
        return self.total

    @property
    def First_ts(self) -> datetime:
        return to_datetime(self.first)

    @property
    def Last_ts(self) -> datetime:
        return to_datetime(self.last)

    @property
    def Ovflw_ts(self) -> datetime:
        return to_datetime(self.ovflw)

    @property
    def Duration(self) -> GoDuration:
        return GoDuration(self.scenario.lifetime)

    @property
    def Capacity(self) -> int:
        return self.scenario.capacity

    @property
    def CacheSize(self) -> int:
        return self.scenario.cache_size

    @property
    def Leakspeed(self) -> GoDuration:
        return GoDuration(self.scenario.leakspeed)

    @property
    def Reprocess(self) -> bool:
        return self.scenario.reprocess

    @property
    def Simulated(self) -> bool:
        return self.scenario.simulated

    @property
    def Queue(self) -> EventQueue:  # the class name is shadowed by this property here
        return self.queue

    def __repr__(self) -> str:
        return f"Bucket({self.scenario.name!r}, {self.key!r}, total={self.total})"


def mapkey(filter_text: str, group: str, name: str) -> str:
    """CrowdSec's bucket key: SHA-1 (hex) over filter, group-by value and name, NUL-separated."""
    return hashlib.sha1(f"{filter_text}\0{group}\0{name}".encode()).hexdigest()


MODEL_CLASSES.setdefault("Queue", Queue)
MODEL_CLASSES.setdefault("Leaky", Bucket)

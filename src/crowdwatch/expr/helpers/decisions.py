"""Decision-store helpers used by profiles (``duration_expr``, filters).

Until the LAPI issue lands they are stubs: with no provider installed they answer as
CrowdSec does without a database (0 and a zero duration). The LAPI work wires them to the
decision store with :func:`set_decision_provider`.
"""

from __future__ import annotations

from typing import Protocol

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.durations import parse_go_duration
from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.registry import helper
from crowdwatch.expr.values import Duration


class DecisionProvider(Protocol):
    """What the decision store must answer (``value`` is the decision value, e.g. an IP)."""

    def count(self, value: str) -> int: ...

    def count_since(self, value: str, since_ns: int) -> int: ...

    def active_count(self, value: str) -> int: ...

    def active_time_left(self, value: str) -> Duration: ...


_provider: list[DecisionProvider | None] = [None]


def set_decision_provider(provider: DecisionProvider | None) -> None:
    """Install the decision store the helpers query (``None``: back to the stubs)."""
    _provider[0] = provider


@helper("GetDecisionsCount", 1, returns="int")
def GetDecisionsCount(value: object) -> int:
    p = _provider[0]
    return p.count(want_str("GetDecisionsCount", value)) if p else 0


@helper("GetDecisionsSinceCount", 2, returns="int")
def GetDecisionsSinceCount(value: object, since: object) -> int:
    text = want_str("GetDecisionsSinceCount", value)
    try:
        window = parse_go_duration(want_str("GetDecisionsSinceCount", since))
    except ValueError as exc:
        raise ExprRuntimeError(f"GetDecisionsSinceCount: {exc}") from None
    p = _provider[0]
    return p.count_since(text, int(window)) if p else 0


@helper("GetActiveDecisionsCount", 1, returns="int")
def GetActiveDecisionsCount(value: object) -> int:
    p = _provider[0]
    return p.active_count(want_str("GetActiveDecisionsCount", value)) if p else 0


@helper("GetActiveDecisionsTimeLeft", 1, returns="duration")
def GetActiveDecisionsTimeLeft(value: object) -> Duration:
    p = _provider[0]
    return p.active_time_left(want_str("GetActiveDecisionsTimeLeft", value)) if p else Duration(0)

"""Per-scenario counters (``ScenarioSet.stats``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class ScenarioStats:
    """What happened to the events and buckets of one scenario.

    ``filter_errors``/``groupby_errors`` count events that did not enter the scenario because
    the expression failed or returned the wrong type (CrowdSec would stop or exit there);
    ``expr_errors`` counts failures of the other expressions (ignored as ENGINE.md §6.7 says).
    """

    poured: int = 0  # events that reached a bucket of this scenario
    instantiated: int = 0  # buckets created
    overflowed: int = 0  # buckets that overflowed (alert or not)
    underflowed: int = 0  # buckets that expired without an alert
    cancelled: int = 0  # buckets killed by cancel_on
    discarded: int = 0  # overflows dropped by overflow_filter or blackhole
    alert_errors: int = 0  # overflows lost because no alert could be built (sources)
    unpoured: int = 0  # replay events without a usable MarshaledTime (not poured)
    filter_errors: int = 0
    groupby_errors: int = 0
    expr_errors: int = 0
    current: int = 0  # live buckets now (filled in by ScenarioSet.stats)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

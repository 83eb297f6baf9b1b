"""``simulation.yaml``: which scenarios only produce simulated alerts (ENGINE.md §9.4).

The file holds ``simulation: <bool>`` (global switch, default off) and ``exclusions:
[scenario names]`` (scenarios for which the switch is inverted). A scenario is simulated
iff ``simulation`` XOR (its name is in ``exclusions``); its alerts carry ``simulated: true``.

Decoding is strict like CrowdSec's: unknown keys and wrongly typed values are errors naming
``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crowdwatch import yamlutil

if TYPE_CHECKING:
    from crowdwatch.config import Config

_KEYS = frozenset({"simulation", "exclusions"})


class SimulationError(yamlutil.YamlError):
    """``simulation.yaml`` is unreadable or invalid; ``str()`` starts with ``file:line:col``."""


@dataclass(frozen=True)
class SimulationConfig:
    """The global simulation switch and the scenarios for which it is inverted."""

    simulation: bool = False
    exclusions: frozenset[str] = field(default_factory=frozenset)

    def is_simulated(self, name: str) -> bool:
        return self.simulation != (name in self.exclusions)


def parse_simulation(text: str | bytes, file: str = "") -> SimulationConfig:
    """Decode the content of a ``simulation.yaml``; an empty document means "nothing simulated"."""
    try:
        doc = yamlutil.load_one(text, file)
        return _decode(doc, file)
    except SimulationError:
        raise
    except yamlutil.YamlError as exc:
        raise SimulationError(exc.message, exc.file, exc.line, exc.col) from None


def _decode(doc: Any, file: str) -> SimulationConfig:
    if yamlutil.is_null(doc):
        return SimulationConfig()
    if not isinstance(doc, dict):
        raise yamlutil.err(f"expected a mapping, got {yamlutil.type_name(doc)}", file, doc)
    for key in doc:
        if key not in _KEYS:
            raise yamlutil.err(f"unknown key {str(key)!r} (expected simulation, exclusions)", file, key)
    raw_switch = doc.get("simulation")
    switch = False if yamlutil.is_null(raw_switch) else yamlutil.as_bool(raw_switch, "simulation", file)
    raw_excl = doc.get("exclusions")
    if yamlutil.is_null(raw_excl):
        return SimulationConfig(switch)
    if not isinstance(raw_excl, list):
        raise yamlutil.err("exclusions: expected a list of scenario names", file, raw_excl)
    names = frozenset(yamlutil.as_str(v, "exclusions[]", file) for v in raw_excl)
    return SimulationConfig(switch, names - {""})


def load_simulation(path: Path) -> SimulationConfig:
    """Read ``path``; a missing file means "nothing simulated"."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return SimulationConfig()
    except OSError as exc:
        raise SimulationError(f"cannot read simulation file: {exc.strerror or exc}", str(path)) from None
    return parse_simulation(data, str(path))


def from_config(config: Config) -> SimulationConfig:
    """The simulation settings named by ``config_paths.simulation_path``."""
    return load_simulation(config.paths.simulation_path)

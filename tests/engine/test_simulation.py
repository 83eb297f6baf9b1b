"""simulation.yaml: strict loading, the XOR rule (ENGINE.md §9.4), config wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdwatch.config import load_config
from crowdwatch.simulation import (
    SimulationConfig,
    SimulationError,
    from_config,
    load_simulation,
    parse_simulation,
)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("simulation: off\nexclusions: []\n", "a/b", False),
        ("simulation: false\nexclusions: [a/b]\n", "a/b", True),
        ("simulation: false\nexclusions: [a/b]\n", "a/c", False),
        ("simulation: true\n", "a/b", True),
        ("simulation: on\nexclusions:\n  - a/b\n", "a/b", False),
        ("simulation: yes\nexclusions:\n  - a/b\n", "x/y", True),
        ("", "a/b", False),
        ("exclusions: [a/b]\n", "a/b", True),
    ],
)
def test_simulated_is_switch_xor_exclusion(text: str, name: str, expected: bool) -> None:
    assert parse_simulation(text, "sim.yaml").is_simulated(name) is expected


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("simulation: false\nexclusion: [a]\n", "sim.yaml:2:1", "unknown key 'exclusion'"),
        ("simulation: maybe\n", "sim.yaml:1:13", "simulation: expected true or false"),
        ("simulation: true\nexclusions: a/b\n", "sim.yaml:2:13", "exclusions: expected a list"),
        ("simulation: true\nexclusions: [[a]]\n", "sim.yaml:2:14", "expected a string"),
        ("- a\n", "sim.yaml:1:1", "expected a mapping"),
        ("simulation: [\n", "sim.yaml:2:1", "invalid YAML"),
    ],
)
def test_strict_errors_name_file_and_line(text: str, where: str, message: str) -> None:
    with pytest.raises(SimulationError) as info:
        parse_simulation(text, "sim.yaml")
    assert str(info.value).startswith(where + ": "), str(info.value)
    assert message in str(info.value)


def test_missing_file_means_nothing_simulated(tmp_path: Path) -> None:
    assert load_simulation(tmp_path / "none.yaml") == SimulationConfig()


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="cannot read"):
        load_simulation(tmp_path)  # a directory


def test_config_paths_simulation_file(tmp_path: Path) -> None:
    cfg = load_config(str(tmp_path / "cfg"))  # first use writes the default simulation.yaml
    assert cfg.paths.simulation_path.is_file()
    assert from_config(cfg) == SimulationConfig(False, frozenset())
    cfg.paths.simulation_path.write_text("simulation: true\nexclusions: [me/keep]\n")
    sim = from_config(cfg)
    assert sim.is_simulated("me/other") and not sim.is_simulated("me/keep")

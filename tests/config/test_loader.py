from pathlib import Path

import pytest

from crowdwatch.config import ConfigError, find_locations, load_config, parse_config_file
from crowdwatch.config import locations as locations_mod


def test_first_use_creates_a_working_directory(tmp_path: Path) -> None:
    d = tmp_path / "cw"
    cfg = load_config(d)
    assert cfg.paths.config_file == d / "config.yaml"
    for p in (d / "config.yaml", d / "acquis.yaml", d / "simulation.yaml"):
        assert p.is_file()
    for p in (d / "acquis.d", d / "data", d / "logs"):
        assert p.is_dir()
    assert cfg.paths.data_dir == d / "data"
    assert cfg.paths.hub_dir == d / "hub"
    assert cfg.paths.index_path == d / "hub" / ".index.json"
    assert cfg.paths.db_path == d / "data" / "crowdwatch.db"
    assert cfg.paths.pattern_dir is None
    # the written file is valid and reloads to the same configuration
    assert load_config(d) == cfg


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("common:\n  log_level: debug\n")
    cfg = load_config(tmp_path)
    assert cfg.common.log_level == "debug"
    assert (tmp_path / "config.yaml").read_text() == "common:\n  log_level: debug\n"


def test_no_create(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "x", create=False)
    assert not (tmp_path / "x").exists()
    assert cfg.common.log_level == "info"


def test_relative_paths_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "config_paths:\n  data_dir: ${DATA}\n  hub_dir: myhub\n  pattern_dir: $PAT/p\n"
        "db_config:\n  db_path: ${UNSET_VAR_X}/db\n"
    )
    cfg = load_config(tmp_path, env={"DATA": "/srv/data", "PAT": "rel"})
    assert cfg.paths.data_dir == Path("/srv/data")
    assert cfg.paths.hub_dir == tmp_path / "myhub"
    assert cfg.paths.pattern_dir == tmp_path / "rel" / "p"
    assert cfg.paths.db_path == tmp_path / "${UNSET_VAR_X}" / "db"


def test_invalid_yaml_has_position(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("common:\n  log_level: [\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:\d+:\d+: invalid YAML"):
        load_config(tmp_path)


def test_parse_config_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        parse_config_file(tmp_path / "missing.yaml")


def test_locations_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"HOME": str(tmp_path), "CROWDWATCH_CONFIG_DIR": str(tmp_path / "envdir")}
    assert find_locations(tmp_path / "arg", env=env).config_dir == tmp_path / "arg"
    loc = find_locations(None, env=env)
    assert (loc.config_dir, loc.state_dir, loc.origin) == (
        tmp_path / "envdir",
        tmp_path / "envdir",
        "environment",
    )
    user = find_locations(None, env={"HOME": str(tmp_path)}, is_root=False)
    assert user.config_dir == tmp_path / ".config" / "crowdwatch"
    assert user.state_dir == tmp_path / ".local" / "share" / "crowdwatch"
    xdg = find_locations(
        None,
        env={"HOME": "/x", "XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_STATE_HOME": str(tmp_path / "s")},
    )
    assert (xdg.config_dir, xdg.state_dir) == (tmp_path / "c" / "crowdwatch", tmp_path / "s" / "crowdwatch")
    # root uses the system layout only when /etc/crowdwatch exists
    monkeypatch.setattr(locations_mod, "SYSTEM_CONFIG_DIR", tmp_path / "etc-crowdwatch")
    assert find_locations(None, env={"HOME": str(tmp_path)}, is_root=True).origin == "user"
    (tmp_path / "etc-crowdwatch").mkdir()
    system = find_locations(None, env={"HOME": str(tmp_path)}, is_root=True)
    assert (system.origin, system.state_dir) == ("system", Path("/var/lib/crowdwatch"))

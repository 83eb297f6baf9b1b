"""Loading ``config.yaml``: find it, create defaults on first use, expand, validate, resolve paths."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from crowdwatch.config import layout
from crowdwatch.config.envsubst import expand_env
from crowdwatch.config.errors import ConfigError
from crowdwatch.config.locations import Locations, find_locations
from crowdwatch.config.schema import Config, Paths, Settings
from crowdwatch.yamlutil import YamlError, load_one


def load_config(
    config_dir: str | Path | None = None,
    *,
    create: bool = True,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Load the configuration of ``config_dir`` (or the default location, see ``locations``).

    With ``create`` (the default) a missing directory is created with a default
    ``config.yaml``, ``acquis.yaml``, ``simulation.yaml`` and the state directories; without
    it a missing ``config.yaml`` means built-in defaults. Raises :class:`ConfigError`.
    """
    loc = find_locations(config_dir, env=env)
    file = loc.config_dir / layout.CONFIG_FILE
    if not file.exists():
        if create:
            layout.create_defaults(resolve_paths(Settings(), loc, file))
        else:
            return Config(Settings(), resolve_paths(Settings(), loc, file))
    settings = parse_config_file(file, env=env)
    cfg = Config(settings, resolve_paths(settings, loc, file))
    if create:
        layout.ensure_dirs(cfg.paths)
    return cfg


def parse_config_file(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate one ``config.yaml`` (no defaults written, no paths resolved)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror or exc}", str(p)) from None
    text = expand_env(raw.decode("utf-8", "replace"), env)
    try:
        tree = load_one(text, str(p))
    except YamlError as exc:
        raise ConfigError(exc.message, exc.file, exc.line, exc.col) from None
    return Settings.from_dict(tree, str(p))


def resolve_paths(settings: Settings, loc: Locations, file: Path) -> Paths:
    """Absolute paths: configured values (relative ones are taken from the config file's
    directory) or the defaults under the config and state directories."""
    base = file.parent

    def pick(value: str, default: Path) -> Path:
        if not value:
            return default
        p = Path(value).expanduser()
        return Path(os.path.abspath(p if p.is_absolute() else base / p))

    cp = settings.config_paths
    svc = settings.crowdsec_service
    config_dir = pick(cp.config_dir, loc.config_dir)
    data_dir = pick(cp.data_dir, loc.state_dir / "data")
    hub_dir = pick(cp.hub_dir, loc.state_dir / "hub")
    return Paths(
        config_dir=config_dir,
        config_file=file,
        state_dir=loc.state_dir,
        data_dir=data_dir,
        hub_dir=hub_dir,
        index_path=pick(cp.index_path, hub_dir / ".index.json"),
        simulation_path=pick(cp.simulation_path, config_dir / "simulation.yaml"),
        pattern_dir=pick(cp.pattern_dir, Path()) if cp.pattern_dir else None,
        acquisition_path=pick(svc.acquisition_path, config_dir / "acquis.yaml"),
        acquisition_dir=pick(svc.acquisition_dir, config_dir / "acquis.d"),
        log_dir=pick(settings.common.log_dir, loc.state_dir / "logs"),
        db_path=pick(settings.db_config.db_path, data_dir / "crowdwatch.db"),
        profiles_path=pick(settings.api.server.profiles_path, config_dir / "profiles.yaml"),
        credentials_path=pick(
            settings.api.client.credentials_path, config_dir / "local_api_credentials.yaml"
        ),
        agent_state_path=data_dir / "agent-state.db",
    )

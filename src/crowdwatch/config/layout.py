"""First-use creation of a configuration directory with working defaults."""

from __future__ import annotations

import json
from pathlib import Path

from crowdwatch.config.errors import ConfigError
from crowdwatch.config.schema import CrowdwatchSection, Paths

CONFIG_FILE = "config.yaml"

_CONFIG_TEMPLATE = """\
# crowdwatch configuration; schema in docs/CONFIG.md.
# ${{VAR}} and $VAR are replaced by environment variables (when defined) before parsing.
common:
  log_level: info
  log_media: stdout
  log_dir: {log_dir}
config_paths:
  config_dir: {config_dir}
  data_dir: {data_dir}
  hub_dir: {hub_dir}
  index_path: {index_path}
  simulation_path: {simulation_path}
  # pattern_dir: grok pattern directory (default: the patterns shipped with the loaded content)
crowdsec_service:
  acquisition_path: {acquisition_path}
  acquisition_dir: {acquisition_dir}
  parser_routines: 1
api:
  server:
    enable: true
    listen_uri: 127.0.0.1:8080
db_config:
  type: sqlite
  db_path: {db_path}
crowdwatch:
  max_line_bytes: {max_line_bytes}
"""

_ACQUIS_TEMPLATE = """\
# Data sources, one YAML document per source (CrowdSec acquis.yaml format). Example:
# filenames:
#   - /var/log/nginx/access.log
# labels:
#   type: nginx
# ---
# filenames:
#   - /var/log/auth.log
# labels:
#   type: syslog
"""

_SIMULATION_TEMPLATE = """\
# Scenarios listed here only produce simulated decisions (CrowdSec simulation.yaml format).
simulation: off
exclusions: []
"""


def _q(p: Path) -> str:
    return json.dumps(str(p))  # a JSON string is a valid YAML double-quoted scalar


def render_default_config(paths: Paths) -> str:
    """The ``config.yaml`` written on first use, with every path spelled out."""
    return _CONFIG_TEMPLATE.format(
        log_dir=_q(paths.log_dir),
        config_dir=_q(paths.config_dir),
        data_dir=_q(paths.data_dir),
        hub_dir=_q(paths.hub_dir),
        index_path=_q(paths.index_path),
        simulation_path=_q(paths.simulation_path),
        acquisition_path=_q(paths.acquisition_path),
        acquisition_dir=_q(paths.acquisition_dir),
        db_path=_q(paths.db_path),
        max_line_bytes=CrowdwatchSection().max_line_bytes,
    )


def create_defaults(paths: Paths) -> None:
    """Write the default files that do not exist yet (config, acquisition, simulation)."""
    _write_new(paths.config_file, render_default_config(paths))
    _write_new(paths.acquisition_path, _ACQUIS_TEMPLATE)
    _write_new(paths.simulation_path, _SIMULATION_TEMPLATE)
    ensure_dirs(paths)


def ensure_dirs(paths: Paths) -> None:
    """Create the directories the engine writes to or scans."""
    for d in (paths.config_dir, paths.acquisition_dir, paths.data_dir, paths.log_dir):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create directory: {exc.strerror or exc}", str(d)) from None


def _write_new(path: Path, text: str) -> None:
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write default file: {exc.strerror or exc}", str(path)) from None

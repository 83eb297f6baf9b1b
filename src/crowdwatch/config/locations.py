"""Where configuration and state live when no path is configured explicitly.

Order: the ``config_dir`` argument, then ``$CROWDWATCH_CONFIG_DIR`` (both keep everything under
that one directory); as root with an existing ``/etc/crowdwatch``, the system install
(``/etc/crowdwatch`` + ``/var/lib/crowdwatch``); otherwise per user, no root needed:
``$XDG_CONFIG_HOME/crowdwatch`` (``~/.config/crowdwatch``) for configuration and
``$XDG_STATE_HOME/crowdwatch`` (``~/.local/share/crowdwatch`` when unset) for state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_CONFIG_DIR = "CROWDWATCH_CONFIG_DIR"
SYSTEM_CONFIG_DIR = Path("/etc/crowdwatch")
SYSTEM_STATE_DIR = Path("/var/lib/crowdwatch")


@dataclass(frozen=True)
class Locations:
    config_dir: Path
    state_dir: Path
    origin: str  # "argument", "environment", "system" or "user"


def find_locations(
    config_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    is_root: bool | None = None,
) -> Locations:
    """Pick the configuration and state directories (absolute paths; nothing is created)."""
    environ = os.environ if env is None else env
    if config_dir is not None and str(config_dir) != "":
        d = _absolute(Path(config_dir).expanduser())
        return Locations(d, d, "argument")
    if environ.get(ENV_CONFIG_DIR):
        d = _absolute(Path(environ[ENV_CONFIG_DIR]).expanduser())
        return Locations(d, d, "environment")
    root = (os.geteuid() == 0) if is_root is None else is_root
    if root and SYSTEM_CONFIG_DIR.is_dir():
        return Locations(SYSTEM_CONFIG_DIR, SYSTEM_STATE_DIR, "system")
    home = Path(environ.get("HOME") or Path.home())
    config_home = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    if environ.get("XDG_STATE_HOME"):
        state = Path(environ["XDG_STATE_HOME"]) / "crowdwatch"
    else:
        state = home / ".local" / "share" / "crowdwatch"
    return Locations(_absolute(config_home / "crowdwatch"), _absolute(state), "user")


def _absolute(p: Path) -> Path:
    return Path(os.path.abspath(p))

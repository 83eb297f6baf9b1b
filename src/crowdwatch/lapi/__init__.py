"""The Local API: CrowdSec-compatible decision server (wire contract: LAPI v1 swagger).

``service.LapiService`` holds the operations (storage, profiles, allowlists),
``server.build_app`` serves them over HTTP, ``stream.DecisionIndex`` answers bouncers from
memory. ``open_lapi`` wires them from a loaded configuration.
"""

from __future__ import annotations

from crowdwatch.config.schema import Config
from crowdwatch.lapi.profiles import load_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database


def open_lapi(cfg: Config) -> LapiService:
    """Open (and migrate) the configured database and load the profiles."""
    profiles = load_profiles(cfg.paths.profiles_path)
    db = open_database(cfg.db_config, cfg.paths.db_path)
    return LapiService(db, profiles)


__all__ = ["LapiService", "open_lapi"]

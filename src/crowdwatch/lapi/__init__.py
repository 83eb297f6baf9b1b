"""The Local API: CrowdSec-compatible decision server (wire contract: LAPI v1 swagger).

``service.LapiService`` holds the operations (storage, profiles, allowlists),
``server.build_app`` serves them over HTTP, ``stream.DecisionIndex`` answers bouncers from
memory. ``open_lapi`` wires them from a loaded configuration.
"""

from __future__ import annotations

from datetime import timedelta

from crowdwatch.config.errors import ConfigError
from crowdwatch.config.schema import Config, FlushSection
from crowdwatch.lapi.profiles import load_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database
from crowdwatch.lapi.storage.retention import RetentionPolicy
from crowdwatch.lapi.timefmt import parse_duration_ns


def retention_policy(flush: FlushSection) -> RetentionPolicy:
    """``db_config.flush`` as a policy; raises :class:`ConfigError` for a bad duration."""

    def dur(value: str, key: str) -> timedelta | None:
        if not value:
            return None
        try:
            return timedelta(microseconds=parse_duration_ns(value) // 1000)
        except ValueError:
            raise ConfigError(f"db_config.flush.{key}: invalid duration {value!r}") from None

    return RetentionPolicy(
        max_items=flush.max_items,
        max_age=dur(flush.max_age, "max_age"),
        bouncer_api_key=dur(flush.bouncers_autodelete.api_key, "bouncers_autodelete.api_key"),
        bouncer_cert=dur(flush.bouncers_autodelete.cert, "bouncers_autodelete.cert"),
        agent_password=dur(flush.agents_autodelete.login_password, "agents_autodelete.login_password"),
        agent_cert=dur(flush.agents_autodelete.cert, "agents_autodelete.cert"),
    )


def open_lapi(cfg: Config) -> LapiService:
    """Open (and migrate) the configured database and load the profiles."""
    profiles = load_profiles(cfg.paths.profiles_path)
    policy = retention_policy(cfg.db_config.flush)
    db = open_database(cfg.db_config, cfg.paths.db_path)
    return LapiService(db, profiles, retention=policy)


__all__ = ["LapiService", "open_lapi"]

"""crowdwatch configuration: ``config.yaml``, its schema and the config/state directory layout.

``load_config(config_dir)`` finds the configuration directory (explicit argument,
``$CROWDWATCH_CONFIG_DIR``, system or per-user default), creates it with working defaults on
first use, reads ``config.yaml`` (environment variables expanded) and returns a validated
:class:`Config` whose ``paths`` are absolute. The schema is documented in ``docs/CONFIG.md``.
"""

from crowdwatch.config.errors import ConfigError
from crowdwatch.config.loader import load_config, parse_config_file
from crowdwatch.config.locations import Locations, find_locations
from crowdwatch.config.schema import Config, Paths

__all__ = [
    "Config",
    "ConfigError",
    "Locations",
    "Paths",
    "find_locations",
    "load_config",
    "parse_config_file",
]

"""Which data sources exist, which keys each accepts, and how a :class:`SourceSpec` becomes a
running :class:`LiveSource`.

Source modules are imported lazily (``importlib``), on first use: a source whose module or
dependency is missing fails with "source X not available" only when it is configured.
Each source class has a ``from_spec(spec)`` constructor that validates its own options; it
may also declare ``OPTION_KEYS`` (the keys it accepts besides :data:`COMMON_KEYS`), which
then replaces the built-in table below for the load-time check in
:mod:`crowdwatch.acquisition.config`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from crowdwatch.acquisition.base import LiveSource, SourceSpec
from crowdwatch.config.errors import ConfigError

COMMON_KEYS: frozenset[str] = frozenset(
    {"source", "mode", "labels", "name", "log_level", "use_time_machine", "unique_id", "transform"}
)
"""Keys every source accepts (CrowdSec's common acquisition keys). ``source``, ``mode``,
``labels`` and ``name`` become :class:`SourceSpec` fields; the others, when present, are kept
in ``SourceSpec.options`` under their own names for the agent (``transform``,
``use_time_machine``) and are not the source's business."""

PASSTHROUGH_KEYS: frozenset[str] = frozenset({"log_level", "use_time_machine", "unique_id", "transform"})

# source name -> (module, class)
SOURCES: dict[str, tuple[str, str]] = {
    "file": ("crowdwatch.acquisition.tail", "FileSource"),
    "journalctl": ("crowdwatch.acquisition.journald", "JournaldSource"),
    "syslog": ("crowdwatch.acquisition.syslog", "SyslogSource"),
    "docker": ("crowdwatch.acquisition.docker", "DockerSource"),
}

# Keys of each source besides COMMON_KEYS (CrowdSec's names; crowdwatch additions marked).
_BUILTIN_KEYS: dict[str, frozenset[str]] = {
    "file": frozenset(
        {
            "filename",
            "filenames",
            "exclude_regexps",
            "poll_without_inotify",
            "force_inotify",
            "max_buffer_size",
            "discovery_poll_enable",
            "discovery_poll_interval",
            "start_from",  # crowdwatch: tail a file with no saved position from `end` (default) or `beginning`
        }
    ),
    "journalctl": frozenset({"journalctl_filter"}),
    "syslog": frozenset({"listen_addr", "listen_port", "max_message_len", "protocol"}),
    "docker": frozenset(
        {
            "container_name",
            "container_id",
            "container_name_regexp",
            "container_id_regexp",
            "docker_host",
            "use_container_labels",
            "container_labels",
            "check_interval",
            "follow_stdout",
            "follow_stderr",
            "since",
            "until",
        }
    ),
}


class AcquisitionConfigError(ConfigError):
    """An acquisition document is invalid; ``str()`` starts with ``file:line:``."""


def known_sources() -> list[str]:
    return sorted(SOURCES)


def _source_class(source: str) -> Any:
    """The class implementing ``source``; raises :class:`ImportError` if it is not available."""
    module_name, class_name = SOURCES[source]
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def option_keys(source: str) -> frozenset[str]:
    """Keys ``source`` accepts besides :data:`COMMON_KEYS` (the class's ``OPTION_KEYS`` if it
    declares them, else the built-in table). Raises :class:`KeyError` for an unknown source."""
    if source not in SOURCES:
        raise KeyError(source)
    try:
        declared = getattr(_source_class(source), "OPTION_KEYS", None)
    except (ImportError, AttributeError):
        declared = None
    if declared is not None:
        return frozenset(declared)
    return _BUILTIN_KEYS[source]


def check_options(spec: SourceSpec, allowed: Iterable[str]) -> None:
    """Raise :class:`AcquisitionConfigError` if ``spec.options`` has a key outside ``allowed``
    (the pass-through common keys are always accepted). For sources' ``from_spec``."""
    ok = set(allowed) | PASSTHROUGH_KEYS
    unknown = sorted(k for k in spec.options if k not in ok)
    if unknown:
        raise AcquisitionConfigError(
            f"source {spec.source}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            spec.file,
            spec.line,
        )


def build_source(spec: SourceSpec) -> LiveSource:
    """A (not yet started) source for ``spec``. Raises :class:`AcquisitionConfigError` for an
    unknown source, a source whose module is not available, or invalid options."""
    if spec.source not in SOURCES:
        raise AcquisitionConfigError(
            f"unknown source {spec.source!r} (known: {', '.join(known_sources())})", spec.file, spec.line
        )
    try:
        cls = _source_class(spec.source)
    except (ImportError, AttributeError) as exc:
        raise AcquisitionConfigError(
            f"source {spec.source} not available ({exc})", spec.file, spec.line
        ) from None
    source: LiveSource = cls.from_spec(spec)
    return source

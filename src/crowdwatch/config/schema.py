"""Typed models of ``config.yaml`` and their validation (documented in ``docs/CONFIG.md``).

Every section is a frozen dataclass. :func:`build` turns a position-keeping YAML tree
(``crowdwatch.yamlutil``) into a model: unknown keys, wrong types and out-of-range values
raise one :class:`ConfigError` pointing at ``file:line:col``. Field metadata drives the
checks: ``choices`` (allowed strings), ``min`` (lowest integer).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from crowdwatch.config.errors import ConfigError
from crowdwatch.yamlutil import Mapping, YamlError, as_bool, as_int, as_str, is_null, pos_of, type_name

LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "fatal", "panic")


@dataclass(frozen=True)
class CommonSection:
    log_level: str = field(default="info", metadata={"choices": LOG_LEVELS})
    log_dir: str = ""
    log_media: str = field(default="stdout", metadata={"choices": ("stdout", "file")})


@dataclass(frozen=True)
class ConfigPathsSection:
    config_dir: str = ""
    data_dir: str = ""
    hub_dir: str = ""
    index_path: str = ""
    simulation_path: str = ""
    pattern_dir: str = ""


@dataclass(frozen=True)
class CrowdsecServiceSection:
    acquisition_path: str = ""
    acquisition_dir: str = ""
    parser_routines: int = field(default=1, metadata={"min": 1})
    buckets_routines: int = field(default=1, metadata={"min": 1})
    output_routines: int = field(default=1, metadata={"min": 1})


CLIENT_VERIFICATION = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)


@dataclass(frozen=True)
class TlsSection:
    """``api.server.tls``: HTTPS, and client certificates for agents/bouncers (mutual TLS)."""

    cert_file: str = ""
    key_file: str = ""
    client_verification: str = field(
        default="VerifyClientCertIfGiven", metadata={"choices": CLIENT_VERIFICATION}
    )
    ca_cert_path: str = ""
    crl_path: str = ""
    agents_allowed_ou: tuple[str, ...] = ("agent-ou",)
    bouncers_allowed_ou: tuple[str, ...] = ("bouncer-ou",)


@dataclass(frozen=True)
class AutoRegistrationSection:
    """``api.server.auto_registration``: agents registering with ``token`` from one of
    ``allowed_ranges`` are validated at once (checked by ``lapi.registration``)."""

    enabled: bool = False
    token: str = ""  # at least 32 characters when enabled
    allowed_ranges: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiServerSection:
    enable: bool = True
    listen_uri: str = "127.0.0.1:8080"
    profiles_path: str = ""
    trusted_ips: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    use_forwarded_for_headers: bool = False
    tls: TlsSection = field(default_factory=TlsSection)
    auto_registration: AutoRegistrationSection = field(default_factory=AutoRegistrationSection)


@dataclass(frozen=True)
class ApiClientSection:
    """``api.client``: how the agent and the remote-mode CLI reach a LAPI (cscli's format)."""

    credentials_path: str = (
        ""  # YAML with url/login/password (default: <config_dir>/local_api_credentials.yaml)
    )
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class ApiSection:
    client: ApiClientSection = field(default_factory=ApiClientSection)
    server: ApiServerSection = field(default_factory=ApiServerSection)


@dataclass(frozen=True)
class PrometheusSection:
    """``prometheus``: the metrics endpoint of the agent and LAPI (CrowdSec's keys)."""

    enabled: bool = True
    level: str = field(default="full", metadata={"choices": ("full", "aggregated")})
    listen_addr: str = "127.0.0.1"
    listen_port: int = field(default=6060, metadata={"min": 0})


DB_TYPES = ("sqlite", "postgresql", "postgres", "pgx", "mysql")


@dataclass(frozen=True)
class BouncersAutodelete:
    """Delete bouncers that have not pulled for this long (Go duration; empty = never)."""

    api_key: str = ""
    cert: str = ""


@dataclass(frozen=True)
class AgentsAutodelete:
    """Delete machines that have not been seen for this long (Go duration; empty = never)."""

    login_password: str = ""
    cert: str = ""


@dataclass(frozen=True)
class FlushSection:
    """``db_config.flush``: alert retention (active decisions are never flushed)."""

    max_items: int = field(default=0, metadata={"min": 0})  # 0 = no count limit
    max_age: str = ""  # e.g. 7d; empty = no age limit
    bouncers_autodelete: BouncersAutodelete = field(default_factory=BouncersAutodelete)
    agents_autodelete: AgentsAutodelete = field(default_factory=AgentsAutodelete)


@dataclass(frozen=True)
class DbConfigSection:
    """CrowdSec's ``db_config`` keys: ``db_path`` for SQLite, the others for PostgreSQL/MySQL."""

    type: str = field(default="sqlite", metadata={"choices": DB_TYPES})
    db_path: str = ""
    user: str = ""
    password: str = ""
    db_name: str = ""
    host: str = ""
    port: int = field(default=0, metadata={"min": 0})
    sslmode: str = ""
    use_wal: bool = True
    max_open_conns: int = field(default=10, metadata={"min": 1})
    flush: FlushSection = field(default_factory=FlushSection)


@dataclass(frozen=True)
class CrowdwatchSection:
    """Options specific to crowdwatch (no CrowdSec equivalent)."""

    max_line_bytes: int = field(default=64 * 1024, metadata={"min": 1})
    alert_queue_max: int = field(default=100_000, metadata={"min": 1})  # alerts waiting for the LAPI, on disk
    checkpoint_interval: str = "1s"  # how often the agent persists positions, alerts and bucket state
    push_batch: int = field(default=50, metadata={"min": 1})  # alerts per POST /v1/alerts


@dataclass(frozen=True)
class Paths:
    """Effective absolute locations derived from the configuration (defaults filled in)."""

    config_dir: Path
    config_file: Path
    state_dir: Path
    data_dir: Path
    hub_dir: Path
    index_path: Path
    simulation_path: Path
    pattern_dir: Path | None  # None: the patterns shipped with the content being loaded
    acquisition_path: Path
    acquisition_dir: Path
    log_dir: Path
    db_path: Path
    profiles_path: Path
    credentials_path: Path
    agent_state_path: Path


@dataclass(frozen=True)
class Settings:
    """The content of ``config.yaml`` as written (empty strings mean "default")."""

    common: CommonSection = field(default_factory=CommonSection)
    config_paths: ConfigPathsSection = field(default_factory=ConfigPathsSection)
    crowdsec_service: CrowdsecServiceSection = field(default_factory=CrowdsecServiceSection)
    api: ApiSection = field(default_factory=ApiSection)
    db_config: DbConfigSection = field(default_factory=DbConfigSection)
    prometheus: PrometheusSection = field(default_factory=PrometheusSection)
    crowdwatch: CrowdwatchSection = field(default_factory=CrowdwatchSection)

    @classmethod
    def from_dict(cls, node: Any, file: str = "") -> Settings:
        """Validate a YAML tree (``None`` = empty file) into settings; raises :class:`ConfigError`."""
        return build(cls, node, file, "")


@dataclass(frozen=True)
class Config:
    """A loaded configuration: the settings plus resolved :class:`Paths`."""

    settings: Settings
    paths: Paths

    @property
    def common(self) -> CommonSection:
        return self.settings.common

    @property
    def crowdsec_service(self) -> CrowdsecServiceSection:
        return self.settings.crowdsec_service

    @property
    def api(self) -> ApiSection:
        return self.settings.api

    @property
    def db_config(self) -> DbConfigSection:
        return self.settings.db_config

    @property
    def prometheus(self) -> PrometheusSection:
        return self.settings.prometheus

    @property
    def crowdwatch(self) -> CrowdwatchSection:
        return self.settings.crowdwatch

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: every section with defaults filled in, plus ``paths``."""
        out = _plain(dataclasses.asdict(self.settings))
        out["paths"] = _plain(dataclasses.asdict(self.paths))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


# --- validation ---------------------------------------------------------------------------

T = TypeVar("T")


def build(cls: type[T], node: Any, file: str, where: str) -> T:
    """Build dataclass ``cls`` from mapping ``node``; ``where`` is the dotted key path for messages."""
    if is_null(node):
        return cls()
    if not isinstance(node, dict):
        line, col = pos_of(node)
        what = where or "configuration"
        raise ConfigError(f"{what}: expected a mapping, got a {type_name(node)}", file, line, col)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        name = str(key)
        path = f"{where}.{name}" if where else name
        if name not in known:
            line, col = node.pos(key) if isinstance(node, Mapping) else pos_of(node)
            allowed = ", ".join(known)
            raise ConfigError(f"unknown key {path!r} (allowed here: {allowed})", file, line, col)
        kwargs[name] = _convert(hints[name], value, file, path, known[name])
    return cls(**kwargs)


def _convert(hint: Any, value: Any, file: str, path: str, fld: dataclasses.Field[Any]) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, file, path)
    if is_null(value):
        return fld.default_factory() if fld.default_factory is not dataclasses.MISSING else fld.default
    if hint == tuple[str, ...]:
        return _str_list(value, file, path)
    if isinstance(value, dict | list):
        raise ConfigError(f"{path}: expected {_KIND[hint]}, got a {type_name(value)}", file, *pos_of(value))
    try:
        if hint is bool:
            result: Any = as_bool(value, path, file)
        elif hint is int:
            if getattr(value, "tag", "").endswith(":bool"):
                raise ConfigError(f"{path}: expected an integer, got a boolean", file, *pos_of(value))
            result = as_int(value, path, file)
        else:
            result = as_str(value, path, file)
    except YamlError as exc:
        raise ConfigError(exc.message, exc.file, exc.line, exc.col) from None
    return _check(result, value, file, path, fld)


def _str_list(value: Any, file: str, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f"{path}: expected a list of strings, got a {type_name(value)}", file, *pos_of(value)
        )
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict | list):
            raise ConfigError(f"{path}[{i}]: expected a string, got a {type_name(item)}", file, *pos_of(item))
        try:
            out.append(as_str(item, f"{path}[{i}]", file))
        except YamlError as exc:
            raise ConfigError(exc.message, exc.file, exc.line, exc.col) from None
    return tuple(out)


_KIND = {bool: "true or false", int: "an integer", str: "a string"}


def _check(result: Any, value: Any, file: str, path: str, fld: dataclasses.Field[Any]) -> Any:
    choices = fld.metadata.get("choices")
    if choices is not None and result not in choices:
        raise ConfigError(f"{path}: {result!r} is not one of {', '.join(choices)}", file, *pos_of(value))
    low = fld.metadata.get("min")
    if low is not None and result < low:
        raise ConfigError(f"{path}: must be at least {low}, got {result}", file, *pos_of(value))
    return result

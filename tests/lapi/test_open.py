"""Wiring from config.yaml: database, profiles, retention and network options."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crowdwatch.config import ConfigError, load_config
from crowdwatch.config.schema import ApiServerSection
from crowdwatch.lapi import open_lapi, retention_policy
from crowdwatch.lapi.server.options import OptionsError, ServerOptions


def _config(tmp_path: Path, extra: str) -> Path:
    d = tmp_path / "cw"
    load_config(d)  # writes the defaults
    cfg = d / "config.yaml"
    cfg.write_text(
        cfg.read_text().replace("db_config:\n  type: sqlite\n", "db_config:\n  type: sqlite\n" + extra)
    )
    return d


def test_open_lapi_with_flush_settings(tmp_path: Path) -> None:
    d = _config(
        tmp_path,
        "  flush:\n    max_items: 100\n    max_age: 7d\n    bouncers_autodelete:\n      api_key: 1h\n",
    )
    svc = open_lapi(load_config(d))
    try:
        assert svc.retention.max_items == 100 and svc.retention.max_age == timedelta(days=7)
        assert svc.retention.bouncer_api_key == timedelta(hours=1) and svc.retention.agent_cert is None
        assert [p.name for p in svc.profiles] == ["default_ip_remediation", "default_range_remediation"]
        assert (d / "data" / "crowdwatch.db").is_file()
    finally:
        svc.db.dispose()


def test_bad_flush_duration_is_a_config_error(tmp_path: Path) -> None:
    d = _config(tmp_path, "  flush:\n    max_age: a week\n")
    with pytest.raises(ConfigError, match=r"db_config\.flush\.max_age: invalid duration 'a week'"):
        retention_policy(load_config(d).db_config.flush)


def test_bad_trusted_ip_is_refused() -> None:
    with pytest.raises(OptionsError, match=r"api\.server\.trusted_ips: 'lan'"):
        ServerOptions.from_config(ApiServerSection(trusted_ips=("lan",)))

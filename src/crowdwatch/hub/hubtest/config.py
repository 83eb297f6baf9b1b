"""A hub test directory's ``config.yaml`` (HUB.md §7.1, OUTPUT_CONTRACT.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from crowdwatch import yamlutil
from crowdwatch.hub.index import HubError

OVERRIDES_FILE = "00_overrides.yaml"
OVERRIDES_STAGE = "s00-raw"


@dataclass
class TestConfig:
    """What one hub test loads and feeds."""

    __test__ = False  # not a pytest class

    dir: Path
    parsers: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    postoverflows: list[str] = field(default_factory=list)
    log_file: str = ""
    log_type: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ignore_parsers: bool = False
    override_statics: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def log_path(self) -> Path:
        return self.dir / self.log_file

    @property
    def checks_scenarios(self) -> bool:
        """``scenario.assert`` is checked when at least one scenario is listed."""
        return bool(self.scenarios)

    def overrides_yaml(self) -> str | None:
        """The synthetic ``s00-raw/00_overrides.yaml`` node for ``override_statics`` (or ``None``).

        Scalars are re-emitted with their source text (quoted when they were strings) so the
        parser sees exactly what the test author wrote.
        """
        if not self.override_statics:
            return None
        statics = ", ".join(_flow(s) for s in self.override_statics)
        return f'name: overrides\nfilter: "1==1"\nstatics: [{statics}]\n'


def _flow(value: Any) -> str:
    """YAML flow text of a loaded value, keeping scalar source text and type."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, yamlutil.Scalar) and not value.tag.endswith(":str"):
        return str(value)
    return orjson.dumps(str(value)).decode()


def _str_list(doc: dict[str, Any], key: str, file: str) -> list[str]:
    raw = doc.get(key)
    if yamlutil.is_null(raw):
        return []
    if not isinstance(raw, list):
        raise yamlutil.err(f"{key}: expected a list", file, raw)
    return [s for s in (yamlutil.as_str(v, key, file) for v in raw) if s]


def load_test_config(test_dir: Path) -> TestConfig:
    """Read ``<test_dir>/config.yaml``; :class:`HubError` with file:line on bad content."""
    path = test_dir / "config.yaml"
    file = str(path)
    try:
        doc = yamlutil.load_one(path.read_bytes(), file)
    except OSError as exc:
        raise HubError(f"{path}: cannot read test config: {exc.strerror or exc}") from None
    except yamlutil.YamlError as exc:
        raise HubError(str(exc)) from None
    if not isinstance(doc, dict):
        raise HubError(f"{path}: test config is not a mapping")
    try:
        labels_raw = doc.get("labels")
        labels: dict[str, str] = {}
        if isinstance(labels_raw, dict):
            labels = {str(k): yamlutil.as_str(v, f"labels.{k}", file) for k, v in labels_raw.items()}
        elif not yamlutil.is_null(labels_raw):
            raise yamlutil.err("labels: expected a mapping", file, labels_raw)
        statics = doc.get("override_statics")
        ignore = doc.get("ignore_parsers")
        cfg = TestConfig(
            dir=test_dir,
            parsers=_str_list(doc, "parsers", file),
            scenarios=_str_list(doc, "scenarios", file),
            postoverflows=_str_list(doc, "postoverflows", file),
            log_file=yamlutil.as_str(doc.get("log_file"), "log_file", file),
            log_type=yamlutil.as_str(doc.get("log_type"), "log_type", file),
            labels=labels,
            ignore_parsers=False
            if yamlutil.is_null(ignore)
            else yamlutil.as_bool(ignore, "ignore_parsers", file),
            override_statics=list(statics) if isinstance(statics, list) else [],
        )
    except yamlutil.YamlError as exc:
        raise HubError(str(exc)) from None
    if not cfg.log_file:
        raise HubError(f"{path}: log_file is missing")
    return cfg

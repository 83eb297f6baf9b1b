from __future__ import annotations

from pathlib import Path

import pytest
from tests.hub.conftest import write

from crowdwatch import yamlutil
from crowdwatch.hub import HubError
from crowdwatch.hub.hubtest.config import load_test_config

CONFIG = """\
parsers:
- crowdsecurity/syslog-logs
- ""
- ./parsers/s01-parse/crowdsecurity/sshd-logs.yaml
scenarios:
- ""
postoverflows:
log_file: x.log
log_type: syslog
labels:
  program: envoy
  port: 8080
ignore_parsers: yes
override_statics:
 - target: evt.Line.Module
   value: wineventlog
 - target: evt.Parsed.EventID
   value: "6200"
 - meta: ratio
   value: 1.50
"""


def test_config_keys(tmp_path: Path) -> None:
    write(tmp_path / "config.yaml", CONFIG)
    cfg = load_test_config(tmp_path)
    assert cfg.parsers == ["crowdsecurity/syslog-logs", "./parsers/s01-parse/crowdsecurity/sshd-logs.yaml"]
    assert cfg.scenarios == [] and cfg.postoverflows == []
    assert not cfg.checks_scenarios
    assert cfg.labels == {"program": "envoy", "port": "8080"}
    assert cfg.ignore_parsers is True
    assert cfg.log_path == tmp_path / "x.log"


def test_override_statics_node_keeps_scalar_text(tmp_path: Path) -> None:
    write(tmp_path / "config.yaml", CONFIG)
    text = load_test_config(tmp_path).overrides_yaml()
    assert text is not None
    node = yamlutil.load_one(text)
    assert node["name"] == "overrides"
    assert node["filter"] == "1==1"
    statics = node["statics"]
    assert [dict(s) for s in statics] == [
        {"target": "evt.Line.Module", "value": "wineventlog"},
        {"target": "evt.Parsed.EventID", "value": "6200"},
        {"meta": "ratio", "value": "1.50"},  # source text kept, not 1.5
    ]
    assert statics[1]["value"].tag.endswith(":str")
    assert statics[2]["value"].tag.endswith(":float")


def test_no_overrides(tmp_path: Path) -> None:
    write(tmp_path / "config.yaml", "log_file: a.log\noverride_statics: []\n")
    assert load_test_config(tmp_path).overrides_yaml() is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("parsers: [a\n", "invalid YAML"),
        ("- a\n", "not a mapping"),
        ("parsers: a\nlog_file: x\n", "parsers: expected a list"),
        ("parsers: []\n", "log_file is missing"),
        ("log_file: x\nignore_parsers: maybe\n", "ignore_parsers: expected true or false"),
    ],
)
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "config.yaml", text)
    with pytest.raises(HubError, match=message):
        load_test_config(tmp_path)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(HubError, match="cannot read test config"):
        load_test_config(tmp_path)

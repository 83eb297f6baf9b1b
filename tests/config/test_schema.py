import pytest

from crowdwatch.config import ConfigError
from crowdwatch.config.schema import Settings
from crowdwatch.yamlutil import load_one


def _settings(text: str) -> Settings:
    return Settings.from_dict(load_one(text, "c.yaml"), "c.yaml")


def test_empty_document_gives_defaults() -> None:
    s = _settings("")
    assert s.common.log_level == "info"
    assert s.api.server.listen_uri == "127.0.0.1:8080"
    assert s.crowdwatch.max_line_bytes == 65536


def test_values_are_typed() -> None:
    s = _settings(
        "common: {log_level: debug}\ncrowdsec_service: {parser_routines: 4}\n"
        "api: {server: {enable: false}}\ncrowdwatch: {max_line_bytes: 1024}\n"
    )
    assert s.common.log_level == "debug"
    assert s.crowdsec_service.parser_routines == 4
    assert s.api.server.enable is False
    assert s.crowdwatch.max_line_bytes == 1024


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("common:\n  log_levle: info\n", "c.yaml:2:3: unknown key 'common.log_levle'"),
        ("bogus: 1\n", "c.yaml:1:1: unknown key 'bogus'"),
        ("api:\n  server:\n    enable: maybe\n", "c.yaml:3:13: api.server.enable: expected true or false"),
        (
            "crowdsec_service:\n  parser_routines: two\n",
            "c.yaml:2:20: crowdsec_service.parser_routines: expected an integer",
        ),
        (
            "crowdsec_service:\n  parser_routines: 0\n",
            "c.yaml:2:20: crowdsec_service.parser_routines: must be at least 1",
        ),
        (
            "crowdwatch:\n  max_line_bytes: true\n",
            "c.yaml:2:19: crowdwatch.max_line_bytes: expected an integer, got a boolean",
        ),
        ("common:\n  log_level: loud\n", "c.yaml:2:14: common.log_level: 'loud' is not one of"),
        ("common: [1]\n", "c.yaml:1:9: common: expected a mapping, got a list"),
        ("db_config:\n  db_path: [a]\n", "c.yaml:2:12: db_config.db_path: expected a string, got a list"),
        ("- 1\n", "c.yaml:1:1: configuration: expected a mapping"),
    ],
)
def test_errors_point_at_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _settings(text)
    assert str(exc.value).startswith(message)

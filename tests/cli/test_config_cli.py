import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crowdwatch.cli.context import CliError
from crowdwatch.cli.main import _register_all, app

_register_all()


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    if isinstance(result.exception, CliError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_show_json_creates_the_directory(tmp_path: Path) -> None:
    code, out = _run(["--config-dir", str(tmp_path / "cw"), "config", "show", "-o", "json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["paths"]["config_file"] == str(tmp_path / "cw" / "config.yaml")
    assert doc["paths"]["data_dir"] == str(tmp_path / "cw" / "data")
    assert doc["common"]["log_level"] == "info"
    assert (tmp_path / "cw" / "config.yaml").is_file()


def test_show_human(tmp_path: Path) -> None:
    code, out = _run(["--config-dir", str(tmp_path), "config", "show"])
    assert code == 0
    assert "config_paths" in out and "max_line_bytes" in out


def test_show_reports_bad_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("common:\n  nope: 1\n")
    code, msg = _run(["--config-dir", str(tmp_path), "config", "show"])
    assert code == 2
    assert msg.startswith(f"{tmp_path / 'config.yaml'}:2:3: unknown key 'common.nope'")


@pytest.mark.parametrize(
    ("text", "ok"), [("db_config:\n  type: sqlite\n", True), ("db_config:\n  type: oracle\n", False)]
)
def test_validate_file(tmp_path: Path, text: str, ok: bool) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    code, out = _run(["config", "validate", str(f)])
    if ok:
        assert (code, out.strip()) == (0, f"{f}: OK")
    else:
        assert code == 2
        assert out.startswith(f"{f}:2:9: db_config.type: 'oracle' is not one of sqlite")


def test_validate_default_file_missing(tmp_path: Path) -> None:
    code, msg = _run(["--config-dir", str(tmp_path / "none"), "config", "validate"])
    assert code == 2
    assert "no such configuration file" in msg
    assert not (tmp_path / "none").exists()

"""Shared fixtures for hub tests: a tiny hub tree built in tmp_path, and the shared snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the checkout
SHARED_HUB = SHARED / "hub"
SHARED_CASES = SHARED / "hubtest" / "cases"
CHECK_PY = SHARED / "hubtest" / "check.py"


@pytest.fixture
def shared_hub() -> Path:
    if not (SHARED_HUB / ".index.json").is_file():
        pytest.skip("../shared/hub (CrowdSec hub snapshot) is not available")
    return SHARED_HUB


@pytest.fixture
def shared_cases() -> Path:
    if not SHARED_CASES.is_dir() or not CHECK_PY.is_file():
        pytest.skip("../shared/hubtest (hub test cases + check.py) is not available")
    return SHARED_CASES


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def mini_hub(tmp_path: Path) -> Path:
    """A hub with two parsers, a scenario and nested collections (index + files)."""
    root = tmp_path / "hub"
    write(root / "parsers/s01-parse/acme/web-logs.yaml", "name: acme/web-logs\n")
    write(root / "parsers/s00-raw/acme/raw.yaml", "name: acme/raw\n")
    write(root / "scenarios/acme/web-bf.yaml", "name: acme/web-bf\n")
    index = {
        "parsers": {
            "acme/web-logs": {"path": "parsers/s01-parse/acme/web-logs.yaml", "stage": "s01-parse"},
            "acme/raw": {"path": "parsers/s00-raw/acme/raw.yaml", "stage": "s00-raw"},
        },
        "scenarios": {"acme/web-bf": {"path": "scenarios/acme/web-bf.yaml"}},
        "collections": {
            "acme/web": {
                "path": "collections/acme/web.yaml",
                "parsers": ["acme/web-logs"],
                "scenarios": ["acme/web-bf"],
                "collections": ["acme/base"],
            },
            "acme/base": {"path": "collections/acme/base.yaml", "parsers": ["acme/raw"]},
        },
    }
    write(root / "collections/acme/web.yaml", "name: acme/web\n")
    write(root / "collections/acme/base.yaml", "name: acme/base\n")
    write(root / ".index.json", json.dumps(index))
    return root

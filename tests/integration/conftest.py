"""Fixtures of the integration suite: crowdwatch's LAPI started as ``crowdwatch lapi`` in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .int_support import Lapi, running_lapi


@pytest.fixture
def lapi(tmp_path: Path) -> Iterator[Lapi]:
    """A ``crowdwatch lapi`` process on a fresh SQLite database, with bouncer key ``lapi.key``."""
    with running_lapi(tmp_path / "cw") as server:
        yield server

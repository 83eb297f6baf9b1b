"""State shared by CLI commands (global options) and CLI error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


class CliError(Exception):
    """A user-facing error: printed as one line (plus a hint), exit status 2, no traceback."""


@dataclass
class CliState:
    config_dir: str | None = None


STATE = CliState()

_err: Console | None = None


def err_console() -> Console:
    global _err
    if _err is None:
        from rich.console import Console  # Rich is slow to import: only when an error is printed

        _err = Console(stderr=True)
    return _err

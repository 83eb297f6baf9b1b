"""Registers command groups on the root Typer app.

Each command module is imported only when needed: the ``crowdwatch`` process registers just
the command named on its command line (all of them for ``--help`` or an unknown name), so
one command does not pay for importing the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

# command name -> module exposing register(app: typer.Typer) -> None
_MODULES = {
    "replay": "crowdwatch.cli.replay_cmd",
    "explain": "crowdwatch.cli.explain_cmd",
    "hubtest": "crowdwatch.cli.hubtest_cmd",
    "config": "crowdwatch.cli.config_cmd",
    "lapi": "crowdwatch.cli.lapi_cmd",
    "machines": "crowdwatch.cli.machines_cmd",
    "bouncers": "crowdwatch.cli.bouncers_cmd",
    "decisions": "crowdwatch.cli.decisions_cmd",
    "alerts": "crowdwatch.cli.alerts_cmd",
    "allowlists": "crowdwatch.cli.allowlists_cmd",
    "metrics": "crowdwatch.cli.metrics_cmd",
    "agent": "crowdwatch.cli.agent_cmd",
    "run": "crowdwatch.cli.run_cmd",
    "demo": "crowdwatch.cli.demo_cmd",
}
_GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--config-dir"})


def command_name(argv: Sequence[str]) -> str | None:
    """The command word of a ``crowdwatch`` command line (after global options), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _GLOBAL_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def register(app: typer.Typer, only: str | None = None) -> None:
    """Register every command group, or only ``only`` when it names one."""
    names = [only] if only in _MODULES else list(_MODULES)
    for name in names:
        module = _MODULES[name]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # command module not written yet
                continue
            raise
        mod.register(app)

"""Registers every command group on the root Typer app."""

from __future__ import annotations

import importlib

import typer

# module name -> each exposes register(app: typer.Typer) -> None
_MODULES = (
    "crowdwatch.cli.replay_cmd",
    "crowdwatch.cli.explain_cmd",
    "crowdwatch.cli.hubtest_cmd",
    "crowdwatch.cli.config_cmd",
)


def register(app: typer.Typer) -> None:
    for name in _MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command module not written yet
                continue
            raise
        mod.register(app)

"""Errors of the Local API: each maps to one HTTP status and CrowdSec's ``{"message": ...}`` body."""

from __future__ import annotations


class LapiError(Exception):
    """A request that cannot be served; ``status`` is the HTTP status to answer with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(LapiError):
    status = 400


class Unauthorized(LapiError):
    status = 401


class Forbidden(LapiError):
    status = 403


class NotFound(LapiError):
    status = 404


class ProfileRuntimeError(LapiError):
    """A profile filter failed and its ``on_error`` is empty: CrowdSec refuses the whole batch."""

    status = 500


class ProfileLoadError(Exception):
    """A ``profiles.yaml`` problem, with ``file:line:col``."""

    def __init__(self, message: str, file: str = "", line: int = 0, col: int = 0) -> None:
        where = file
        if line:
            where += f":{line}" + (f":{col}" if col else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line
        self.col = col

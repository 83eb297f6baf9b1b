"""Strict decoding shared by hub item schemas (parsers, postoverflows, scenarios).

Decoding mirrors a strict Go YAML decoder: unknown keys and wrongly typed values are load
errors naming ``file:line:col``; string fields keep the scalar's source text; null means
"unset". Each item kind raises its own :class:`ItemLoadError` subclass, so the helpers live
on a :class:`StrictDecoder` bound to that class. The ``data`` entry (:class:`DataSpec`,
ENGINE.md §4.9) and its loading (:func:`load_data`) are common to every item kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from crowdwatch.expr.helpers import datafiles
from crowdwatch.yamlutil import (
    Mapping,
    Scalar,
    YamlError,
    as_bool,
    as_int,
    as_str,
    is_null,
    pos_of,
    type_name,
)

DATA_KEYS = frozenset({"source_url", "dest_file", "type", "cache", "strategy", "size", "ttl"})


class ItemLoadError(YamlError):
    """A hub item file cannot be loaded. ``str()`` is ``file:line[:col]: message``; ``.file`` names the file."""

    def __init__(self, message: str, file: str = "", line: int = 0, col: int = 0) -> None:
        super().__init__(message, file, line, col)
        if file and line and not col:
            self.args = (f"{file}:{line}: {message}",)

    @classmethod
    def at(cls, message: str, file: str, value: Any = None) -> Self:
        """An error located at ``value`` (a yamlutil scalar/mapping/sequence) in ``file``."""
        line, col = pos_of(value)
        return cls(message, file, line, col)

    @classmethod
    def from_yaml(cls, exc: YamlError) -> Self:
        return cls(exc.message, exc.file, exc.line, exc.col)


class StrictDecoder:
    """Typed field accessors raising ``error`` (an :class:`ItemLoadError` subclass)."""

    __slots__ = ("error",)

    def __init__(self, error: type[ItemLoadError]) -> None:
        self.error = error

    def mapping(self, raw: Any, what: str, file: str, allowed: frozenset[str]) -> Mapping:
        """``raw`` as a mapping whose keys are all in ``allowed``."""
        if not isinstance(raw, Mapping):
            raise self.error.at(f"{what}: expected a mapping, got a {type_name(raw)}", file, raw)
        for key in raw:
            if key not in allowed:
                line, col = raw.pos(key)
                raise self.error(f"{what}: unknown key {str(key)!r}", file, line, col)
        return raw

    def text(self, m: Mapping, key: str, file: str) -> str:
        """A Go string field: the scalar source text (kept as a :class:`Scalar` for its position)."""
        value = m.get(key)
        if isinstance(value, Scalar) and not is_null(value):
            return value
        try:
            return as_str(value, key, file)
        except YamlError as exc:
            raise self.error.from_yaml(exc) from None

    def opt_bool(self, m: Mapping, key: str, file: str) -> bool:
        value = m.get(key)
        return False if is_null(value) else self.boolean(value, key, file)

    def boolean(self, value: Any, what: str, file: str) -> bool:
        try:
            return as_bool(value, what, file)
        except YamlError as exc:
            raise self.error.from_yaml(exc) from None

    def opt_int(self, m: Mapping, key: str, file: str) -> int:
        value = m.get(key)
        return 0 if is_null(value) else self.integer(value, key, file)

    def integer(self, value: Any, what: str, file: str) -> int:
        try:
            return as_int(value, what, file)
        except YamlError as exc:
            raise self.error.from_yaml(exc) from None

    def items(self, m: Mapping, key: str, file: str) -> list[Any]:
        """A list field; null is the empty list."""
        value = m.get(key)
        if is_null(value):
            return []
        if not isinstance(value, list):
            raise self.error.at(f"{key}: expected a list, got a {type_name(value)}", file, value)
        return value

    def str_list(self, m: Mapping, key: str, file: str, *, allow_null: bool) -> list[Scalar]:
        """A list of string scalars; ``allow_null`` accepts null entries."""
        out: list[Scalar] = []
        for item in self.items(m, key, file):
            if not isinstance(item, Scalar) or (not allow_null and is_null(item)):
                raise self.error.at(f"{key}: expected a string, got a {type_name(item)}", file, item)
            out.append(item)
        return out


@dataclass(slots=True)
class DataSpec:
    """A ``data`` entry (§4.9): ``cache``/``strategy``/``size``/``ttl`` set up a regexp result cache."""

    source_url: str
    dest_file: str
    type: str
    cache: bool | None
    strategy: str
    size: int
    ttl: str  # Go duration text, "" when absent
    line: int

    @classmethod
    def from_yaml(cls, raw: Any, file: str, decode: StrictDecoder) -> DataSpec:
        m = decode.mapping(raw, "data entry", file, DATA_KEYS)
        cache, size = m.get("cache"), m.get("size")
        return cls(
            source_url=decode.text(m, "source_url", file),
            dest_file=decode.text(m, "dest_file", file),
            type=decode.text(m, "type", file),
            cache=None if is_null(cache) else decode.boolean(cache, "data cache", file),
            strategy=decode.text(m, "strategy", file),
            size=0 if is_null(size) else decode.integer(size, "data size", file),
            ttl=decode.text(m, "ttl", file),
            line=m.line,
        )


def load_data(
    data: DataSpec,
    data_dir: Path | None,
    file: str,
    log: logging.Logger,
    invalid: type[ItemLoadError] | None = None,
) -> None:
    """Load ``data``'s file into the global data-file registry.

    A missing directory or unreadable file is logged on ``log``; a file whose content does
    not parse raises ``invalid`` when given, and is logged otherwise.
    """
    if not data.type:
        return
    if data_dir is None:
        log.error("%s:%d: no data directory, cannot load %s", file, data.line, data.dest_file)
        return
    try:
        datafiles.load(
            data_dir,
            str(data.dest_file),
            str(data.type),
            cache=data.cache,
            strategy=str(data.strategy),
            size=data.size,
            ttl=str(data.ttl),
        )
    except (OSError, ValueError) as exc:
        if invalid is not None and not isinstance(exc, OSError):
            raise invalid(f"data file {data.dest_file}: {exc}", file, data.line) from None
        log.error("%s:%d: cannot load data file %s: %s", file, data.line, data.dest_file, exc)

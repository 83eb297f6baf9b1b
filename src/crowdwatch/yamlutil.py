"""YAML loading that keeps what CrowdSec's strict Go decoder sees.

Go's YAML decoder gives a string field the scalar's *source text* (``value: 1.50`` is
``"1.50"``, ``value: yes`` is ``"yes"``) while typed fields get typed values. Python's
loaders convert eagerly, so this loader keeps every scalar as a :class:`Scalar`, a ``str``
subclass that remembers its resolved YAML tag and its position. Schema code then asks for
the type it needs with :func:`as_str`, :func:`as_int`, :func:`as_float`, :func:`as_bool` or
:func:`plain` (YAML 1.1 typed value, e.g. for ``labels``), and reports errors as
``file:line:col``.

Mappings are :class:`Mapping` (a ``dict`` with ``.line``/``.col`` and per-key positions) and
sequences :class:`Sequence` (a ``list`` with ``.line``/``.col``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml's scanner/parser when available; construction stays in Python
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - pure-Python fallback
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class YamlError(Exception):
    """A YAML document is malformed or does not fit its schema. ``str()`` starts with file:line:col."""

    def __init__(self, message: str, file: str = "", line: int = 0, col: int = 0) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        where = file
        if line:
            where = f"{where}:{line}:{col}" if where else f"{line}:{col}"
        super().__init__(f"{where}: {message}" if where else message)


class Scalar(str):
    """A YAML scalar's source text, with its resolved tag and 1-based position."""

    __slots__ = ("col", "line", "tag")
    tag: str
    line: int
    col: int

    def __new__(cls, text: str, tag: str = "tag:yaml.org,2002:str", line: int = 0, col: int = 0) -> Scalar:
        obj = super().__new__(cls, text)
        obj.tag = tag
        obj.line = line
        obj.col = col
        return obj


class Mapping(dict[Any, Any]):
    """A YAML mapping with positions: ``.line``/``.col`` of the mapping and ``key_pos[key]``."""

    line: int = 0
    col: int = 0
    key_pos: dict[Any, tuple[int, int]]

    def pos(self, key: Any) -> tuple[int, int]:
        return self.key_pos.get(key, (self.line, self.col))


class Sequence(list[Any]):
    line: int = 0
    col: int = 0


class _Loader(_BaseLoader):
    """Builds Scalar/Mapping/Sequence trees."""


def _construct_scalar(loader: _Loader, node: yaml.ScalarNode) -> Scalar:
    return Scalar(node.value, node.tag, node.start_mark.line + 1, node.start_mark.column + 1)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[Mapping]:
    m = Mapping()
    m.line = node.start_mark.line + 1
    m.col = node.start_mark.column + 1
    m.key_pos = {}
    yield m
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list):
            raise yaml.constructor.ConstructorError(
                None, None, "a list cannot be a mapping key", key_node.start_mark
            )
        if key in m:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        m[key] = loader.construct_object(value_node, deep=True)
        m.key_pos[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[Sequence]:
    s = Sequence()
    s.line = node.start_mark.line + 1
    s.col = node.start_mark.column + 1
    yield s
    s.extend(loader.construct_object(child, deep=True) for child in node.value)


for _tag in (
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:merge",
):
    _Loader.add_constructor(_tag, _construct_scalar)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:omap", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:set", _construct_mapping)
_Loader.add_constructor(None, _construct_scalar)  # unknown tags: keep text


def load_all(text: str | bytes, file: str = "") -> list[Any]:
    """Parse a multi-document YAML stream; empty documents are returned as ``None``."""
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        raise YamlError(f"invalid YAML: {msg}", file, line, col) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", file) from None
    except UnicodeDecodeError as exc:
        raise YamlError(f"file is not valid UTF-8 ({exc.reason})", file) from None


def load_file(path: str | Path) -> list[Any]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}", str(p)) from None
    return load_all(data, str(p))


def load_one(text: str | bytes, file: str = "") -> Any:
    docs = [d for d in load_all(text, file) if d is not None]
    if len(docs) > 1:
        raise YamlError("expected a single YAML document", file)
    return docs[0] if docs else None


# --- typed accessors -------------------------------------------------------------------

_INT_RE = re.compile(r"^[-+]?(0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+)$")
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}


def pos_of(value: Any) -> tuple[int, int]:
    return (getattr(value, "line", 0), getattr(value, "col", 0))


def err(message: str, file: str, value: Any = None) -> YamlError:
    line, col = pos_of(value)
    return YamlError(message, file, line, col)


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, Scalar) and value.tag.endswith(":null"))


def as_str(value: Any, what: str, file: str = "") -> str:
    """Go ``string`` field: the scalar source text; null → ``""``."""
    if is_null(value):
        return ""
    if isinstance(value, str):
        return str(value)
    raise err(f"{what}: expected a string, got a {type_name(value)}", file, value)


def as_int(value: Any, what: str, file: str = "") -> int:
    if isinstance(value, Scalar) and value.tag.endswith(":int") and _INT_RE.match(value):
        return int(value.replace("_", ""), 0) if not re.match(r"^[-+]?0[0-7]", value) else int(value, 8)
    if isinstance(value, bool) or not isinstance(value, (int, Scalar)):
        raise err(f"{what}: expected an integer, got {type_name(value)}", file, value)
    if isinstance(value, int):
        return value
    raise err(f"{what}: expected an integer, got {value!r}", file, value)


def as_float(value: Any, what: str, file: str = "") -> float:
    if isinstance(value, Scalar) and value.tag.split(":")[-1] in ("int", "float"):
        text = value.replace("_", "").lower()
        if text in (".inf", "+.inf"):
            return math.inf
        if text == "-.inf":
            return -math.inf
        if text == ".nan":
            return math.nan
        try:
            return float(text) if not value.tag.endswith(":int") else float(as_int(value, what, file))
        except ValueError:
            pass
    raise err(f"{what}: expected a number, got {type_name(value)} {value!r}", file, value)


def as_bool(value: Any, what: str, file: str = "") -> bool:
    if isinstance(value, Scalar) and value.tag.endswith(":bool"):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    if isinstance(value, bool):
        return value
    raise err(f"{what}: expected true or false, got {type_name(value)} {value!r}", file, value)


def plain(value: Any) -> Any:
    """Convert a tree to plain Python values with YAML 1.1 typing (for free-form maps like labels)."""
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Scalar):
        kind = value.tag.split(":")[-1]
        try:
            if kind == "null":
                return None
            if kind == "bool":
                return as_bool(value, "")
            if kind == "int":
                return as_int(value, "")
            if kind == "float":
                return as_float(value, "")
        except YamlError:
            return str(value)
        return str(value)
    return value


def type_name(value: Any) -> str:
    if isinstance(value, Mapping | dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Scalar):
        kind = value.tag.split(":")[-1]
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "null": "null"}.get(
            kind, kind
        )
    return type(value).__name__

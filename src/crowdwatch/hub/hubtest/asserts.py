"""Evaluate ``parser.assert`` lines with crowdwatch's own expression engine (HUB.md §7.3).

``results`` is the document's ``parsers`` map turned into values that behave like the Go
types cscli hubtest evaluates (OUTPUT_CONTRACT.md §4): a missing stage or node reads as an
empty list, a missing ``Parsed``/``Meta``/``Enriched``/``Labels`` key as ``""``, each entry
exposes ``Idx``, ``Success`` and ``Evt`` (a real :class:`~crowdwatch.event.Event`).

``basename()`` exists only for asserts: it is put in the helper registry while an assert is
compiled (the compiler binds helpers at compile time) and removed right after, so hub
content can never call it. hubtest's rule is kept too: an assert mentioning
``datasource_path`` without calling ``basename(`` gets the left side of its top-level
``==`` wrapped in ``basename()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from crowdwatch.event import ZERO_TIME, Event, Line
from crowdwatch.expr import ExprRuntimeError, ExprSyntaxError, Program, compile_expr, registry
from crowdwatch.expr import ast as expr_ast
from crowdwatch.expr.parser import parse

VARIABLES = {"results": "any"}


@dataclass
class LineResult:
    """One assert line: ``PASS``, ``FAIL`` (false) or ``ERROR`` (does not compile, runtime error, not a bool)."""

    line: int
    text: str
    status: str
    detail: str = ""


class ZeroMap(dict[str, Any]):
    """A Go map seen from dynamic expression code: a missing key reads as the value type's zero."""

    __slots__ = ("_zero",)

    def __init__(self, data: dict[str, Any], zero: Callable[[], Any]) -> None:
        super().__init__(data)
        self._zero = zero

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return self._zero()
        except TypeError:
            return self._zero()


def _str_map(data: Any) -> ZeroMap:
    return ZeroMap(data if isinstance(data, dict) else {}, str)


def _empty_nodes() -> ZeroMap:
    return ZeroMap({}, list)


class ParserResult:
    """One node evaluation (``results[stage][node][i]``)."""

    __slots__ = ("Evt", "Idx", "Success")

    EXPR_FIELDS: ClassVar[dict[str, str]] = {"Idx": "int", "Success": "bool", "Evt": "Event"}
    EXPR_METHODS: ClassVar[dict[str, str]] = {}

    def __init__(self, idx: int, success: bool, evt: Event) -> None:
        self.Idx = idx
        self.Success = success
        self.Evt = evt


def _time(text: Any) -> datetime:
    if not isinstance(text, str) or not text:
        return ZERO_TIME
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return ZERO_TIME


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event from its contract JSON shape (absent fields take Go zero values)."""
    ld = d.get("Line") or {}
    line = Line(
        str(ld.get("Raw") or ""),
        str(ld.get("Src") or ""),
        _str_map(ld.get("Labels")),
        str(ld.get("Module") or ""),
        _time(ld.get("Time")),
        bool(ld.get("Process")),
    )
    evt = Event(line, expect_mode=int(d.get("ExpectMode") or 0), type_=int(d.get("Type") or 0))
    evt.Stage = str(d.get("Stage") or "")
    evt.Whitelisted = bool(d.get("Whitelisted"))
    evt.WhitelistReason = str(d.get("WhitelistReason") or "")
    evt.Parsed = _str_map(d.get("Parsed"))
    evt.Enriched = _str_map(d.get("Enriched"))
    evt.Meta = _str_map(d.get("Meta"))
    unmarshaled = d.get("Unmarshaled")
    evt.Unmarshaled = unmarshaled if isinstance(unmarshaled, dict) else {}
    evt.Time = _time(d.get("Time"))
    evt.StrTime = str(d.get("StrTime") or "")
    evt.StrTimeFormat = str(d.get("StrTimeFormat") or "")
    evt.MarshaledTime = str(d.get("MarshaledTime") or "")
    evt.Process = bool(d.get("Process"))
    return evt


def typed_results(parsers: dict[str, Any]) -> ZeroMap:
    """``parsers`` (stage -> node -> entries) as assert-ready values, with the ``success`` pseudo-stage."""
    stages: dict[str, Any] = {}
    for stage, nodes in parsers.items():
        stages[stage] = ZeroMap(
            {
                name: [
                    ParserResult(
                        int(e.get("Idx") or 0), bool(e.get("Success")), event_from_dict(e.get("Evt") or {})
                    )
                    for e in entries
                ]
                for name, entries in (nodes or {}).items()
            },
            list,
        )
    stages.setdefault("success", ZeroMap({"": []}, list))
    return ZeroMap(stages, _empty_nodes)


def go_basename(path: Any) -> str:
    """Go ``filepath.Base``: last element, trailing slashes ignored; ``""`` -> ``"."``."""
    if not isinstance(path, str):
        raise ExprRuntimeError(f"basename: expected a string, got {type(path).__name__}")
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


_BASENAME = registry.Helper("basename", go_basename, 1, 1, "str")


@contextmanager
def _assert_helpers() -> Iterator[None]:
    saved = registry.BUILTINS.get("basename")
    registry.BUILTINS["basename"] = _BASENAME
    try:
        yield
    finally:
        if saved is None:
            registry.BUILTINS.pop("basename", None)
        else:
            registry.BUILTINS["basename"] = saved


def compile_assert(text: str) -> Program:
    with _assert_helpers():
        return compile_expr(text, VARIABLES)


def _top_equality(text: str) -> tuple[str, str] | None:
    """(left text, right text) of a single-line assert whose top-level operator is ``==``."""
    try:
        tree = parse(text)
    except ExprSyntaxError:
        return None
    if not isinstance(tree, expr_ast.Binary) or tree.op != "==" or tree.line != 1 or "\n" in text:
        return None
    cut = tree.col - 1
    return text[:cut].strip(), text[cut + 2 :].strip()


def hubtest_source(text: str) -> str:
    """Apply hubtest's ``datasource_path`` rule: wrap the left side of ``==`` in ``basename()``."""
    if "datasource_path" not in text or "basename(" in text:
        return text
    parts = _top_equality(text)
    if parts is None:
        return text
    return f"basename({parts[0]}) == {parts[1]}"


def _show(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()[:300]


def eval_line(lineno: int, text: str, results: Any) -> LineResult:
    source = hubtest_source(text)
    try:
        prog = compile_assert(source)
    except ExprSyntaxError as exc:
        return LineResult(lineno, text, "ERROR", f"does not compile: {exc}")
    try:
        value = prog.run(results)
    except ExprRuntimeError as exc:
        return LineResult(lineno, text, "ERROR", str(exc))
    if value is True:
        return LineResult(lineno, text, "PASS")
    if value is not False:
        return LineResult(lineno, text, "ERROR", f"assert is not a condition (got {_show(value)})")
    detail = ""
    parts = _top_equality(source)
    if parts is not None:
        try:
            detail = f"left side is {_show(compile_assert(parts[0]).run(results))}"
        except (ExprSyntaxError, ExprRuntimeError) as exc:
            detail = f"left side: {exc}"
    return LineResult(lineno, text, "FAIL", detail)


def evaluate_parser_asserts(lines: list[tuple[int, str]], parsers: dict[str, Any] | None) -> list[LineResult]:
    """Evaluate each ``(line number, text)`` against a document's ``parsers`` map."""
    if parsers is None:
        return [LineResult(n, t, "ERROR", "no parser results in the document") for n, t in lines]
    results = typed_results(parsers)
    return [eval_line(n, t, results) for n, t in lines]


def read_assert_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines of an assert file (LF separated, one trailing CR removed); none if absent."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for no, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if raw:
            out.append((no, raw.decode("utf-8", "replace")))
    return out

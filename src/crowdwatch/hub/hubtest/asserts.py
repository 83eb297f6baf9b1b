"""Evaluate ``parser.assert`` and ``scenario.assert`` lines with crowdwatch's own expression engine.

For parser asserts ``results`` is the document's ``parsers`` map turned into values that
behave like the Go types cscli hubtest evaluates (OUTPUT_CONTRACT.md §4): a missing stage or
node reads as an empty list, a missing ``Parsed``/``Meta``/``Enriched``/``Labels`` key as
``""``, each entry exposes ``Idx``, ``Success`` and ``Evt`` (a real
:class:`~crowdwatch.event.Event`). For scenario asserts ``results`` is the ``buckets`` list
sorted like hubtest sorts it (descending by scenario + ``"@".join(sorted source keys)``,
stable), each entry an overflow :class:`~crowdwatch.event.Event` whose ``Overflow`` is
rebuilt from the JSON (a missing ``Sources`` key reads as an empty source).

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

from crowdwatch.event import OVFLW, ZERO_TIME, Alert, AlertEvent, Event, Line, RuntimeAlert, Source
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
    overflow = d.get("Overflow")
    if evt.Type == OVFLW and isinstance(overflow, dict):
        evt.Overflow = overflow_from_dict(overflow)
    return evt


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def source_from_dict(d: Any) -> Source:
    """A Source from its LAPI JSON shape (``null`` scope/value read as ``""``)."""
    d = d if isinstance(d, dict) else {}
    src = Source(_str(d.get("ip")), _str(d.get("range")), _str(d.get("scope")), _str(d.get("value")))
    src.AsName = _str(d.get("as_name"))
    src.AsNumber = _str(d.get("as_number"))
    src.Cn = _str(d.get("cn"))
    src.Latitude = _number(d.get("latitude"))
    src.Longitude = _number(d.get("longitude"))
    return src


def _meta_pairs(meta: Any) -> list[tuple[str, str]]:
    """``[{key, value}]`` (or a plain ``{k: v}`` object) as key/value pairs."""
    if isinstance(meta, dict):
        return [(str(k), _str(v)) for k, v in meta.items()]
    if isinstance(meta, list):
        return [(_str(m.get("key")), _str(m.get("value"))) for m in meta if isinstance(m, dict)]
    return []


def alert_from_dict(d: dict[str, Any]) -> Alert:
    """An Alert from its LAPI JSON shape (absent fields keep their zero values)."""
    alert = Alert()
    alert.Scenario = _str(d.get("scenario"))
    alert.ScenarioHash = _str(d.get("scenario_hash"))
    alert.ScenarioVersion = _str(d.get("scenario_version"))
    alert.Message = _str(d.get("message"))
    count = d.get("events_count")
    alert.EventsCount = count if isinstance(count, int) and not isinstance(count, bool) else 0
    capacity = d.get("capacity")
    alert.Capacity = capacity if isinstance(capacity, int) and not isinstance(capacity, bool) else 0
    alert.Leakspeed = _str(d.get("leakspeed"))
    alert.StartAt = _str(d.get("start_at"))
    alert.StopAt = _str(d.get("stop_at"))
    alert.Remediation = d.get("remediation") is True
    alert.Simulated = d.get("simulated") is True
    source = d.get("source")
    alert.Source = source_from_dict(source) if isinstance(source, dict) else None
    alert.Events = [
        AlertEvent(_str(e.get("timestamp")), _meta_pairs(e.get("meta")))
        for e in d.get("events") or ()
        if isinstance(e, dict)
    ]
    alert.Meta = _meta_pairs(d.get("meta"))
    return alert


def overflow_from_dict(d: dict[str, Any]) -> RuntimeAlert:
    """``Event.Overflow`` from the contract shape; ``Sources`` reads a missing key as an empty source."""
    ovf = RuntimeAlert()
    ovf.Mapkey = _str(d.get("MapKey"))
    ovf.BucketId = _str(d.get("BucketId"))
    ovf.Whitelisted = d.get("Whitelisted") is True
    ovf.Reprocess = d.get("Reprocess") is True
    sources = d.get("Sources")
    ovf.Sources = ZeroMap(
        {str(k): source_from_dict(v) for k, v in sources.items()} if isinstance(sources, dict) else {},
        Source,
    )
    alert = d.get("Alert")
    ovf.Alert = alert_from_dict(alert) if isinstance(alert, dict) else None
    ovf.APIAlerts = [alert_from_dict(a) for a in d.get("APIAlerts") or () if isinstance(a, dict)]
    return ovf


def bucket_sort_key(entry: dict[str, Any]) -> str:
    """hubtest's overflow order key: scenario name + the sorted source keys joined with ``@``."""
    ovf = entry.get("Overflow") or {}
    alert = ovf.get("Alert") or {}
    return _str(alert.get("scenario")) + "@".join(sorted(ovf.get("Sources") or {}))


def typed_buckets(buckets: list[dict[str, Any]]) -> list[Event]:
    """``buckets`` sorted like hubtest (descending, stable) as assert-ready overflow events."""
    ordered = sorted(buckets, key=bucket_sort_key, reverse=True)
    return [event_from_dict(b) for b in ordered]


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


def evaluate_scenario_asserts(
    lines: list[tuple[int, str]], buckets: list[dict[str, Any]] | None
) -> list[LineResult]:
    """Evaluate each ``(line number, text)`` against a document's ``buckets`` list."""
    if buckets is None:
        return [LineResult(n, t, "ERROR", "no bucket results in the document") for n, t in lines]
    results = typed_buckets(buckets)
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

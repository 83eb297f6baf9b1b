"""Statics: compiled assignments of a value to an event field (ENGINE.md §4.6).

Each static compiles to a tuple ``(literal, fn, setter, keep_empty, map_target)``: ``fn`` is
the compiled expression (``None`` when a literal ``value`` is used), ``setter(evt, value)``
writes the target, ``keep_empty`` is true only for ``method: ParseDate`` (called even with
""), and ``map_target`` is ``(attr, key)`` when the target is a key of ``Parsed``/``Meta``/
``Enriched``. :func:`statics_runner` turns a node's statics into one generated function so
the per-line path has no loop, unpacking or setter call for the common cases.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from crowdwatch.event import MODEL_CLASSES, Event
from crowdwatch.parser.errors import DropEvent, ParserLoadError
from crowdwatch.parser.model import StaticSpec

log = logging.getLogger("crowdwatch.parser")

Setter = Callable[[Event, str], None]
ExprFn = Callable[[Event], Any]
MapTarget = tuple[str, str] | None
CompiledStatic = tuple[str, ExprFn | None, Setter, bool, MapTarget]
StaticsRunner = Callable[[Event], None]


class EnricherCaller(Protocol):
    """What statics need from :class:`crowdwatch.parser.enrichers.Enrichers`."""

    def has(self, method: str) -> bool: ...

    def call(self, method: str, value: str, evt: Event) -> dict[str, str] | None: ...


def expr_result_to_str(out: Any) -> str:
    """Convert an expression result to a static/grok value; raise :class:`DropEvent` on bad types.

    string → itself; int → decimal; float → ``%f``; map, list or nil → ``""``; anything else
    (bool, time, duration, …) drops the event.
    """
    t = type(out)
    if t is str:
        return out
    if t is int:
        return str(out)
    if t is float:
        return go_float(out)
    if out is None:
        return ""
    if isinstance(out, dict | list):
        log.debug(
            "static expression returned a %s, treated as empty", "map" if isinstance(out, dict) else "list"
        )
        return ""
    if isinstance(out, str) and t is not bool:
        return str(out)
    raise DropEvent(f"unexpected return type for static expression: {type(out).__name__}")


def go_float(value: float) -> str:
    """Go's ``%f`` formatting of a float64."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:f}"


def compile_statics(
    specs: Sequence[StaticSpec],
    file: str,
    enrichers: EnricherCaller,
    compile_fn: Callable[[str, str, int], ExprFn],
) -> tuple[CompiledStatic, ...]:
    """Validate and compile ``specs``; ``compile_fn(source, file, line)`` compiles one expression."""
    out: list[CompiledStatic] = []
    for spec in specs:
        if not (spec.method or spec.meta or spec.parsed or spec.target):
            raise ParserLoadError("static needs a 'method', 'meta', 'parsed' or 'target'", file, spec.line)
        if not spec.value and not spec.expression:
            raise ParserLoadError("static needs a 'value' or an 'expression'", file, spec.line)
        fn = None if spec.value else compile_fn(spec.expression, file, spec.line)
        setter = _setter(spec, file, enrichers)
        # plain str: Scalar (position-carrying) values must not leak into events
        out.append((str(spec.value), fn, setter, spec.method == "ParseDate", _map_target(spec)))
    return tuple(out)


def _map_target(spec: StaticSpec) -> MapTarget:
    if spec.method:
        return None
    for attr, key in (("Parsed", spec.parsed), ("Meta", spec.meta), ("Enriched", spec.enriched)):
        if key:
            return (attr, str(key))
    return None


def statics_runner(statics: Sequence[CompiledStatic]) -> StaticsRunner | None:
    """One generated function applying ``statics`` in order (ENGINE.md §4.6).

    A literal ``value`` is stored when non-empty; an expression's result is converted by
    :func:`expr_result_to_str` (which may drop the event) and stored when non-empty; a
    runtime error skips that static; ``ParseDate`` is called even with an empty value.

    Only identifiers of our own and ``repr()`` of literal strings/keys reach the generated
    source; expression functions and setters are bound as defaults, never pasted as text.
    """
    if not statics:
        return None
    env: dict[str, Any] = {"_conv": expr_result_to_str, "_log": log, "Exception": Exception, "type": type}
    body: list[str] = []
    for i, (literal, fn, setter, keep_empty, target) in enumerate(statics):
        env[f"_s{i}"] = setter
        if target is not None:
            store = [f"evt.{target[0]}[{target[1]!r}] = v"]
        else:
            store = [f"_s{i}(evt, v)"]
        if fn is None:
            if literal or keep_empty:
                body.append(f"v = {literal!r}")
                body.extend(store)
            continue
        env[f"_f{i}"] = fn
        body += [
            "try:",
            f"    v = _f{i}(evt)",
            "except Exception as exc:",
            '    _log.debug("static expression failed: %s", exc)',
            "else:",
            "    if type(v) is not str:",
            "        v = _conv(v)",
        ]
        if keep_empty:
            body += ["    " + line for line in store]
        else:
            body.append("    if v:")
            body += ["        " + line for line in store]
    if not body:
        return None
    src = "def run(evt):\n" + "\n".join("    " + line for line in body) + "\n"
    code = compile(src, "<statics>", "exec")
    exec(code, env)
    runner: StaticsRunner = env["run"]
    return runner


def _setter(spec: StaticSpec, file: str, enrichers: EnricherCaller) -> Setter:
    if spec.method:
        return _method_setter(spec.method, file, spec.line, enrichers)
    if spec.parsed:
        return _map_setter("Parsed", spec.parsed)
    if spec.meta:
        return _map_setter("Meta", spec.meta)
    if spec.enriched:
        return _map_setter("Enriched", spec.enriched)
    return target_setter(spec.target, file, spec.line)


def _method_setter(method: str, file: str, line: int, enrichers: EnricherCaller) -> Setter:
    if not enrichers.has(method):
        log.warning("%s:%d: unknown enrichment method %r, static ignored", file, line, method)
        return _ignore
    call = enrichers.call

    def set_enriched(evt: Event, value: str) -> None:
        result = call(method, value, evt)
        if result:
            evt.Enriched.update(result)

    return set_enriched


def _ignore(evt: Event, value: str) -> None:
    return None


def _map_setter(attr: str, key: str) -> Setter:
    key = str(key)  # a plain str, not the position-carrying yamlutil.Scalar
    if attr == "Parsed":

        def set_parsed(evt: Event, value: str) -> None:
            evt.Parsed[key] = value

        return set_parsed
    if attr == "Meta":

        def set_meta(evt: Event, value: str) -> None:
            evt.Meta[key] = value

        return set_meta

    def set_enriched(evt: Event, value: str) -> None:
        evt.Enriched[key] = value

    return set_enriched


def target_setter(target: str, file: str = "", line: int = 0) -> Setter:
    """Compile a ``target:`` path (``evt.`` prefix optional) into a setter.

    The path walks struct fields by exact name; the first map field takes the next part as
    its key (extra parts are ignored); only string fields are settable. An unusable path
    logs an error at load and the static is ignored at run time.
    """
    parts = target.removeprefix("evt.").split(".")
    cls: type = Event
    walk: list[str] = []
    for i, part in enumerate(parts):
        kind = getattr(cls, "EXPR_FIELDS", {}).get(part)
        if kind in ("strmap", "anymap") and i + 1 < len(parts):
            return _path_setter(tuple(walk), part, parts[i + 1], target)
        if kind == "str":
            return _path_setter(tuple(walk), part, None, target)
        if kind in MODEL_CLASSES:
            walk.append(part)
            cls = MODEL_CLASSES[kind]
            continue
        break
    log.error("%s:%d: static target %r is not a settable string field, static ignored", file, line, target)
    return _ignore


def _path_setter(walk: tuple[str, ...], attr: str, key: str | None, target: str) -> Setter:
    def set_path(evt: Event, value: str) -> None:
        obj: Any = evt
        for name in walk:
            obj = getattr(obj, name)
            if obj is None:
                log.debug("unable to set %r: %s is nil", target, name)
                return
        if key is None:
            setattr(obj, attr, value)
        else:
            getattr(obj, attr)[key] = value

    return set_path

"""Loading scenario files into compiled scenarios (ENGINE.md §6.1, §6.2, §6.5).

Every document of every file, in the given order, is one scenario. Strictness follows
CrowdSec HEAD: unknown keys, a missing ``name``/``description``/``filter``, an unknown
``type``, bad durations, expressions that do not compile and the per-type rules of §6.5
are :class:`ScenarioLoadError` (``file:line[:col]``); a ``format`` outside ``>= 1.0, <= 3.0``
skips the scenario with an error log; data files are loaded once, globally.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdwatch import yamlutil
from crowdwatch.expr import compile_expr
from crowdwatch.expr.errors import ExprSyntaxError
from crowdwatch.expr.helpers.durations import parse_go_duration
from crowdwatch.itemschema import load_data
from crowdwatch.parser.loader import format_supported
from crowdwatch.scenarios.alert import IP, RANGE, ScopeRule
from crowdwatch.scenarios.context import AlertContext
from crowdwatch.scenarios.errors import ScenarioLoadError
from crowdwatch.scenarios.factory import AfterHook, OverflowHook, PourHook, Scenario
from crowdwatch.scenarios.model import ScenarioSpec
from crowdwatch.scenarios.processors import (
    Bayesian,
    BayesianCondition,
    Blackhole,
    CancelOn,
    Condition,
    Distinct,
    OverflowFilter,
)
from crowdwatch.scenarios.stats import ScenarioStats

log = logging.getLogger("crowdwatch.scenarios")

TYPES = ("leaky", "trigger", "counter", "conditional", "bayesian")
EVT = {"evt": "Event"}
BUCKET_ENV = {"evt": "Event", "queue": "Queue", "leaky": "Leaky"}
OVERFLOW_ENV = {"queue": "Queue", "signal": "RuntimeAlert", "leaky": "Leaky"}
MUTATORS = ("SetMeta", "SetParsed")
"""Event methods that write the maps routing reads (a scenario using one re-routes the event)."""


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    """A scenario file; ``hash``/``version`` come from the hub state (empty for local files)."""

    path: Path
    hash: str = ""
    version: str = ""


@dataclass(slots=True)
class ScenarioContext:
    """What loading needs: the data directory, the simulation switch per scenario name and the
    alert context (§7.3; ``None``: alerts have an empty ``meta``)."""

    data_dir: Path | None
    simulated: Callable[[str], bool] = lambda name: False
    context: AlertContext | None = None


def load_scenarios(
    files: Sequence[ScenarioFile], ctx: ScenarioContext, stats: dict[str, ScenarioStats]
) -> list[Scenario]:
    """Compile every scenario of ``files`` in order (``stats`` gets one entry per name)."""
    out: list[Scenario] = []
    for sfile in files:
        file = str(sfile.path)
        try:
            docs = yamlutil.load_file(sfile.path)
        except yamlutil.YamlError as exc:
            raise ScenarioLoadError.from_yaml(exc) from None
        for doc in docs:
            if yamlutil.is_null(doc):  # empty document, e.g. after a trailing `---`
                continue
            spec = ScenarioSpec.from_yaml(doc, file)
            if not spec.name:
                raise ScenarioLoadError("scenario has no name", file, spec.line)
            if not format_supported(spec.format or "1.0"):
                log.error("%s:%d: scenario format %r is not supported, skipped", file, spec.line, spec.format)
                continue
            st = stats.setdefault(str(spec.name), ScenarioStats())
            out.append(compile_scenario(spec, sfile, ctx, st))
    return out


def compile_scenario(
    spec: ScenarioSpec, sfile: ScenarioFile, ctx: ScenarioContext, stats: ScenarioStats
) -> Scenario:
    file = spec.file
    if not spec.description:
        raise ScenarioLoadError(f"{spec.name}: description is mandatory", file, spec.line)
    if not spec.filter:
        raise ScenarioLoadError(f"{spec.name}: bucket without filter directive", file, spec.line)
    kind = str(spec.type)
    if kind not in TYPES:
        raise _at(
            f"{spec.name}: unknown bucket type {kind!r} (expected {', '.join(TYPES)})", file, spec.type, spec
        )
    leakspeed = _duration(spec.leakspeed, "leakspeed", spec)
    duration = _duration(spec.duration, "duration", spec)
    _check_type(spec, kind, leakspeed, duration)
    for data in spec.data:
        if not data.dest_file:
            log.error("%s:%d: data entry without dest_file", file, data.line)
            continue
        load_data(data, ctx.data_dir, file, log)
    scope = _scope(spec)
    name = str(spec.name)
    scn = Scenario(
        name=name,
        kind=kind,
        filter_text=str(spec.filter),
        filter_fn=_expr(spec.filter, "filter", spec, EVT),
        groupby=_expr(spec.groupby, "groupby", spec, EVT) if spec.groupby else None,
        distinct=_expr(spec.distinct, "distinct", spec, EVT) if spec.distinct else None,
        capacity=spec.capacity,
        leakspeed=leakspeed,
        duration=duration,
        cache_size=spec.cache_size,
        scope=scope,
        labels_remediation=spec.remediation,
        reprocess=spec.reprocess,
        simulated=ctx.simulated(name),
        hash_=sfile.hash,
        version=sfile.version,
        stats=stats,
        context=ctx.context,
    )
    pour: list[PourHook] = []
    after: list[AfterHook] = []
    overflow: list[OverflowHook] = []
    if scn.distinct is not None:
        pour.append(Distinct(scn.distinct, stats))
    if spec.cancel_on:
        pour.append(CancelOn(_expr(spec.cancel_on, "cancel_on", spec, EVT), stats))
    if spec.overflow_filter:
        overflow.append(
            OverflowFilter(_expr(spec.overflow_filter, "overflow_filter", spec, OVERFLOW_ENV), stats)
        )
    if spec.blackhole:
        overflow.append(Blackhole(_duration(spec.blackhole, "blackhole", spec)))
    if spec.condition:
        after.append(Condition(_expr(spec.condition, "condition", spec, BUCKET_ENV), stats))
    guillotines = 0
    if spec.bayesian_threshold != 0:
        conditions = [
            BayesianCondition(
                _expr(c.condition, "bayesian condition", spec, BUCKET_ENV),
                c.prob_given_evil,
                c.prob_given_benign,
                c.guillotine,
            )
            for c in spec.bayesian_conditions or []
        ]
        after.append(Bayesian(spec.bayesian_prior, spec.bayesian_threshold, conditions, stats))
        guillotines = len(conditions)
    scn.set_processors(pour, after, overflow, guillotines)
    scn.mutates = any(m in text for text in _expressions(spec) for m in MUTATORS)
    return scn


def _expressions(spec: ScenarioSpec) -> list[str]:
    texts = [spec.filter, spec.groupby, spec.distinct, spec.cancel_on, spec.overflow_filter, spec.condition]
    texts.append(spec.scope_expression)
    texts.extend(c.condition for c in spec.bayesian_conditions or [])
    return [str(t) for t in texts if t]


def _check_type(spec: ScenarioSpec, kind: str, leakspeed: int, duration: int) -> None:
    """The load rules of ENGINE.md §6.5."""
    name, cap = spec.name, spec.capacity
    problem = ""
    if cap < -1:
        problem = f"negative capacity {cap}"
    elif kind == "leaky":
        if cap <= 0:
            problem = f"bad capacity for leaky '{cap}' (must be > 0)"
        elif not spec.leakspeed:
            problem = "leakspeed can't be empty for leaky"
        elif leakspeed <= 0:
            problem = f"bad leakspeed for leaky '{spec.leakspeed}'"
    elif kind == "counter":
        if not spec.duration:
            problem = "duration can't be empty for counter"
        elif duration <= 0:
            problem = f"bad duration for counter '{spec.duration}'"
        elif cap != -1:
            problem = "counter bucket must have -1 capacity"
    elif kind == "trigger":
        if cap != 0:
            problem = "trigger bucket must have 0 capacity"
    elif kind == "conditional":
        if not spec.condition:
            problem = "conditional bucket must have a condition"
        elif not spec.leakspeed:
            problem = "leakspeed can't be empty for conditional bucket"
        elif leakspeed <= 0:
            problem = f"bad leakspeed for conditional bucket '{spec.leakspeed}'"
        elif cap != -1:
            log.warning(
                "%s:%d: %s: conditional bucket with capacity %d (-1 expected)",
                spec.file,
                spec.line,
                name,
                cap,
            )
    else:  # bayesian
        if not spec.bayesian_conditions:
            problem = "bayesian bucket must have bayesian conditions"
        elif not 0 < spec.bayesian_prior <= 1:
            problem = "bayesian bucket must have a prior in (0, 1]"
        elif not 0 < spec.bayesian_threshold <= 1:
            problem = "bayesian bucket must have a threshold in (0, 1]"
        elif cap != -1:
            problem = "bayesian bucket must have capacity -1"
    if problem:
        raise ScenarioLoadError(f"{name}: {problem}", spec.file, spec.line)


def _scope(spec: ScenarioSpec) -> ScopeRule:
    kind = str(spec.scope_type) or IP
    fn = _expr(spec.scope_expression, "scope expression", spec, EVT) if spec.scope_expression else None
    if kind not in (IP, RANGE) and fn is None:
        raise _at(
            f"{spec.name}: scope {kind!r} needs an 'expression' (only Ip and Range have a default value)",
            spec.file,
            spec.scope_type,
            spec,
        )
    return ScopeRule(kind, fn if kind != IP else None)


def _duration(text: str, what: str, spec: ScenarioSpec) -> int:
    if not text:
        return 0
    try:
        return int(parse_go_duration(str(text)))
    except ValueError as exc:
        raise _at(f"{spec.name}: bad {what} {str(text)!r}: {exc}", spec.file, text, spec) from None


def _expr(text: str, what: str, spec: ScenarioSpec, env: dict[str, str]) -> Callable[..., Any]:
    try:
        return compile_expr(str(text), env).fn
    except ExprSyntaxError as exc:
        raise _at(f"{spec.name}: invalid {what} expression: {exc}", spec.file, text, spec) from None


def _at(message: str, file: str, value: Any, spec: ScenarioSpec) -> ScenarioLoadError:
    line, col = yamlutil.pos_of(value)
    return ScenarioLoadError(message, file, line or spec.line, col if line else 0)

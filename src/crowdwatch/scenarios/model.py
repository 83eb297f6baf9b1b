"""Typed scenario configuration decoded strictly from YAML (ENGINE.md §6.1–§6.2).

Decoding mirrors CrowdSec's strict Go decoder: unknown keys and wrongly typed values are
load errors naming ``file:line:col``; string fields keep the scalar's source text; null
means "unset". Semantic rules per bucket type (§6.5) live in :mod:`.loader`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from crowdwatch.itemschema import DataSpec, StrictDecoder
from crowdwatch.scenarios.errors import ScenarioLoadError
from crowdwatch.yamlutil import (
    Mapping,
    Scalar,
    YamlError,
    as_float,
    is_null,
    plain,
    type_name,
)

SCENARIO_KEYS = frozenset(
    {
        "format",
        "author",
        "description",
        "references",
        "type",
        "name",
        "capacity",
        "leakspeed",
        "duration",
        "filter",
        "groupby",
        "distinct",
        "debug",
        "labels",
        "blackhole",
        "reprocess",
        "cache_size",
        "profiling",
        "overflow_filter",
        "condition",
        "bayesian_prior",
        "bayesian_threshold",
        "bayesian_conditions",
        "scope",
        "data",
        "cancel_on",
        "version",
        "simulated",
    }
)
SCOPE_KEYS = frozenset({"type", "expression"})
BAYESIAN_KEYS = frozenset({"condition", "prob_given_evil", "prob_given_benign", "guillotine"})

_decode = StrictDecoder(ScenarioLoadError)


def float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (as a Python float)."""
    try:
        result: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")
    return result


@dataclass(slots=True)
class BayesianConditionSpec:
    condition: str
    prob_given_evil: float  # float32 values
    prob_given_benign: float
    guillotine: bool
    line: int

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> BayesianConditionSpec:
        m = _decode.mapping(raw, "bayesian condition", file, BAYESIAN_KEYS)
        return cls(
            condition=_decode.text(m, "condition", file),
            prob_given_evil=_float32(m, "prob_given_evil", file),
            prob_given_benign=_float32(m, "prob_given_benign", file),
            guillotine=_decode.opt_bool(m, "guillotine", file),
            line=m.line,
        )


@dataclass(slots=True)
class ScenarioSpec:
    """One scenario document. Durations and expressions are kept as text (scalars keep positions)."""

    file: str
    line: int
    name: str = ""
    description: str = ""
    type: str = ""
    format: str = ""
    filter: str = ""
    groupby: str = ""
    distinct: str = ""
    capacity: int = 0
    leakspeed: str = ""
    duration: str = ""
    cache_size: int = 0
    blackhole: str = ""
    reprocess: bool = False
    overflow_filter: str = ""
    cancel_on: str = ""
    condition: str = ""
    bayesian_prior: float = 0.0
    bayesian_threshold: float = 0.0
    bayesian_conditions: list[BayesianConditionSpec] | None = None
    scope_type: str = ""
    scope_expression: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    remediation: bool = False
    data: list[DataSpec] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, raw: Any, file: str) -> ScenarioSpec:
        m = _decode.mapping(raw, "scenario", file, SCENARIO_KEYS)
        for key in ("author", "version"):
            _decode.text(m, key, file)
        _decode.str_list(m, "references", file, allow_null=False)
        for key in ("debug", "profiling", "simulated"):
            _decode.opt_bool(m, key, file)
        scope = m.get("scope")
        scope_m = None if is_null(scope) else _decode.mapping(scope, "scope", file, SCOPE_KEYS)
        conditions = m.get("bayesian_conditions")
        return cls(
            file=file,
            line=m.line,
            name=_decode.text(m, "name", file),
            description=_decode.text(m, "description", file),
            type=_decode.text(m, "type", file),
            format=_decode.text(m, "format", file),
            filter=_decode.text(m, "filter", file),
            groupby=_decode.text(m, "groupby", file),
            distinct=_decode.text(m, "distinct", file),
            capacity=_decode.opt_int(m, "capacity", file),
            leakspeed=_decode.text(m, "leakspeed", file),
            duration=_decode.text(m, "duration", file),
            cache_size=_decode.opt_int(m, "cache_size", file),
            blackhole=_decode.text(m, "blackhole", file),
            reprocess=_decode.opt_bool(m, "reprocess", file),
            overflow_filter=_decode.text(m, "overflow_filter", file),
            cancel_on=_decode.text(m, "cancel_on", file),
            condition=_decode.text(m, "condition", file),
            bayesian_prior=_float32(m, "bayesian_prior", file),
            bayesian_threshold=_float32(m, "bayesian_threshold", file),
            bayesian_conditions=None
            if is_null(conditions)
            else [
                BayesianConditionSpec.from_yaml(c, file)
                for c in _decode.items(m, "bayesian_conditions", file)
            ],
            scope_type=_decode.text(scope_m, "type", file) if scope_m is not None else "",
            scope_expression=_decode.text(scope_m, "expression", file) if scope_m is not None else "",
            labels=_labels(m, file),
            remediation=_remediation(m),
            data=[DataSpec.from_yaml(d, file, _decode) for d in _decode.items(m, "data", file)],
        )


# --- decoding helpers --------------------------------------------------------------------


def _float32(m: Mapping, key: str, file: str) -> float:
    value = m.get(key)
    if is_null(value):
        return 0.0
    try:
        return float32(as_float(value, key, file))
    except YamlError as exc:
        raise ScenarioLoadError.from_yaml(exc) from None


def _labels(m: Mapping, file: str) -> dict[str, Any]:
    """``labels``: a map of plain YAML values (booleans stay booleans)."""
    value = m.get("labels")
    if is_null(value):
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioLoadError.at(f"labels: expected a mapping, got a {type_name(value)}", file, value)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, Scalar):
            raise ScenarioLoadError.at("labels: keys must be strings", file, value)
        out[str(key)] = plain(item)
    return out


_YAML12_TRUE = frozenset({"true", "True", "TRUE"})


def _remediation(m: Mapping) -> bool:
    """``labels.remediation`` is the YAML boolean true (Go's yaml.v3 into ``any``: ``yes``/``on``
    stay strings, so only ``true``/``True``/``TRUE`` count)."""
    labels = m.get("labels")
    value = labels.get("remediation") if isinstance(labels, Mapping) else None
    return isinstance(value, Scalar) and value.tag.endswith(":bool") and str(value) in _YAML12_TRUE

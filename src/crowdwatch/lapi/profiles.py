"""``profiles.yaml``: which decisions an alert gets (ENGINE.md §9.1–9.3).

Loading is strict (unknown keys, wrong types, bad expressions and durations are errors with
``file:line:col``). Evaluation follows CrowdSec: profiles in order, every filter evaluated,
one set of decisions per true filter, the first matching profile's decisions win, later
matching profiles only add notifications, ``on_success: break`` stops, ``on_error`` decides
what a failing filter means (empty: the whole request fails).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from crowdwatch.expr import ExprError, Program, compile_expr
from crowdwatch.lapi.alerts import AlertIn
from crowdwatch.lapi.decisions import normalize_scope
from crowdwatch.lapi.errors import ProfileLoadError, ProfileRuntimeError
from crowdwatch.lapi.storage.decisions import NewDecision
from crowdwatch.lapi.timefmt import parse_duration_ns
from crowdwatch.yamlutil import Mapping, YamlError, as_bool, as_str, is_null, load_all, pos_of

log = logging.getLogger(__name__)

ALERT_ENV = {"Alert": "Alert"}
DEFAULT_DURATION = "4h"

DEFAULT_PROFILES = """\
name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
---
name: default_range_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Range"
decisions:
 - type: ban
   duration: 4h
on_success: break
"""

_PROFILE_KEYS = (
    "name",
    "debug",
    "filters",
    "decisions",
    "duration_expr",
    "on_success",
    "on_failure",
    "on_error",
    "notifications",
)
_DECISION_KEYS = ("type", "duration", "scope", "origin", "simulated")
_ON_SUCCESS = ("continue", "break")
_ON_FAILURE = ("continue", "break", "apply")
_ON_ERROR = ("continue", "break", "apply", "ignore", "")


@dataclass(frozen=True)
class DecisionTemplate:
    type: str
    duration: str
    duration_ns: int
    scope: str  # "" = the alert's source scope
    origin: str  # "" = plain "crowdsec"
    simulated: bool


@dataclass(frozen=True)
class Profile:
    name: str
    filters: tuple[Program, ...]
    decisions: tuple[DecisionTemplate, ...]
    duration_expr: Program | None = None
    on_success: str = "continue"
    on_failure: str = "continue"
    on_error: str = ""
    notifications: tuple[str, ...] = ()
    debug: bool = False


@dataclass
class ProfileResult:
    decisions: list[NewDecision] = field(default_factory=list)
    notifications: list[tuple[str, str]] = field(default_factory=list)  # (profile, plugin)
    matched: list[str] = field(default_factory=list)  # profile names


# --- loading -------------------------------------------------------------------------


def _err(message: str, file: str, node: Any) -> ProfileLoadError:
    line, col = pos_of(node)
    return ProfileLoadError(message, file, line, col)


def _compile(node: Any, what: str, file: str) -> Program:
    src = as_str(node, what, file)
    try:
        return compile_expr(src, ALERT_ENV)
    except ExprError as exc:
        raise _err(f"{what}: {exc}", file, node) from None


def _choice(doc: Mapping, key: str, allowed: tuple[str, ...], default: str, file: str) -> str:
    if key not in doc or is_null(doc[key]):
        return default
    value = as_str(doc[key], key, file)
    if value not in allowed:
        raise _err(
            f"{key}: {value!r} is not one of {', '.join(a or '(empty)' for a in allowed)}", file, doc[key]
        )
    return value


def _check_keys(doc: Mapping, allowed: tuple[str, ...], what: str, file: str) -> None:
    for key in doc:
        if str(key) not in allowed:
            line, col = doc.pos(key)
            raise ProfileLoadError(
                f"{what}: unknown key {str(key)!r} (allowed: {', '.join(allowed)})", file, line, col
            )


def _list(doc: Mapping, key: str, file: str) -> list[Any]:
    node = doc.get(key)
    if is_null(node):
        return []
    if not isinstance(node, list):
        raise _err(f"{key}: expected a list", file, node)
    return node


def _decision(node: Any, where: str, file: str) -> DecisionTemplate:
    if not isinstance(node, Mapping):
        raise _err(f"{where}: expected a mapping", file, node)
    _check_keys(node, _DECISION_KEYS, where, file)
    type_ = as_str(node.get("type"), f"{where}.type", file)
    if not type_:
        raise _err(f"{where}.type is required", file, node)
    duration = as_str(node.get("duration"), f"{where}.duration", file) or DEFAULT_DURATION
    try:
        ns = parse_duration_ns(duration)
    except ValueError:
        raise _err(
            f"{where}.duration: invalid duration {duration!r}", file, node.get("duration", node)
        ) from None
    simulated = node.get("simulated")
    return DecisionTemplate(
        type=type_,
        duration=duration,
        duration_ns=ns,
        scope=normalize_scope(as_str(node.get("scope"), f"{where}.scope", file)),
        origin=as_str(node.get("origin"), f"{where}.origin", file),
        simulated=False if is_null(simulated) else as_bool(simulated, f"{where}.simulated", file),
    )


def parse_profile(doc: Any, file: str) -> Profile:
    if not isinstance(doc, Mapping):
        raise _err("a profile must be a mapping", file, doc)
    _check_keys(doc, _PROFILE_KEYS, "profile", file)
    name = as_str(doc.get("name"), "name", file)
    if not name:
        raise _err("name is required", file, doc)
    filters = tuple(_compile(f, f"filters[{i}]", file) for i, f in enumerate(_list(doc, "filters", file)))
    decisions = tuple(
        _decision(d, f"decisions[{i}]", file) for i, d in enumerate(_list(doc, "decisions", file))
    )
    dexpr = doc.get("duration_expr")
    debug = doc.get("debug")
    return Profile(
        name=name,
        filters=filters,
        decisions=decisions,
        duration_expr=None if is_null(dexpr) else _compile(dexpr, "duration_expr", file),
        on_success=_choice(doc, "on_success", _ON_SUCCESS, "continue", file),
        on_failure=_choice(doc, "on_failure", _ON_FAILURE, "continue", file),
        on_error=_choice(doc, "on_error", _ON_ERROR, "", file),
        notifications=tuple(
            as_str(n, f"notifications[{i}]", file) for i, n in enumerate(_list(doc, "notifications", file))
        ),
        debug=False if is_null(debug) else as_bool(debug, "debug", file),
    )


def parse_profiles(text: str, file: str) -> list[Profile]:
    try:
        docs = load_all(text, file)
    except YamlError as exc:
        raise ProfileLoadError(exc.message, exc.file, exc.line, exc.col) from None
    try:
        return [parse_profile(d, file) for d in docs if not is_null(d)]
    except YamlError as exc:
        raise ProfileLoadError(exc.message, exc.file, exc.line, exc.col) from None


def load_profiles(path: Path) -> list[Profile]:
    """Profiles of ``path`` (``<path>.local`` first when present); the built-in defaults when
    neither file exists. At least one profile is required."""
    local = path.with_name(path.name + ".local")
    out: list[Profile] = []
    found = False
    for p in (local, path):
        if not p.exists():
            continue
        found = True
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileLoadError(f"cannot read profiles: {exc}", str(p)) from None
        out.extend(parse_profiles(text, str(p)))
    if not found:
        return parse_profiles(DEFAULT_PROFILES, "<default profiles>")
    if not out:
        raise ProfileLoadError("no profile defined", str(path))
    return out


# --- evaluation ----------------------------------------------------------------------


def _decisions_of(profile: Profile, alert: AlertIn, view: Any) -> list[NewDecision]:
    duration_ns: int | None = None
    if profile.duration_expr is not None:
        try:
            out = profile.duration_expr.run(view)
            if isinstance(out, str):
                duration_ns = parse_duration_ns(out)
        except (ExprError, ValueError) as exc:
            log.warning("profile %s: duration_expr failed, using the static duration: %s", profile.name, exc)
    result = []
    for t in profile.decisions:
        ns = duration_ns if duration_ns is not None else t.duration_ns
        result.append(
            NewDecision(
                type=t.type,
                scope=t.scope or alert.source.scope,
                value=alert.source.value,
                origin=f"crowdsec/{t.origin}" if t.origin else "crowdsec",
                scenario=alert.scenario,
                until=alert.stop_at + timedelta(microseconds=ns // 1000),
                simulated=t.simulated or alert.simulated,
            )
        )
    return result


def _run_filters(profile: Profile, alert: AlertIn, view: Any) -> tuple[bool, list[NewDecision], bool]:
    """(matched, decisions, stop after this profile)."""
    matched = False
    decisions: list[NewDecision] = []
    for prog in profile.filters:
        try:
            out = prog.run(view)
            if not isinstance(out, bool):
                raise ExprError(f"filter {prog.source!r} returned {type(out).__name__}, not a boolean")
        except ExprError as exc:
            mode = profile.on_error
            if mode == "":
                raise ProfileRuntimeError(f"profile {profile.name}: {exc}") from None
            log.warning("profile %s: filter error (%s): %s", profile.name, mode, exc)
            if mode == "apply":
                matched = True
                decisions.extend(_decisions_of(profile, alert, view))
            return matched, decisions, mode == "break" and matched
        if out:
            matched = True
            decisions.extend(_decisions_of(profile, alert, view))
    return matched, decisions, False


def evaluate(profiles: list[Profile], alert: AlertIn) -> ProfileResult:
    """Decisions and notifications for an alert that came without decisions."""
    view = alert.expr_view()
    res = ProfileResult()
    decided = False
    for profile in profiles:
        matched, decisions, stop = _run_filters(profile, alert, view)
        if profile.debug:
            log.info("profile %s: alert %s matched=%s", profile.name, alert.scenario, matched)
        if matched:
            res.matched.append(profile.name)
            if not decided:
                res.decisions = decisions
                decided = bool(decisions)
            res.notifications.extend((profile.name, n) for n in profile.notifications)
            if profile.on_success == "break":
                break
        if stop:
            break
    return res


Notifier = Callable[[int, AlertIn, list[tuple[str, str]]], None]
"""Hook called after an alert is stored: (alert id, alert, [(profile, plugin name)])."""

"""Go/expr semantics of compiled expressions (EXPR.md §4–§6)."""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crowdwatch.event import OVFLW, Alert, AlertEvent, Event, Line, Source
from crowdwatch.expr import ExprRuntimeError, compile_expr, registry
from crowdwatch.expr.values import Duration


def make_event() -> Event:
    evt = Event(Line(raw="raw line", labels={"type": "nginx"}))
    evt.Meta.update(n="10", service="ssh", source_ip="1.2.3.4")
    evt.Parsed.update(request="/index.php?x=1", verb="GET")
    evt.Unmarshaled["x"] = {"y": "z", "n": 3.0, "list": [1, 2, 3]}
    evt.Time = datetime(2024, 3, 9, 20, 15, 30, 250000, tzinfo=UTC)  # a Saturday
    return evt


def ev(src: str, evt: Event | None = None) -> Any:
    return compile_expr(src).run(evt if evt is not None else make_event())


def ev_any(src: str, **values: Any) -> Any:
    return compile_expr(src, {k: "any" for k in values}).run(*values.values())


def fails(src: str, evt: Event | None = None, match: str | None = None) -> None:
    with pytest.raises(ExprRuntimeError, match=match):
        ev(src, evt)


# --- literals and arithmetic -----------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("0x2A + 0o10 + 0b1 + 1_000", 42 + 8 + 1 + 1000),
        ("7 % 2", 1),
        ("-7 % 2", -1),
        ("7 % -2", 1),
        ("7 / 2", 3.5),
        ("4 / 2", 2.0),
        ("2 ** 3 ** 2", 512.0),
        ("2 ^ 2", 4.0),
        ("1 + 2 * 3", 7),
        ("1 + 2.5", 3.5),
        ("-(1 + 2)", -3),
        ("'a' + 'b'", "ab"),
        ("1 + 2 ?? 3", 3),
        ("1..3", [1, 2, 3]),
        ("3..1", []),
        ("[1, 'a', nil, true]", [1, "a", None, True]),
        ("{a: 1, 'b': 2}", {"a": 1, "b": 2}),
        ("{a: 1}.a", 1),
        ("'\\u00e9'", "é"),
        ("true ? 1 : 2", 1),
        ("false ?: 3", 3),
        ("if 1 > 2 { 'a' } else { 'b' }", "b"),
        ("let x = 2; let y = x * 3; y + 1", 7),
        ("(let u = 'abc'; u contains 'b') && true", True),
        ("let x = 1; (let x = 2; x) + x", 3),
        ("1; 2; 3", 3),
    ],
)
def test_values(src: str, value: Any) -> None:
    result = ev(src)
    assert result == value and type(result) is type(value)


def test_division_by_zero_gives_infinity() -> None:
    assert ev("1 / 0") == math.inf
    assert ev("-1 / 0") == -math.inf
    assert math.isnan(ev("0 / 0"))


def test_huge_exponent_is_infinite_not_a_hang() -> None:
    assert ev("10 ** 10 ** 10") == math.inf


def test_integer_modulo_by_zero_at_run_time() -> None:
    assert ev_any("a % b", a=1, b=2) == 1
    with pytest.raises(ExprRuntimeError, match="divide by zero"):
        ev_any("a % b", a=1, b=0)


def test_float_modulo_is_runtime_error() -> None:
    fails("evt.Unmarshaled.x.n % 2", match="float64 % int")


def test_no_implicit_conversion_at_run_time() -> None:
    fails("evt.Unmarshaled.x.y + 1")
    with pytest.raises(ExprRuntimeError):
        ev_any("a + 'x'", a=None)


# --- member access and nil -------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("evt.Meta.missing", ""),
        ("evt.Meta['missing']", ""),
        ("evt.Meta['n']", "10"),
        ("evt.Line.Labels.type", "nginx"),
        ("evt.Line.Labels.nope", ""),
        ("evt.Unmarshaled.missing", None),
        ("evt.Unmarshaled.missing?.y", None),
        ("evt.Unmarshaled.missing?.y.z", None),
        ("evt.Unmarshaled.missing?.y ?? 'd'", "d"),
        ("evt.Unmarshaled.x.y", "z"),
        ("evt.Unmarshaled['x']['y']", "z"),
        ("evt.Unmarshaled.x?.y", "z"),
        ("evt.Unmarshaled.x.list[-1]", 3),
        ("evt.Unmarshaled.x.list[0]", 1),
        ("evt.Unmarshaled.x.list[1:]", [2, 3]),
        ("evt.Unmarshaled.x.list[-2:]", [2, 3]),
        ("evt.Unmarshaled.x.list[:10]", [1, 2, 3]),
        ("evt.Unmarshaled.x.list[2:1]", []),
        ("'héllo'[1:3]", "é"),
        ("'hello'[-3:]", "llo"),
        ("[1, 2, 3][-1]", 3),
        ("evt.Meta.n == nil", False),
        ("evt.Unmarshaled.missing == nil", True),
        ("evt.Overflow.Alert == nil", True),
        ("get(evt.Unmarshaled, 'x').y", "z"),
        ("get([1, 2], 5)", None),
        ("get(evt.Unmarshaled.missing, 'a')", None),
        ("evt.GetMeta('service')", "ssh"),
        ("evt.GetType()", "log"),
        ("evt.Line.Raw", "raw line"),
    ],
)
def test_member_access(src: str, value: Any) -> None:
    assert ev(src) == value


def test_nil_member_is_runtime_error() -> None:
    fails("evt.Unmarshaled.missing.y", match="cannot fetch y from <nil>")
    fails("evt.Unmarshaled.missing.y ?? 'd'", match="cannot fetch y from <nil>")


def test_index_out_of_range() -> None:
    fails("evt.Unmarshaled.x.list[3]", match="out of range")
    fails("evt.Unmarshaled.x.list[-4]", match="out of range")


def test_dynamic_string_cannot_be_indexed() -> None:
    fails("evt.Unmarshaled.x.y[0]")


def test_set_meta_mutates_event() -> None:
    evt = make_event()
    assert ev("evt.SetMeta('k', 'v') && evt.Meta.k == 'v'", evt) is True
    assert evt.Meta["k"] == "v"


def test_overflow_alert_methods() -> None:
    evt = Event(type_=OVFLW)
    alert = Alert()
    alert.Source = Source(ip="1.2.3.4", scope="Ip", value="1.2.3.4")
    alert.Events = [AlertEvent("t", [("service", "ssh")])]
    evt.Overflow.Alert = alert
    assert ev("evt.Overflow.Alert.GetScope()", evt) == "Ip"
    assert ev("evt.Overflow.Alert.Source.IP", evt) == "1.2.3.4"
    assert ev("evt.GetMeta('service')", evt) == "ssh"
    assert ev("map(evt.Overflow.Alert.Events, {.GetMeta('service')})", evt) == ["ssh"]
    assert ev("evt.Overflow.Alert?.Source?.Value", evt) == "1.2.3.4"


def test_field_membership_in_struct() -> None:
    assert ev("'Meta' in evt") is True
    assert ev("'Nope' in evt") is False
    assert ev_any("'Meta' in e", e=make_event()) is True


# --- equality --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("3 == 3.0", True),
        ("nil == nil", True),
        ("[1, 2] == [1, 2]", True),
        ("[1, 2] == [1, 2.0]", True),
        ("[1, 2] == [2, 1]", False),
        ("'a' != 'b'", True),
        ("evt.Unmarshaled.x.y == 3", False),
        ("evt.Unmarshaled.x.n == 3", True),
        ("evt.Unmarshaled.x.n == 3.0", True),
        ("evt.Unmarshaled.x.y == 'z'", True),
        ("evt.Unmarshaled.x.y != 'z'", False),
    ],
)
def test_equality(src: str, value: bool) -> None:
    assert ev(src) is value


def test_bool_never_equals_number_dynamically() -> None:
    assert ev_any("a == b", a=True, b=1) is False
    assert ev_any("a == b", a=1, b=True) is False
    assert ev_any("a != b", a=True, b=1) is True
    assert ev_any("a == b", a=[True], b=[1]) is False
    assert ev_any("a == 1", a=True) is False


# --- comparisons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("'10' < '9'", True),
        ("1 < 2.5", True),
        ("1 < 2 < 3", True),
        ("3 > 2 > 2", False),
        ("evt.Time > evt.Time", False),
        ("duration('1h') > duration('10m')", True),
        ("evt.Unmarshaled.x.n >= 3", True),
    ],
)
def test_ordering(src: str, value: bool) -> None:
    if "duration" in src and "duration" not in registry.BUILTINS:
        pytest.skip("duration builtin not registered")
    assert ev(src) is value


def test_mismatched_dynamic_ordering_is_runtime_error() -> None:
    fails("evt.Unmarshaled.x.y < 3", match="string < int")
    with pytest.raises(ExprRuntimeError):
        ev_any("a > 1", a=None)


# --- logic -----------------------------------------------------------------------------


def test_or_returns_right_operand_as_is() -> None:
    assert ev("evt.Meta.n == '11' || evt.Unmarshaled.x.y") == "z"
    assert ev("evt.Meta.n == '10' && evt.Unmarshaled.x.y") == "z"
    assert ev("evt.Meta.n == '10' || evt.Unmarshaled.x.y") is True


def test_left_operand_must_be_bool() -> None:
    fails("evt.Unmarshaled.x.y || true", match="expected bool")
    fails("evt.Unmarshaled.missing && true", match="expected bool")
    fails("evt.Unmarshaled.x.y and true or false")


def test_short_circuit() -> None:
    assert ev("false && evt.Unmarshaled.missing.y") is False
    assert ev("true || evt.Unmarshaled.missing.y") is True


def test_not_requires_bool() -> None:
    assert ev("not (1 > 2)") is True
    assert ev("!true") is False
    fails("not evt.Unmarshaled.missing", match="expected bool")
    fails("evt.Unmarshaled.missing ? 1 : 2", match="expected bool")


# --- string operators --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("evt.Parsed.request contains 'php'", True),
        ("evt.Parsed.request startsWith '/index'", True),
        ("evt.Parsed.request endsWith '=1'", True),
        ("evt.Parsed.request not contains 'php'", False),
        ("evt.Parsed.request not startsWith '/x'", True),
        ("evt.Parsed.request not endsWith '1'", False),
        ("evt.Parsed.request matches '\\\\.php'", True),
        ("evt.Parsed.request not matches '\\\\.php'", False),
        ("'a\\nb' matches '^b'", False),
        ("'a\\nb' matches '(?m)^b'", True),
        ("'ABC' matches '(?i)abc'", True),
        ("evt.Unmarshaled.missing contains 'a'", False),
        ("evt.Unmarshaled.missing startsWith 'a'", False),
        ("evt.Unmarshaled.missing endsWith 'a'", False),
        ("evt.Unmarshaled.missing matches 'a'", False),
        ("'abc' contains evt.Unmarshaled.missing", False),
        ("evt.Unmarshaled.x.y matches 'z'", True),
        ("evt.Unmarshaled.x.y contains 'z'", True),
        ("'abc' matches evt.Meta.missing", True),
        ("'' contains ''", True),
    ],
)
def test_string_operators(src: str, value: bool) -> None:
    assert ev(src) is value


def test_string_operator_on_non_string_is_runtime_error() -> None:
    fails("evt.Unmarshaled.x.n contains 'a'")
    fails("evt.Unmarshaled.x.n matches 'a'")
    fails("'a' startsWith evt.Unmarshaled.x.list")


def test_computed_bad_regex_is_runtime_error() -> None:
    evt = make_event()
    evt.Meta["re"] = "("
    fails("'abc' matches evt.Meta.re", evt)


# --- membership ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("evt.Meta.service in ['ssh', 'ftp']", True),
        ("evt.Meta.service not in ['ssh', 'ftp']", False),
        ("evt.Meta.service in [evt.Meta.n, 'ssh']", True),
        ("1 in [1.0]", True),
        ("true in [1]", False),
        ("'a' in {a: 1}", True),
        ("'n' in evt.Meta", True),
        ("'zz' in evt.Meta", False),
        ("'x' in evt.Unmarshaled", True),
        ("'a' in evt.Unmarshaled.missing", False),
        ("evt.Unmarshaled.x.n in [1, 3]", True),
        ("evt.Unmarshaled.x.y in ['z']", True),
        ("[1] in [[1], [2]]", True),
    ],
)
def test_membership(src: str, value: bool) -> None:
    assert ev(src) is value


def test_in_on_dynamic_string_is_runtime_error() -> None:
    fails("'z' in evt.Unmarshaled.x.y")


# --- ?? -----------------------------------------------------------------------------


def test_coalesce() -> None:
    assert ev("nil ?? 2") == 2
    assert ev("evt.Unmarshaled.missing ?? 'd'") == "d"
    assert ev("evt.Unmarshaled.x.y ?? 'd'") == "z"
    assert ev("evt.Meta.missing ?? 'd'") == ""
    assert ev("nil ?? nil ?? 3") == 3
    assert ev("(evt.Unmarshaled.missing ?? 'a') == 'a'") is True


# --- builtins implemented inline -------------------------------------------------------


def test_len() -> None:
    assert ev("len('héllo')") == 5
    assert ev("len([1, 2])") == 2
    assert ev("len(evt.Meta)") == 3
    assert ev("len(evt.Unmarshaled.x)") == 3
    fails("len(evt.Unmarshaled.missing)", match="len")
    fails("len(evt.Unmarshaled.x.n)", match="len")


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("all([], # > 1)", True),
        ("any([], # > 1)", False),
        ("one([], # > 1)", False),
        ("none([], # > 1)", True),
        ("all([2, 3], # > 1)", True),
        ("any([1, 3], {# > 2})", True),
        ("one([1, 3, 4], # > 2)", False),
        ("one([1, 3], # > 2)", True),
        ("none([1, 3], # > 3)", True),
        ("filter([1, 2, 3, 4], # % 2 == 0)", [2, 4]),
        ("map([1, 2], # * 10)", [10, 20]),
        ("map([1, 2], #index)", [0, 1]),
        ("count([1, 2, 3], # > 1)", 2),
        ("count([true, false, true])", 2),
        ("find([1, 2, 3], # > 1)", 2),
        ("find([1, 2, 3], # > 5)", None),
        ("findIndex([1, 2, 3], # > 1)", 1),
        ("findIndex([1, 2, 3], # > 5)", -1),
        ("findLast([1, 2, 3], # > 1)", 3),
        ("findLastIndex([1, 2, 3], # < 3)", 1),
        ("sum([1, 2, 3])", 6),
        ("sum([1, 2.5])", 3.5),
        ("sum([1, 2, 3], # * 2)", 12),
        ("sum([])", 0),
        ("groupBy([1, 2, 3], # % 2)", {1: [1, 3], 0: [2]}),
        ("sortBy([3, 1, 2], #)", [1, 2, 3]),
        ("sortBy([3, 1, 2], #, 'desc')", [3, 2, 1]),
        ("reduce([1, 2, 3], #acc + #)", 6),
        ("reduce([1, 2, 3], #acc + #, 10)", 16),
        ("reduce(['a', 'b'], #acc + # + string(#index), '')", "a0b1"),
        ("[1, 2, 3] | filter(# > 1) | map(# * 2)", [4, 6]),
        ("any([[1], [2, 3]], {any(#, # == 3)})", True),
        ("let outer = 2; any([[1], [2, 3]], {any(#, # == outer)})", True),
        ("map([{a: 1}, {a: 2}], .a)", [1, 2]),
        ("filter([{a: 1}, {a: 2}], {.a > 1})", [{"a": 2}]),
    ],
)
def test_predicates(src: str, value: Any) -> None:
    if "string(" in src and "string" not in registry.BUILTINS:
        pytest.skip("string builtin not registered")
    assert ev(src) == value


def test_predicate_errors() -> None:
    fails("any(evt.Unmarshaled.missing, # == 1)", match="cannot iterate")
    fails("any([1], #)", match="expected bool")
    fails("reduce([], #acc + #)", match="empty")


def test_predicates_over_events() -> None:
    q = [make_event(), make_event()]
    q[1].Meta["service"] = "ftp"
    queue = {"Queue": q}
    cond = {"evt": "Event", "queue": "any", "leaky": "any"}
    run = lambda src: compile_expr(src, cond).run(q[0], queue, None)  # noqa: E731
    assert run("any(queue.Queue, {.Meta.service == 'ftp'})") is True
    assert run("count(queue.Queue, #.Meta.service in ['ssh', 'ftp'])") == 2
    # a missing key of a string map read through a dynamic event is "" (not nil)
    assert run("all(queue.Queue, {.Meta.missing == ''})") is True
    assert run("queue.Queue[0].Meta.service == queue.Queue[-1].Meta.service") is False
    assert run("map(queue.Queue[-2:], {#.Time})") == [q[0].Time, q[1].Time]
    assert run("any(queue.Queue, {.Time.Hour() == 20})") is True
    assert run("len(filter(queue.Queue, {#.Meta.service == 'ssh'}))") == 1


# --- time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "value"),
    [
        ("evt.Time.Hour()", 20),
        ("evt.Time.Minute()", 15),
        ("evt.Time.Second()", 30),
        ("evt.Time.Year()", 2024),
        ("evt.Time.Day()", 9),
        ("evt.Time.Month().String()", "March"),
        ("evt.Time.Weekday().String()", "Saturday"),
        ("evt.Time.Weekday() == 6", True),
        ("evt.Time.Unix()", 1710015330),
        ("evt.Time.Format('2006-01-02T15:04:05Z07:00')", "2024-03-09T20:15:30Z"),
        ("evt.Time.Format('Jan _2 15:04:05.000')", "Mar  9 20:15:30.250"),
        ("evt.Time.Format('Mon Jan 2 03:04:05 PM 2006 .999')", "Sat Mar 9 08:15:30 PM 2024 .25"),
        ("evt.Time.Sub(evt.Time)", Duration(0)),
        ("evt.Time.Sub(evt.Time).Seconds()", 0.0),
        ("evt.Time.Before(evt.Time) || evt.Time.After(evt.Time)", False),
        ("evt.Time.Equal(evt.Time)", True),
        ("evt.Time.UTC().Hour()", 20),
        ("(evt.Time.Hour() >= 18 || evt.Time.Hour() < 6)", True),
        ("evt.Time - evt.Time", Duration(0)),
    ],
)
def test_time_methods(src: str, value: Any) -> None:
    assert ev(src) == value


def test_time_offset_format() -> None:
    evt = make_event()
    evt.Time = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=-5, minutes=-30))
    )
    assert ev("evt.Time.Format('2006-01-02 15:04:05 -0700 Z07:00')", evt) == (
        "2024-01-01 21:34:05 -0530 -05:30"
    )


def test_time_plus_duration() -> None:
    if "duration" not in registry.BUILTINS:
        pytest.skip("duration builtin not registered")
    assert ev("(evt.Time + duration('1h')).Hour()") == 21
    assert ev("evt.Time.Add(duration('-1h')).Hour()") == 19
    assert ev("duration('90m').Hours()") == 1.5
    assert ev("duration('90m').String()") == "1h30m0s"


# --- helpers registered by tests ------------------------------------------------------


@pytest.fixture
def test_helpers() -> Any:
    from crowdwatch.expr import clear_cache

    added = {"TestDouble": registry.Helper("TestDouble", lambda s: s + s, 1, 1, "str")}
    added["TestJoin"] = registry.Helper("TestJoin", lambda *a: "-".join(a), 1, None, "str")
    added["TestAny"] = registry.Helper("TestAny", lambda: {"k": [1, 2]}, 0, 0, "any")
    registry.HELPERS.update(added)
    clear_cache()
    yield
    for name in added:
        del registry.HELPERS[name]
    clear_cache()


@pytest.mark.usefixtures("test_helpers")
def test_helper_calls() -> None:
    assert ev("TestDouble(evt.Meta.service)") == "sshssh"
    assert ev("TestJoin('a', 'b', 'c')") == "a-b-c"
    assert ev("TestAny().k[1]") == 2
    assert ev("evt.Meta.service | TestDouble()") == "sshssh"
    assert ev("TestDouble('a') startsWith 'aa'") is True


def test_real_helpers() -> None:
    if "Upper" not in registry.HELPERS:
        pytest.skip("helpers not registered")
    assert ev("Upper(evt.Meta.service) == 'SSH'") is True
    assert ev("Lower('ABC')") == "abc"

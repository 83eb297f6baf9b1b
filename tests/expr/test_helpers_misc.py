"""Time, number, collection, decision and disabled helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers import decisions, misc, outbound, timefuncs, waf
from crowdwatch.expr.values import Duration

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_atof() -> None:
    assert misc.Atof("1.5") == 1.5
    assert misc.Atof("1e3") == 1000.0
    assert misc.Atof("abc") == 0.0
    assert misc.Atof(" 1") == 0.0  # Go does not trim
    assert misc.Atof("1e400") == float("inf")


def test_time_now_and_parse_unix() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", timefuncs.TimeNow())
    text = timefuncs.ParseUnix("1700000000.123")
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == datetime.fromtimestamp(1700000000, UTC)
    assert timefuncs.ParseUnix("0") == ""
    assert timefuncs.ParseUnix("-5") == ""
    assert timefuncs.ParseUnix("abc") == ""


def test_median_and_average_interval() -> None:
    times = [T0 + timedelta(minutes=m) for m in (30, 0, 10, 15)]  # sorted gaps: 10, 5, 15 min
    assert timefuncs.MedianInterval(times) == Duration(10 * 60 * 10**9)
    assert isinstance(timefuncs.MedianInterval(times), Duration)
    assert timefuncs.AverageInterval(times) == Duration(10 * 60 * 10**9)
    even = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=4)]  # gaps 1, 3
    assert timefuncs.MedianInterval(even) == Duration(2 * 10**9)
    odd_ns = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(microseconds=3)]  # 1µs, 2µs
    assert timefuncs.MedianInterval(odd_ns) == Duration(1500)
    with pytest.raises(ExprRuntimeError):
        timefuncs.MedianInterval([T0])
    with pytest.raises(ExprRuntimeError):
        timefuncs.AverageInterval([])
    with pytest.raises(ExprRuntimeError):
        timefuncs.MedianInterval(["a", "b"])


def test_float_approx_equal_and_key_exists() -> None:
    assert misc.FloatApproxEqual(1.0, 1.0000001)
    assert not misc.FloatApproxEqual(1.0, 1.00001)
    assert misc.KeyExists("a", {"a": None})
    assert not misc.KeyExists("b", {"a": 1})


def test_flatten_and_distinct() -> None:
    assert misc.Flatten([1, [2, [3]]], 4) == [1, 2, 3, 4]
    assert misc.Distinct([1, 1.0, "1", 1, True, [1], [1]]) == [1, 1.0, "1", True, [1]]
    assert misc.FlattenDistinct(["a", ["b", "a"]], "b") == ["a", "b"]


def test_hostname() -> None:
    assert misc.Hostname()


def test_decision_stubs_and_provider() -> None:
    assert decisions.GetDecisionsCount("1.2.3.4") == 0
    assert decisions.GetDecisionsSinceCount("1.2.3.4", "24h") == 0
    assert decisions.GetActiveDecisionsCount("1.2.3.4") == 0
    assert decisions.GetActiveDecisionsTimeLeft("1.2.3.4") == Duration(0)
    with pytest.raises(ExprRuntimeError):
        decisions.GetDecisionsSinceCount("1.2.3.4", "1 day")

    class Store:
        def count(self, value: str) -> int:
            return 3

        def count_since(self, value: str, since_ns: int) -> int:
            return since_ns // 3_600_000_000_000

        def active_count(self, value: str) -> int:
            return 1

        def active_time_left(self, value: str) -> Duration:
            return Duration(5)

    decisions.set_decision_provider(Store())
    try:
        assert decisions.GetDecisionsCount("x") == 3
        assert decisions.GetDecisionsSinceCount("x", "24h") == 24
        assert decisions.GetActiveDecisionsTimeLeft("x") == Duration(5)
    finally:
        decisions.set_decision_provider(None)


def test_outbound_http_disabled_by_default() -> None:
    with pytest.raises(ExprRuntimeError, match="disabled: no outbound HTTP from expressions"):
        outbound.HTTPGet("http://127.0.0.1:9/")
    with pytest.raises(ExprRuntimeError, match="disabled"):
        outbound.HTTPRequest("GET", "http://127.0.0.1:9/", {}, "")
    with pytest.raises(ExprRuntimeError):
        outbound.CrowdsecCTI("1.2.3.4")


def test_outbound_http_when_enabled_rejects_other_schemes() -> None:
    outbound.enable_outbound_http(True)
    try:
        with pytest.raises(ExprRuntimeError, match="unsupported URL"):
            outbound.HTTPGet("file:///etc/passwd")
    finally:
        outbound.enable_outbound_http(False)


def test_waf_helpers_not_implemented() -> None:
    assert waf.LibInjectionIsSQLI("1' OR '1'='1") is False
    assert waf.LibInjectionIsXSS("<script>alert(1)</script>") is False
    assert waf.JA4H(None) == ""

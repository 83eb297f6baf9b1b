"""The token bucket's float rules (ENGINE.md §6.4) and bucket time text (§7.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crowdwatch.scenarios.clock import (
    Stamp,
    format_go_default,
    format_rfc3339,
    go_seconds,
    parse_rfc3339,
    stamp_from_datetime,
    to_datetime,
)
from crowdwatch.scenarios.limiter import Rate

S = 1_000_000_000


class Limiter:
    """A limiter state with its rate, as a bucket holds it."""

    def __init__(self, burst: int, interval_ns: int) -> None:
        self.rate = Rate(burst, interval_ns)
        self.tokens = 0.0
        self.tlast: int | None = None

    def allow(self, t: int) -> bool:
        return self.rate.allow(self, t)


def test_new_limiter_is_full_and_refuses_the_burst_plus_one() -> None:
    lim = Limiter(3, 10 * S)
    assert [lim.allow(0) for _ in range(4)] == [True, True, True, False]
    assert lim.tokens == 0.0  # a refusal leaves the state unchanged


def test_fractional_refill() -> None:
    lim = Limiter(1, 10 * S)
    assert lim.allow(0)
    assert not lim.allow(9 * S)  # 0.9 token
    assert lim.allow(10 * S)  # exactly one token
    assert lim.allow(30 * S)  # refill is capped at the burst (1), so the next one at 30 s fails
    assert not lim.allow(30 * S)


def test_deficit_worth_less_than_a_nanosecond_is_granted() -> None:
    # 49 * (1/49) == 0.9999999999999999 in float64: a deficit of ~1e-16 token, i.e. a wait of
    # 1e9 * 1.1e-16 * 49 ≈ 5e-6 ns, which truncates to 0 ns → granted
    assert 49.0 * (1.0 / 49.0) < 1.0
    lim = Limiter(1, 49 * S)
    assert lim.allow(0)
    assert lim.allow(49 * S)
    assert lim.tokens < 0  # the tiny deficit is carried


def test_deficit_of_a_few_nanoseconds_is_refused() -> None:
    lim = Limiter(1, 49 * S)
    assert lim.allow(0)
    assert Limiter(1, 49 * S).allow(0)
    one_short = Limiter(1, 49 * S)
    one_short.allow(0)
    assert one_short.allow(49 * S - 1)  # 1 ns short: the wait computes to 0.99999… ns → 0
    assert not lim.allow(49 * S - 3)  # 3 ns short: a wait of about 3 ns


def test_wait_is_truncated_not_rounded() -> None:
    lim = Limiter(1, 1 * S)
    lim.tlast, lim.tokens = 0, 1.0 - 0.9e-9  # deficit worth 0.9 ns → int(0.9) == 0
    assert lim.allow(0)
    lim.tlast, lim.tokens = 0, 1.0 - 1.5e-9  # 1.5 ns → 1
    assert not lim.allow(0)


def test_time_going_backwards() -> None:
    lim = Limiter(2, 10 * S)
    assert lim.allow(10 * S)
    assert lim.allow(0)  # no refill, but granted: the reference time moves back to 0
    assert lim.tlast == 0
    assert lim.allow(10 * S)  # 10 s after the new reference: one token


def test_go_seconds() -> None:
    assert go_seconds(1_500_000_000) == 1.5
    assert go_seconds(-1_500_000_000) == -1.5
    assert go_seconds(3 * 3600 * S + 7) == 10800.000000007


@pytest.mark.parametrize(
    ("text", "ns_after_base", "off", "back"),
    [
        ("2024-01-01T00:00:00Z", 0, 0, "2024-01-01T00:00:00Z"),
        ("2024-01-01T00:00:00.500Z", 500_000_000, 0, "2024-01-01T00:00:00.5Z"),
        ("2024-01-01T00:00:00.123456789Z", 123_456_789, 0, "2024-01-01T00:00:00.123456789Z"),
        ("2024-01-01T01:00:00+01:00", 0, 3600, "2024-01-01T01:00:00+01:00"),
        ("2023-12-31T19:30:00-04:30", 0, -16200, "2023-12-31T19:30:00-04:30"),
        ("2024-01-01T00:00:00+00:00", 0, 0, "2024-01-01T00:00:00Z"),
    ],
)
def test_rfc3339_round_trip(text: str, ns_after_base: int, off: int, back: str) -> None:
    base = stamp_from_datetime(datetime(2024, 1, 1, tzinfo=UTC)).ns
    s = parse_rfc3339(text)
    assert s == Stamp(base + ns_after_base, off)
    assert format_rfc3339(s) == back


@pytest.mark.parametrize(
    "text", ["", "2024-01-01", "2024-01-01 00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "x"]
)
def test_rfc3339_invalid(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_go_default_time_text() -> None:
    assert format_go_default(parse_rfc3339("2024-01-01T00:00:03Z")) == "2024-01-01 00:00:03 +0000 UTC"
    assert format_go_default(parse_rfc3339("2024-01-01T00:00:03.25Z")) == "2024-01-01 00:00:03.25 +0000 UTC"
    assert format_go_default(parse_rfc3339("2024-01-01T10:00:03+01:00")) == "2024-01-01 10:00:03 +0100 +0100"
    assert format_go_default(None) == "0001-01-01 00:00:00 +0000 UTC"


def test_datetime_conversions() -> None:
    t = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    s = stamp_from_datetime(t)
    assert s.off == 7200
    assert to_datetime(s) == t and to_datetime(s).utcoffset() == timedelta(hours=2)
    assert to_datetime(None) == datetime(1, 1, 1, tzinfo=UTC)

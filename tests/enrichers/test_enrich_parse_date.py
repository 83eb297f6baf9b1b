"""The ParseDate enricher (ENGINE.md §4.11.5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from crowdwatch.event import LIVE, TIMEMACHINE, ZERO_TIME, Event, Line
from crowdwatch.parser.enrichers import DEFAULT_LAYOUTS, Enrichers, parse_date

NOW_TEXT = "2026-05-01T12:30:45.123456Z"


def event(mode: int = TIMEMACHINE, fmt: str = "") -> Event:
    evt = Event(Line(raw="line", src="f.log", labels={"type": "syslog"}, module="file"), expect_mode=mode)
    evt.StrTimeFormat = fmt
    return evt


def marshal(enr: Enrichers, text: str, fmt: str = "") -> str:
    out = enr.call("ParseDate", text, event(fmt=fmt))
    assert out is not None and list(out) == ["MarshaledTime"]
    return out["MarshaledTime"]


@pytest.fixture
def enr(clock: Callable[[], datetime]) -> Enrichers:
    return Enrichers(None, clock=clock)


# One sample per default layout, in list order (index 8 duplicates index 0).
LAYOUT_SAMPLES = [
    ("2024-02-12T14:10:21.5Z", "2024-02-12T14:10:21.5Z"),
    ("10/Oct/2023:13:55:36 +0000", "2023-10-10T13:55:36Z"),
    ("Tue Oct  3 13:55:36 2023", "2023-10-03T13:55:36Z"),
    ("12-Mar-2021 10:11:12 europe/paris", "2021-03-12T10:11:12Z"),
    ("03/04/2021 05:06:07", "2021-03-04T05:06:07Z"),
    ("2023-01-01 10:00:00.123456789 +0200 CEST", "2023-01-01T10:00:00.123456789+02:00"),
    ("Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
    ("Wed Jul 05 09:19:24.428126 2023", "2023-07-05T09:19:24.428126Z"),
    ("2024-02-12T14:10:21+01:00", "2024-02-12T14:10:21+01:00"),
    ("2021/03/04", "2021-03-04T00:00:00Z"),
    ("2021/03/04 05:06", "2021-03-04T05:06:00Z"),
    ("2021-03-04", "2021-03-04T00:00:00Z"),
    ("2021-03-04 05:06", "2021-03-04T05:06:00Z"),
    ("2021/03/04 05:06:07", "2021-03-04T05:06:07Z"),
    ("2021-03-04 05:06:07", "2021-03-04T05:06:07Z"),
    ("2021-03-04T05:06:07", "2021-03-04T05:06:07Z"),
]


def test_default_layout_list() -> None:
    assert len(DEFAULT_LAYOUTS) == len(LAYOUT_SAMPLES) == 16
    assert DEFAULT_LAYOUTS[0] == DEFAULT_LAYOUTS[8] == "2006-01-02T15:04:05Z07:00"


@pytest.mark.parametrize(("text", "expected"), LAYOUT_SAMPLES)
def test_default_layouts(enr: Enrichers, text: str, expected: str) -> None:
    assert marshal(enr, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # D1 examples
        ("Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
        ("feb 12 14:10:21", "2026-02-12T14:10:21Z"),
        ("2024-02-12T14:10:21.5Z", "2024-02-12T14:10:21.5Z"),
        ("2024-02-12T14:10:21+01:00", "2024-02-12T14:10:21+01:00"),
        # more
        ("Feb  2 14:10:21", "2026-02-02T14:10:21Z"),
        ("Feb 29 14:10:21", "2026-03-01T14:10:21Z"),
        ("Oct 10 13:55:36.123", "2026-10-10T13:55:36.123Z"),
        ("Thu Jul 06 09:19:28.528126 2023", "2023-07-06T09:19:28.528126Z"),
        ("2025-11-28T09:21:55.645779561Z", "2025-11-28T09:21:55.645779561Z"),
        ("2026-01-14T10:45:33.759014877+01:00", "2026-01-14T10:45:33.759014877+01:00"),
        ("2025-11-28T09:21:55.000000000Z", "2025-11-28T09:21:55Z"),
        ("2023-10-10 13:55:36 +0000 UTC", "2023-10-10T13:55:36Z"),
        ("10/Oct/2023:13:55:36 -0700", "2023-10-10T13:55:36-07:00"),
        ("2021-03-04 05:06:07,5", "2021-03-04T05:06:07.5Z"),
    ],
)
def test_parse_date_examples(enr: Enrichers, text: str, expected: str) -> None:
    assert marshal(enr, text) == expected


def test_range_failure_falls_through_to_later_layouts(enr: Enrichers) -> None:
    # "01/02/2006 15:04:05" rejects month 13; no later layout accepts it either -> now
    assert marshal(enr, "13/01/2021 05:06:07") == NOW_TEXT
    # RFC 3339 with an offset of 24 h parses in Go but cannot be marshalled: falls through
    assert marshal(enr, "2021-03-04T05:06:07+24:00") == NOW_TEXT


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("2006-01-02T15:04:05.999Z", "2023-05-01T10:11:12.345Z", "2023-05-01T10:11:12.345Z"),
        ("0102 15:04:05", "0312 10:11:12", "2026-03-12T10:11:12Z"),
        ("060102 15:04:05", "230312 10:11:12", "2023-03-12T10:11:12Z"),
        ("01/02/2006, 3:04:05 PM", "03/12/2023, 1:02:03 PM", "2023-03-12T13:02:03Z"),
        ("2006-01-02 15:04:05,999999999", "2023-03-12 10:11:12,123456789", "2023-03-12T10:11:12.123456789Z"),
        ("2006-01-02 15:04:05.000-0700", "2023-03-12 10:11:12.120+0530", "2023-03-12T10:11:12.12+05:30"),
        ("2006 2 15.04.05 Jan", "2023 5 10.11.12 Mar", "2023-03-05T10:11:12Z"),
        # the layout wins over the list: 01/02 is read day-first here
        ("02/01/2006 15:04:05", "03/04/2021 05:06:07", "2021-04-03T05:06:07Z"),
        # a layout that does not fit: the default list applies
        ("2006-01-02", "10/Oct/2023:13:55:36 +0000", "2023-10-10T13:55:36Z"),
    ],
)
def test_str_time_format(enr: Enrichers, fmt: str, text: str, expected: str) -> None:
    assert marshal(enr, text, fmt) == expected


@pytest.fixture
def local_tz_plus2() -> Iterator[None]:
    old = time.tzname
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "XXX-02")
        time.tzset()
        yield
    time.tzset()
    assert time.tzname == old


def test_epoch_in_local_time(enr: Enrichers, local_tz_plus2: None) -> None:
    assert marshal(enr, "1700000000") == "2023-11-15T00:13:20+02:00"
    assert marshal(enr, "1700000000.987") == "2023-11-15T00:13:20+02:00"
    assert marshal(enr, "+1700000000") == "2023-11-15T00:13:20+02:00"


@pytest.mark.parametrize(
    "text", ["0", "-5", "abc", "12abc", ".5", "1_000", "not a date", "99999999999999999999"]
)
def test_invalid_falls_back_to_now(enr: Enrichers, text: str) -> None:
    assert marshal(enr, text) == NOW_TEXT


def test_empty_value_is_now(enr: Enrichers) -> None:
    evt = event(fmt="2006")
    assert enr.call("ParseDate", "", evt) == {"MarshaledTime": NOW_TEXT}
    assert evt.Time == ZERO_TIME


def test_time_machine_sets_event_time(enr: Enrichers) -> None:
    evt = event(TIMEMACHINE)
    enr.call("ParseDate", "10/Oct/2023:13:55:36 -0700", evt)
    assert evt.Time == datetime(2023, 10, 10, 13, 55, 36, tzinfo=timezone(timedelta(hours=-7)))
    assert evt.Time.utcoffset() == timedelta(hours=-7)
    # memoised result: same value again, on a new event
    evt2 = event(TIMEMACHINE)
    enr.call("ParseDate", "10/Oct/2023:13:55:36 -0700", evt2)
    assert evt2.Time == evt.Time
    # fallback to now does not touch Time
    evt3 = event(TIMEMACHINE)
    enr.call("ParseDate", "garbage", evt3)
    assert evt3.Time == ZERO_TIME


def test_live_keeps_event_time(enr: Enrichers) -> None:
    evt = event(LIVE)
    before = datetime(2030, 1, 1, tzinfo=UTC)
    evt.Time = before
    assert enr.call("ParseDate", "2021-03-04", evt) == {"MarshaledTime": "2021-03-04T00:00:00Z"}
    assert evt.Time == before


def test_nanoseconds_truncated_in_event_time(enr: Enrichers) -> None:
    evt = event(TIMEMACHINE)
    out = enr.call("ParseDate", "2025-11-28T09:21:55.645779561Z", evt)
    assert out == {"MarshaledTime": "2025-11-28T09:21:55.645779561Z"}
    assert evt.Time == datetime(2025, 11, 28, 9, 21, 55, 645779, tzinfo=UTC)


def test_memo_follows_the_clock_year() -> None:
    now = [datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)]
    enr = Enrichers(None, clock=lambda: now[0])
    assert marshal(enr, "Feb 29 10:00:00") == "2026-03-01T10:00:00Z"
    assert marshal(enr, "2021-03-04") == "2021-03-04T00:00:00Z"
    now[0] = datetime(2028, 1, 1, tzinfo=UTC)
    assert marshal(enr, "Feb 29 10:00:00") == "2028-02-29T10:00:00Z"
    assert marshal(enr, "garbage") == "2028-01-01T00:00:00Z"


def test_parse_date_function(pinned_now: datetime) -> None:
    assert parse_date("Feb 12 14:10:21", "", pinned_now) == datetime(2026, 2, 12, 14, 10, 21, tzinfo=UTC)
    assert parse_date("nope", "", pinned_now) is pinned_now
    assert parse_date("12/03/2021", "02/01/2006", pinned_now) == datetime(2021, 3, 12, tzinfo=UTC)

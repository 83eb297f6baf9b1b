"""Go layout parsing rules (ENGINE.md §4.11.5) through `parse_go_layout`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crowdwatch.parser.enrichers import format_rfc3339, parse_go_layout

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def go(text: str, layout: str, now: datetime = NOW) -> str | None:
    dt = parse_go_layout(text, layout, now=now)
    return format_rfc3339(dt) if dt is not None else None


@pytest.mark.parametrize(
    ("layout", "text", "expected"),
    [
        # hub StrTimeFormat layouts
        ("2006-01-02T15:04:05.999Z", "2023-05-01T10:11:12.345Z", "2023-05-01T10:11:12.345Z"),
        ("2006-01-02T15:04:05.999Z", "2023-05-01T10:11:12Z", "2023-05-01T10:11:12Z"),
        ("0102 15:04:05", "0312 10:11:12", "2026-03-12T10:11:12Z"),
        ("060102 15:04:05", "230312 10:11:12", "2023-03-12T10:11:12Z"),
        ("060102 15:04:05", "690312 10:11:12", "1969-03-12T10:11:12Z"),
        ("01/02/2006, 3:04:05 PM", "03/12/2023, 1:02:03 PM", "2023-03-12T13:02:03Z"),
        ("01/02/2006, 3:04:05 PM", "03/12/2023, 12:02:03 AM", "2023-03-12T00:02:03Z"),
        ("01/02/2006, 3:04:05 PM", "03/12/2023, 12:02:03 PM", "2023-03-12T12:02:03Z"),
        ("01/02/2006, 15:04:05", "03/12/2023, 23:02:03", "2023-03-12T23:02:03Z"),
        ("2006-01-02 15:04:05,999999999", "2023-03-12 10:11:12,123456789", "2023-03-12T10:11:12.123456Z"),
        ("2006-01-02 15:04:05.000-0700", "2023-03-12 10:11:12.120+0530", "2023-03-12T10:11:12.12+05:30"),
        ("Mon Jan _2 15:04:05 2006", "Sun Mar  5 10:11:12 2023", "2023-03-05T10:11:12Z"),
        ("Mon Jan _2 15:04:05 2006", "Sun Mar 15 10:11:12 2023", "2023-03-15T10:11:12Z"),
        ("2006 2 15.04.05 Jan", "2023 5 10.11.12 Mar", "2023-03-05T10:11:12Z"),
        ("2006-01-02T15:04:05", "2021-03-04T05:06:07", "2021-03-04T05:06:07Z"),
        # names: long forms, ASCII case-insensitive; day name not checked against the date
        ("Monday, 02-January-2006", "friday, 05-MARCH-2021", "2021-03-05T00:00:00Z"),
        ("Mon Jan 2 2006", "Tue Mar 5 2021", "2021-03-05T00:00:00Z"),
        ("Jan 2 15:04:05", "oct 10 13:55:36", "2026-10-10T13:55:36Z"),
        # space runs, _2, fractions after seconds without a layout fraction
        ("Jan  2 15:04:05", "Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
        ("Jan  2 15:04:05", "Feb  2 14:10:21", "2026-02-02T14:10:21Z"),
        ("Jan 2 15:04:05", "Feb     2 14:10:21", "2026-02-02T14:10:21Z"),
        ("15:04:05 2006-01-02", "14:10:21.5 2024-02-12", "2024-02-12T14:10:21.5Z"),
        ("15:04:05 2006-01-02", "14:10:21,25 2024-02-12", "2024-02-12T14:10:21.25Z"),
        ("2006-01-02 15:04:05", "2024-02-12 14:10:21.1234567891234", "2024-02-12T14:10:21.123456Z"),
        ("2006-01-02 15:04:05 ", "2024-02-12 14:10:21", "2024-02-12T14:10:21Z"),
        ("2006-01-02 15:04:05.000", "2024-02-12 14:10:21,120", "2024-02-12T14:10:21.12Z"),
        # zones
        ("2006-01-02T15:04:05Z07:00", "2024-02-12T14:10:21Z", "2024-02-12T14:10:21Z"),
        ("2006-01-02T15:04:05Z07:00", "2024-02-12T14:10:21-03:30", "2024-02-12T14:10:21-03:30"),
        ("2006-01-02T15:04:05Z0700", "2024-02-12T14:10:21+0100", "2024-02-12T14:10:21+01:00"),
        ("2006-01-02T15:04:05Z07", "2024-02-12T14:10:21+09", "2024-02-12T14:10:21+09:00"),
        ("2006-01-02T15:04:05 -07:00:00", "2024-02-12T14:10:21 +01:30:15", "2024-02-12T14:10:21+01:30"),
        ("2006-01-02 15:04:05 -0700 MST", "2024-02-12 14:10:21 +0000 UTC", "2024-02-12T14:10:21Z"),
        ("2006-01-02 15:04:05 -0700 MST", "2024-02-12 14:10:21 +0200 CEST", "2024-02-12T14:10:21+02:00"),
        ("2006-01-02 15:04:05 MST", "2024-02-12 14:10:21 CEST", "2024-02-12T14:10:21Z"),
        ("2006-01-02 15:04:05 MST", "2024-02-12 14:10:21 GMT+3", "2024-02-12T14:10:21+03:00"),
        ("2006-01-02 15:04:05 MST", "2024-02-12 14:10:21 GMT-10", "2024-02-12T14:10:21-10:00"),
        ("2006-01-02 15:04:05 MST", "2024-02-12 14:10:21 ChST", "2024-02-12T14:10:21Z"),
        # day of year
        ("2006 002", "2024 060", "2024-02-29T00:00:00Z"),
        ("2006 002", "2023 060", "2023-03-01T00:00:00Z"),
        ("2006 __2", "2023   5", "2023-01-05T00:00:00Z"),
        # literal underscore before a year
        ("x_2006", "x_2021", "2021-01-01T00:00:00Z"),
    ],
)
def test_layouts(layout: str, text: str, expected: str) -> None:
    assert go(text, layout) == expected


@pytest.mark.parametrize(
    ("layout", "text"),
    [
        ("2006-01-02", "2023-13-01"),  # month range
        ("2006-01-02", "2023-02-29"),  # not a leap year
        ("2006-01-02", "2023-04-31"),
        ("2006-01-02", "2023-01-00"),
        ("15:04:05", "24:00:00"),
        ("15:04:05", "23:60:00"),
        ("15:04:05", "23:59:60"),
        ("3:04 PM", "13:04 PM"),
        ("3:04 PM", "1:04 pm"),  # PM is case-sensitive
        ("2006-01-02", "2023-01-02 "),  # extra text
        ("2006-01-02", "2023-1-02"),  # 01 needs two digits
        ("Jan  2 15:04:05", "Feb12 14:10:21"),  # a layout space needs one in the value
        ("Mon Jan 2", "Xyz Jan 2"),
        ("15:04:05.000", "10:11:12.1"),  # .000 needs exactly three digits
        ("2006-01-02T15:04:05Z07:00", "2024-02-12T14:10:21+0100"),
        ("2006-01-02T15:04:05Z07:00", "2024-02-12T14:10:21+25:00"),  # offset hour > 24
        ("2006-01-02T15:04:05Z07:00", "2024-02-12T14:10:21+24:00"),  # not marshalable
        ("2006-01-02 15:04:05 MST", "2024-02-12 14:10:21 ABCDEF"),
        ("2006-01-02T15:04:05Z07:00", "0001-01-01T00:00:00Z"),  # Go's zero time
        ("2006 002", "2023 366"),
        ("2006-01-02 002", "2024-03-02 060"),  # day of year contradicts the date
        ("2006-01-02", "２０２３-01-02"),  # non-ASCII digits
    ],
)
def test_rejected(layout: str, text: str) -> None:
    assert parse_go_layout(text, layout, now=NOW) is None


def test_yearless_takes_current_utc_year_and_feb29_rule() -> None:
    assert go("Feb 29 10:00:00", "Jan 2 15:04:05") == "2026-03-01T10:00:00Z"
    leap = datetime(2028, 1, 1, tzinfo=UTC)
    assert go("Feb 29 10:00:00", "Jan 2 15:04:05", now=leap) == "2028-02-29T10:00:00Z"
    assert parse_go_layout("Feb 30 10:00:00", "Jan 2 15:04:05", now=NOW) is None
    # the current year is taken in UTC
    late = datetime(2026, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert go("Mar 1 10:00:00", "Jan 2 15:04:05", now=late) == "2027-03-01T10:00:00Z"


def test_result_is_aware_with_fixed_offset() -> None:
    dt = parse_go_layout("10/Oct/2023:13:55:36 -0700", "02/Jan/2006:15:04:05 -0700")
    assert dt == datetime(2023, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert dt is not None and dt.utcoffset() == timedelta(hours=-7)
    utc = parse_go_layout("2023-10-10", "2006-01-02")
    assert utc is not None and utc.tzinfo is UTC


def test_format_rfc3339() -> None:
    assert format_rfc3339(datetime(2024, 2, 12, 14, 10, 21, 500000, tzinfo=UTC)) == "2024-02-12T14:10:21.5Z"
    plus1 = timezone(timedelta(hours=1))
    assert format_rfc3339(datetime(2024, 2, 12, 14, 10, 21, tzinfo=plus1)) == "2024-02-12T14:10:21+01:00"
    minus = timezone(timedelta(hours=-9, minutes=-30))
    assert (
        format_rfc3339(datetime(2024, 2, 12, 14, 10, 21, 10, tzinfo=minus))
        == "2024-02-12T14:10:21.00001-09:30"
    )
    dt = datetime(2024, 2, 12, 14, 10, 21, 123456, tzinfo=UTC)
    assert format_rfc3339(dt, nanosecond=123456789) == "2024-02-12T14:10:21.123456789Z"
    assert format_rfc3339(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00Z"

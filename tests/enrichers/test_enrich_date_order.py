"""The combined-regex fast path of the default layout list gives exactly the result of
trying every layout in order (ENGINE.md §4.11.5 step 2)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from crowdwatch.parser.enrichers.dates import DEFAULT_LAYOUTS, parse_fields
from crowdwatch.parser.enrichers.golayout import Fields, compile_layout, is_zero_instant

FRAGMENTS = [
    "2023-10-10", "2023-02-29", "2024-02-29", "2023-13-01", "0001-01-01", "10/Oct/2023",
    "03/04/2021", "13/04/2021", "12-Mar-2021", "2021/03/04", "Oct 10", "Feb 29", "Feb  2",
    "oct 10", "Mon Jan 2", "Wed Jul 05", "Tue Oct  3", "Xyz Oct 3", "13:55:36", "24:00:00",
    "05:06", "13:55:36.123", "09:19:24.428126", "10:00:00.123456789", "00:00:00", "Z",
    "+0000", "-0700", "+01:00", "+24:00", "UTC", "CEST", "europe/paris", "2023", "2006",
    "1700000000", ".5",
]  # fmt: skip
SEPARATORS = ["", " ", "  ", "T", ":", "/"]


def sequential(text: str) -> Fields | None:
    """Reference: every default layout in order, then the epoch (via parse_fields)."""
    for layout in DEFAULT_LAYOUTS:
        fields = compile_layout(layout).parse(text)
        if fields is not None and not is_zero_instant(fields) and -86400 < fields[7] < 86400:
            return fields
    return None


@st.composite
def timestamp_like(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    return text


_REFERENCE = re.compile(r"2006|Z07:00|-0700|MST|Mon|Jan|\.999999999|\.000000|01|02|15|04|05|2")
_VALUES = {
    "2006": ["2023", "2024", "0001", "2000"],
    "Z07:00": ["Z", "+01:00", "-24:00", "+00:00", "+0100"],
    "-0700": ["+0000", "-0700", "+2400", "+01:30"],
    "MST": ["UTC", "CEST", "GMT+3", "cest"],
    "Mon": ["Mon", "wed", "SUN", "Xyz"],
    "Jan": ["Jan", "feb", "OCT", "Foo"],
    ".999999999": ["", ".5", ".123456789", ",25"],
    ".000000": [".123456", ".12", ""],
    "01": ["01", "02", "12", "13", "1"],
    "02": ["01", "28", "29", "30", "31", "00"],
    "15": ["00", "09", "23", "24", "7"],
    "04": ["00", "59", "60"],
    "05": ["00", "59", "60", "05.5"],
    "2": ["1", "2", "29", "31", " 5", "05"],
}


@st.composite
def rendered_layout(draw: st.DrawFn) -> str:
    """A default layout rendered with random (sometimes out-of-range) values."""
    layout = draw(st.sampled_from(DEFAULT_LAYOUTS))
    text = _REFERENCE.sub(lambda m: draw(st.sampled_from(_VALUES[m.group()])), layout)
    return text + draw(st.sampled_from(["", "", " ", "x", ".7"]))


@settings(max_examples=500, deadline=None)
@given(st.one_of(timestamp_like(), rendered_layout()))
def test_fast_path_equals_sequential_order(text: str) -> None:
    expected = sequential(text)
    got = parse_fields(text, "")
    if expected is not None:
        assert got == expected
    elif got is not None:  # only the epoch step may still succeed
        assert text.split(".", 1)[0].lstrip("+").isdigit()


def test_known_sequential_samples() -> None:
    for text in [
        "10/Oct/2023:13:55:36 +0000",
        "Oct 10 13:55:36",
        "2023-10-10 13:55:36",
        "Wed Jul 05 09:19:24.428126 2023",
    ]:
        assert parse_fields(text, "") == sequential(text) is not None

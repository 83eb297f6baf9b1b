"""Pattern library, expansion and field semantics (ENGINE.md §5.1–5.3)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from crowdwatch.grok import GrokError, PatternLibrary
from crowdwatch.grok.base_patterns import BASE_PATTERNS


@pytest.fixture(scope="module")
def base() -> PatternLibrary:
    return PatternLibrary.with_base()


def test_base_has_88_definitions(base: PatternLibrary) -> None:
    assert len(base) == 88
    for name in ("USERNAME", "IPORHOST", "SYSLOGBASE", "COMBINEDAPACHELOG", "HTTPD_ERRORLOG", "LOGLEVEL"):
        assert name in base
    for line in BASE_PATTERNS.strip().splitlines():
        base.compile_name(line.split()[0])


def test_syslogbase_fields(base: PatternLibrary) -> None:
    pattern = base.compile("%{SYSLOGBASE} %{GREEDYDATA:message}")
    assert pattern.fields == ("timestamp", "facility", "priority", "logsource", "program", "pid", "message")
    line = "Jan 24 15:32:31 server sshd[2651912]: Disconnected from user root"
    assert pattern.match(line) == {
        "timestamp": "Jan 24 15:32:31",
        "facility": "",  # optional group that did not participate
        "priority": "",
        "logsource": "server",
        "program": "sshd",
        "pid": "2651912",
        "message": "Disconnected from user root",
    }
    assert pattern.match("nothing here") is None


def test_combined_apache_log(base: PatternLibrary) -> None:
    line = '1.2.3.4 - bob [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.0" 200 2326 "-" "Mozilla/5.0"'
    got = base.compile("%{COMBINEDAPACHELOG}").match(line)
    assert got is not None
    assert (got["clientip"], got["auth"], got["verb"], got["request"]) == ("1.2.3.4", "bob", "GET", "/a?b=1")
    assert (got["response"], got["bytes"], got["agent"], got["rawrequest"]) == (
        "200",
        "2326",
        '"Mozilla/5.0"',
        "",
    )


def test_inherited_fields_and_overrides() -> None:
    lib = PatternLibrary.with_base()
    lib.add("INNER", "%{WORD:a}-%{INT:b}")
    # inner fields are inherited
    assert lib.compile("%{INNER}").match("x-1") == {"a": "x", "b": "1"}
    # same field name at the referencing level wins over the inherited one, whatever the order
    assert lib.compile("%{INNER} %{WORD:a}").match("x-1 y") == {"b": "1", "a": "y"}
    assert lib.compile("%{WORD:a} %{INNER}").match("y x-1") == {"a": "y", "b": "1"}
    # naming the reference captures the whole sub-match and keeps the inner fields
    assert lib.compile("%{INNER:whole}").match("x-1") == {"whole": "x-1", "a": "x", "b": "1"}
    # two references at one level producing the same field: the later wins
    assert lib.compile("%{WORD:w} %{WORD:w}").match("one two") == {"w": "two"}
    assert lib.compile("%{INNER} %{INNER}").match("x-1 y-2") == {"a": "y", "b": "2"}


def test_plain_named_groups_are_not_fields(base: PatternLibrary) -> None:
    pattern = base.compile("(?P<user>%{WORD}) (?<id>\\d+) %{INT:n}")
    assert pattern.fields == ("n",)
    assert pattern.match("bob 12 3") == {"n": "3"}
    assert base.compile("(?P<user>\\w+)").match("bob") == {}  # match without fields


def test_three_part_reference_stays_literal(base: PatternLibrary) -> None:
    pattern = base.compile("%{INT:code:int}")
    assert pattern.fields == ()
    assert pattern.match("200") is None
    assert pattern.match("%{INT:code:int}") == {}
    assert base.compile("%{IP:src-ip}").match("1.2.3.4") is None  # '-' is not a \w field name


def test_unknown_and_recursive_references() -> None:
    lib = PatternLibrary.with_base()
    with pytest.raises(GrokError, match=re.escape("unknown grok pattern NOPE in '%{NOPE:x} y'")):
        lib.compile("%{NOPE:x} y")
    lib.add("LOOP", "a%{LOOP}")
    with pytest.raises(GrokError, match="references itself"):
        lib.compile("%{LOOP}")
    with pytest.raises(GrokError, match="unknown grok pattern"):
        lib.compile_name("MISSING")


def test_lazy_resolution_allows_later_definitions() -> None:
    lib = PatternLibrary.with_base()
    assert lib.add("OUTER", "<%{LATER:v}>")
    assert lib.add("LATER", "\\d+")
    assert lib.compile_name("OUTER").match("<42>") == {"v": "42"}


def test_broken_patterns_raise_grok_error(base: PatternLibrary) -> None:
    with pytest.raises(GrokError, match=r"missing closing \)") as info:
        base.compile("(%{INT:x}")
    assert "(%{INT:x}" in str(info.value)
    with pytest.raises(GrokError, match="look-ahead"):
        base.compile("%{INT:x}(?=a)")
    with pytest.raises(GrokError, match="empty"):
        base.compile("")


def test_add_first_wins(caplog: pytest.LogCaptureFixture) -> None:
    lib = PatternLibrary()
    assert lib.add("X", "a")
    with caplog.at_level(logging.DEBUG, logger="crowdwatch.grok.library"):
        assert not lib.add("X", "b")
    assert lib.get("X") == "a"
    assert "already defined" in caplog.text


def test_compile_is_cached(base: PatternLibrary) -> None:
    assert base.compile("%{IP:ip}") is base.compile("%{IP:ip}")


def test_load_dir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "b").write_text("# comment\nTWO %{ONE}%{ONE}\n  INDENTED x\nDUP second\n")
    (tmp_path / "a").write_text("ONE [0-9]\r\nDUP first\n\nNOBODY\n")
    (tmp_path / "c.txt").write_text("SKIPPED x\n")
    lib = PatternLibrary()
    with caplog.at_level(logging.WARNING):
        assert lib.load_dir(tmp_path) == 3
    assert sorted(lib.names()) == ["DUP", "ONE", "TWO"]
    assert lib.get("ONE") == "[0-9]"  # CR stripped
    assert lib.get("DUP") == "first"  # byte-wise file order, first wins with a warning
    assert "DUP" in caplog.text
    assert lib.compile("%{TWO:t}").match("a12") == {"t": "12"}


def test_exponential_pattern_is_matched_in_linear_time(base: PatternLibrary) -> None:
    pattern = base.compile("%{QS:q} end")
    assert pattern.engine == "re2"
    assert pattern.match('x "' + "a" * 5000) is None
    assert pattern.match('x "a\\"b" end') == {"q": '"a\\"b"'}
    assert base.compile("%{SYSLOGBASE}").engine == "re"

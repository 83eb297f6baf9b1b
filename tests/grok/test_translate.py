"""RE2 → Python translation (ENGINE.md §5.4 checklist)."""

from __future__ import annotations

import re

import pytest
import re2

from crowdwatch.grok import RegexError, compile_re2
from crowdwatch.grok.translate import translate


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"\d+", "٣4", "4"),  # ASCII \d
        (r"\w+", "héllo", "h"),  # ASCII \w
        (r"a\sb", "a\vb", None),  # RE2 \s has no \v
        (r"a\sb", "a\tb", "a\tb"),
        (r"\bx", "éx", "x"),  # ASCII word boundary
        (r"abc$", "abc\n", None),  # $ is end of text only
        (r"abc\z", "abc", "abc"),
        (r"(?m)^b$", "a\nb\nc", "b"),
        (r"a.c", "a\nc", None),
        (r"(?s)a.c", "a\nc", "a\nc"),
        (r"a(?i)bc", "aBC", "aBC"),
        (r"a(?i)b|c", "C", "C"),  # flag persists across |
        (r"(?i:a)b", "AB", None),
        (r"(?i)k", "\u212a", "\u212a"),  # Unicode case folding like RE2
        (r"(?U)a+", "aaa", "a"),
        (r"(?U)a+?", "aaa", "aaa"),
        (r"(?<n>x)y", "xy", "xy"),
        (r"\pL+", "ßx1", "ßx"),
        (r"\p{Greek}+", "aαβ", "αβ"),
        (r"\PL", "ab1", "1"),
        (r"[[:alpha:]]+", "ab1", "ab"),
        (r"[[:^digit:]]+", "12ab", "ab"),
        (r"\Qa.b\E", "axb a.b", "a.b"),
        (r"\x{41}\x42\101", "ABA", "ABA"),
        (r"x{,2}", "x{,2}", "x{,2}"),  # not a repetition in RE2
        (r"[\w.-]+", "a-b.c!", "a-b.c"),
        (r"[^\S\n]+", "a \t\nb", " \t"),
        (r"[]a]+", "]a]", "]a]"),
        (r"[a-]+", "-a-", "-a-"),
        (r"a{2,3}", "aaaa", "aaa"),
        (r"[[]", "[", "["),
    ],
)
def test_semantics_match_re2(pattern: str, text: str, expected: str | None) -> None:
    found = compile_re2(pattern).search(text)
    assert (found.group(0) if found else None) == expected
    truth = re2.search(pattern, text)
    assert (truth.group(0) if truth else None) == expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", "backreferences"),
        (r"a(?=b)", "look-ahead"),
        (r"(?<=a)b", "look-behind"),
        (r"(?>a)", "atomic"),
        (r"a++", "bad repetition"),
        (r"a{1001}", "at most 1000"),
        (r"a\Z", "\\Z"),
        (r"(a", "missing closing )"),
        (r"a)", "unexpected )"),
        (r"[a", "missing closing ]"),
        (r"*a", "missing argument"),
        (r"\e", "invalid escape"),
        (r"[z-a]", "invalid character class range"),
        (r"\p{Nope}", "invalid character class range"),
    ],
)
def test_rejected_like_re2(pattern: str, problem: str) -> None:
    with pytest.raises(RegexError, match=re.escape(problem)) as info:
        compile_re2(pattern)
    assert repr(pattern) in str(info.value)
    with pytest.raises(re2.error):
        re2.compile(pattern)


def test_duplicate_group_names() -> None:
    with pytest.raises(RegexError, match="duplicate capture group name"):
        compile_re2(r"(?P<n>a)(?P<n>b)")
    assert translate(r"(?P<n>a)(?P<n>b)", lambda name: None).python == "(?:a)(?:b)"


def test_groups_kept_for_compile_re2() -> None:
    found = compile_re2(r"(?<a>x)(y)").search("xy")
    assert found is not None and found.group("a") == "x" and found.group(2) == "y"


def test_grok_mode_drops_unwanted_groups() -> None:
    result = translate(r"(a)(?P<keep>b)(?P<drop>c)", lambda name: "g1" if name == "keep" else None)
    assert result.captures == ["g1"]
    assert result.python == "(?:a)(?P<g1>b)(?:c)"


def test_nested_unbounded_detection() -> None:
    assert translate(r'"(\\.|[^\\"]+)+"').nested_unbounded
    assert translate(r"(/([\w]+|\\.)*)+").nested_unbounded
    assert not translate(r"(?:/[A-Za-z]*)+").nested_unbounded  # starts with a literal
    assert not translate(r"(a|b)+c*").nested_unbounded


def test_escaped_underscore_is_literal() -> None:
    # Go's regexp treats any escaped ASCII punctuation, `_` included, as the literal char
    assert compile_re2(r"[A-Za-z0-9\-\_]+\_x").search("ab_x") is not None

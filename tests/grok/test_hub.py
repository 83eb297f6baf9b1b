"""Hub content: every grok pattern compiles, fields agree with hubtest asserts, re == RE2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import re2
import yaml

from crowdwatch.grok import PatternLibrary

from .hubdata import CASES, HUB, grok_uses, hub_library, parser_files, pattern_syntax

pytestmark = pytest.mark.skipif(not HUB.is_dir(), reason="hub snapshot not available")


@pytest.fixture(scope="module")
def library() -> PatternLibrary:
    return hub_library()


def test_all_hub_patterns_compile(library: PatternLibrary) -> None:
    uses = [use for path in parser_files() for use in grok_uses(path)]
    names = {name for path in parser_files() for name, _ in pattern_syntax(path)}
    for use in uses:
        library.compile_name(use.name) if use.name else library.compile(use.pattern or "")
    for name in list(library.names()):
        library.compile_name(name)
    assert len(uses) >= 280 and len(names) >= 220
    assert len(library) == 397 + len(names)


def _case_parsers(case: Path) -> list[Path]:
    config = yaml.safe_load((case / "config.yaml").read_text())
    out = []
    for item in config.get("parsers") or []:
        if item.startswith("./"):
            out.append(HUB / item[2:])
        elif item:
            out.extend(HUB.glob(f"parsers/*/{item}.yaml"))
    return [p for p in out if p.is_file()]


def _case_lines(case: Path) -> list[str]:
    config = yaml.safe_load((case / "config.yaml").read_text())
    data = (case / config["log_file"]).read_bytes().decode("utf-8", errors="replace")
    return [line for line in data.split("\n") if line]


CASE_DIRS = sorted(p for p in CASES.glob("*") if (p / "config.yaml").is_file())


def test_re_agrees_with_re2_on_case_logs(library: PatternLibrary) -> None:
    """Differential test: the translated ``re`` pattern and true RE2 give the same fields."""
    syslog = library.compile("^%{SYSLOGLINE}")
    compared = 0
    for case in CASE_DIRS:
        lines = _case_lines(case)
        inputs = list(lines)
        for line in lines:
            parsed = syslog.match(line)
            if parsed:
                inputs.append(parsed["message"])
        for path in _case_parsers(case):
            for use in grok_uses(path):
                text = use.pattern or library.get(use.name or "") or ""
                compiled = library.compile(text)
                expanded, fields = library.expand(text)
                truth = re2.compile(expanded)
                for value in inputs:
                    found = compiled.regex.search(value)
                    ours = None if found is None else dict(zip(compiled.fields, found.groups("")))
                    other = truth.search(value)
                    theirs = None if other is None else {f: other.group(g) or "" for f, g in fields.items()}
                    assert ours == theirs, (case.name, text, value)
                    compared += 1
    assert compared > 5000


_ASSERT = re.compile(
    r'^results\["(?P<stage>[^"]+)"\]\["(?P<parser>[^"]+)"\]\[(?P<idx>\d+)\]\.Evt\.Parsed\["(?P<field>[^"]+)"\] == "(?P<value>.*)"$'
)


def _parsed_asserts(case: Path) -> dict[tuple[str, str, int], dict[str, str]]:
    out: dict[tuple[str, str, int], dict[str, str]] = {}
    for line in (case / "parser.assert").read_text().splitlines():
        found = _ASSERT.match(line)
        if found:
            key = (found["stage"], found["parser"], int(found["idx"]))
            out.setdefault(key, {})[found["field"]] = yaml.safe_load(f'"{found["value"]}"')
    return out


FIELD_CASES = [
    "sshd-invalid-bf",
    "pfsense-rfc5424-nginx",
    "actual-budget-whitelist",
    "nextcloud-whitelist",
    "nginx_http-catch-npm",
    "apache2-malformed",
    "dovecot-slow-bf",
    "exim-syslog-logs",
    "postfix-logs",
    "litespeed-logs",
    "pgsql-logs",
]


@pytest.mark.parametrize("case_name", FIELD_CASES)
def test_field_maps_match_hubtest_asserts(library: PatternLibrary, case_name: str) -> None:
    """Grok fields on the case lines equal the ``Parsed`` values the hubtest asserts expect."""
    case = CASES / case_name
    asserts = _parsed_asserts(case)
    lines = _case_lines(case)
    messages = [entry.get("message") for entry in _s00_entries(asserts)]
    checked = 0
    for path in _case_parsers(case):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        stage = path.parent.parent.name
        patterns = [
            library.compile(u.pattern or library.get(u.name or "") or "")
            for u in grok_uses(path)
            if u.apply_on in ("message", "Line.Raw")
        ]
        if stage not in ("s00-raw", "s01-parse") or not patterns:
            continue
        name = docs[0].get("name")
        # fields that child nodes re-parse from a captured field (e.g. postfix "reason")
        refined = {
            field
            for u in grok_uses(path)
            if u.apply_on not in ("message", "Line.Raw")
            for field in library.compile(u.pattern or library.get(u.name or "") or "").fields
        }
        inputs = lines if stage == "s00-raw" or not all(messages) else messages
        for (st, parser, idx), expected in asserts.items():
            if st != stage or parser != name:
                continue
            text = inputs[idx]
            got = next((m for p in patterns if (m := p.match(text))), None)
            assert got is not None, (path.name, text)
            for field, value in got.items():
                if field in expected and field not in refined and field not in ("message", "logsource"):
                    assert expected[field] == value, (path.name, idx, field)
                    checked += 1
    assert checked > 0


def _s00_entries(asserts: dict[tuple[str, str, int], dict[str, str]]) -> list[dict[str, str]]:
    keys = sorted((idx, parser) for (stage, parser, idx) in asserts if stage == "s00-raw")
    return [asserts[("s00-raw", parser, idx)] for idx, parser in keys]

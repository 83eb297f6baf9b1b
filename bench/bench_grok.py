"""Compare regex engines for grok on real hub patterns and hubtest log lines.

Engines: stdlib ``re`` (on the RE2 → Python translation, what crowdwatch uses), the
``regex`` module (same translated text) and ``google-re2`` (the expanded RE2 text as is).

Usage: python bench/bench_grok.py [--hub DIR] [--cases DIR] [--repeat N]
Prints µs per match call for each workload, plus pathological inputs.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import re2
import regex
import yaml

from crowdwatch.grok import PatternLibrary

Matcher = Callable[[str], Any]

# workload name → (parser file, program names whose messages it parses)
WORKLOADS = {
    "syslog (s00 raw lines)": ("s00-raw/crowdsecurity/syslog-logs.yaml", None),
    "nginx access/error": ("s01-parse/crowdsecurity/nginx-logs.yaml", ("nginx",)),
    "sshd": ("s01-parse/crowdsecurity/sshd-logs.yaml", ("sshd",)),
    "apache2": ("s01-parse/crowdsecurity/apache2-logs.yaml", ("apache2",)),
}


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("nodes") or []:
        yield from _nodes(child)


def load(hub: Path) -> tuple[PatternLibrary, dict[str, list[str]]]:
    """Library (base + files + all pattern_syntax) and each parser file's grok patterns."""
    library = PatternLibrary.with_base()
    library.load_dir(hub / "patterns")
    patterns: dict[str, list[str]] = {}
    for path in sorted((hub / "parsers").rglob("*.yaml")):
        rel = str(path.relative_to(hub / "parsers"))
        with path.open(encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if isinstance(d, dict)]
        for doc in docs:
            for node in _nodes(doc):
                for name, body in (node.get("pattern_syntax") or {}).items():
                    library.add(str(name), str(body))
                grok = node.get("grok")
                if isinstance(grok, dict):
                    text = grok.get("pattern") or library.get(grok.get("name") or "")
                    if text:
                        patterns.setdefault(rel, []).append(text)
    return library, patterns


def case_lines(cases: Path) -> list[str]:
    lines: list[str] = []
    for config in sorted(cases.glob("*/config.yaml")):
        log_file = yaml.safe_load(config.read_text()).get("log_file")
        if log_file and (config.parent / log_file).is_file():
            text = (config.parent / log_file).read_bytes().decode("utf-8", errors="replace")
            lines.extend(line for line in text.split("\n") if line)
    return lines


def messages(library: PatternLibrary, lines: list[str], programs: tuple[str, ...] | None) -> list[str]:
    """Raw lines (programs None) or the syslog ``message`` of lines from ``programs``."""
    if programs is None:
        return lines
    syslog = library.compile("^%{SYSLOGLINE}")
    out = []
    for line in lines:
        parsed = syslog.match(line)
        if parsed and parsed["program"].startswith(programs):
            out.append(parsed["message"])
    if programs == ("nginx",) or programs == ("apache2",):  # access logs read as files
        out += [line for line in lines if '" ' in line and "HTTP/" in line and "[" in line]
    return out


def engines(library: PatternLibrary, pattern: str) -> dict[str, Matcher]:
    compiled = library.compile(pattern)
    expanded, fields = library.expand(pattern)
    alt = regex.compile(compiled.regex.pattern)
    fast = re2.compile(expanded)
    names = list(fields.items())

    def with_regex(text: str) -> dict[str, str] | None:
        found = alt.search(text)
        return None if found is None else {f: found.group(g) or "" for f, g in names}

    def with_re2(text: str) -> dict[str, str] | None:
        found = fast.search(text)
        return None if found is None else {f: found.group(g) or "" for f, g in names}

    def with_re(text: str) -> dict[str, str] | None:
        found = compiled.regex.search(text)
        return None if found is None else dict(zip(compiled.fields, found.groups("")))

    return {"crowdwatch": compiled.match, "re": with_re, "regex": with_regex, "re2": with_re2}


def timeit(fn: Matcher, lines: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for line in lines:
            fn(line)
        best = min(best, time.perf_counter() - start)
    return best


def run_workloads(
    library: PatternLibrary, patterns: dict[str, list[str]], lines: list[str], repeat: int
) -> None:
    labels = ("crowdwatch", "re", "regex", "re2")
    print(f"{'workload (µs per call)':28} {'calls':>6} {'hit%':>5} " + " ".join(f"{e:>10}" for e in labels))
    for label, (parser, programs) in WORKLOADS.items():
        inputs = messages(library, lines, programs)
        totals = dict.fromkeys(labels, 0.0)
        calls = hits = 0
        for pattern in patterns[parser]:
            matchers = engines(library, pattern)
            hits += sum(1 for text in inputs if matchers["crowdwatch"](text))
            calls += len(inputs)
            for name, fn in matchers.items():
                totals[name] += timeit(fn, inputs, repeat)
        cells = " ".join(f"{totals[e] / calls * 1e6:10.2f}" for e in totals)
        print(f"{label:28} {calls:6d} {100 * hits / calls:5.1f} {cells}")


def run_pathological(library: PatternLibrary) -> None:
    print("\npathological inputs (one call, ms):")
    cases = [
        ("%{QS:q} end", 'x "' + "a" * 22),
        ("%{QUOTEDSTRING:q}$", '"' + "ab\\" * 8 + "a" * 14),
        ("%{DATA:a} %{DATA:b} %{DATA:c} %{DATA:d} END", "x " * 60),
        ("%{GREEDYDATA:a}%{GREEDYDATA:b}%{GREEDYDATA:c}X", "y" * 200),
    ]
    for pattern, text in cases:
        cells = []
        for name, fn in engines(library, pattern).items():
            start = time.perf_counter()
            fn(text)
            cells.append(f"{name}={(time.perf_counter() - start) * 1e3:.2f}")
        print(f"  {pattern!r:52} len={len(text):4d} " + " ".join(cells))


def run_compile(library: PatternLibrary, patterns: dict[str, list[str]]) -> None:
    every = [p for group in patterns.values() for p in group]
    start = time.perf_counter()
    for pattern in every:
        library.expand(pattern)
    expand = time.perf_counter() - start
    re.purge()
    fresh = PatternLibrary.with_base()
    fresh._definitions.update(library._definitions)
    start = time.perf_counter()
    for pattern in every:
        fresh.compile(pattern)
    compile_re = time.perf_counter() - start
    start = time.perf_counter()
    for pattern in every:
        re2.compile(library.expand(pattern)[0])
    compile_re2 = time.perf_counter() - start
    print(
        f"\ncompile {len(every)} hub grok patterns: expand {expand * 1e3:.0f} ms, "
        f"expand+translate+re {compile_re * 1e3:.0f} ms, expand+re2 {compile_re2 * 1e3:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "hub")
    parser.add_argument(
        "--cases", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "hubtest" / "cases"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    library, patterns = load(args.hub)
    lines = case_lines(args.cases)
    run_workloads(library, patterns, lines, args.repeat)
    run_pathological(library)
    run_compile(library, patterns)


if __name__ == "__main__":
    main()

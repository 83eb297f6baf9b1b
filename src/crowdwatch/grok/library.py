"""Grok pattern library: named definitions, ``%{NAME:field}`` expansion, field capture.

Behaviour follows ENGINE.md §5.1–5.3 (CrowdSec's grokky library):

* references are ``%{NAME}`` or ``%{NAME:field}`` with ``\\w+`` names (ASCII); any other
  form, e.g. ``%{INT:bytes:int}`` or ``%{IP:src-ip}``, stays in the regex as literal text;
* each reference becomes a group around the expanded body of NAME; ``%{X:f}`` captures
  that group as field ``f``; fields of X's own body are inherited unless the same field
  name appears at the referencing level; among references of one level the later wins;
* plain named groups ``(?P<f>…)`` never produce fields.

Field groups get generated names, so field positions never depend on counting
parentheses in the text (ENGINE.md §5.2 [REC]).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import re2

from crowdwatch.grok.base_patterns import BASE_PATTERNS
from crowdwatch.grok.engine import compile_python
from crowdwatch.grok.translate import RegexError, translate

log = logging.getLogger(__name__)

_REFERENCE = re.compile(r"%\{(\w+)(?::(\w+))?\}", re.ASCII)
# A definition line: NAME at column 0, RE2 whitespace, then a non-empty body.
_DEFINITION = re.compile(r"(\w+)[\t\n\f\r ]+(.+)", re.ASCII)
_GROUP_PREFIX = "_cwg"


class GrokError(ValueError):
    """A grok pattern that cannot be compiled (the message names it and says why)."""


class GrokPattern:
    """A compiled grok expression.  ``match`` runs an unanchored search.

    ``regex`` is the Python ``re`` translation; ``engine`` says which engine ``match``
    uses: ``"re"``, or ``"re2"`` (the google-re2 binding, linear time) for patterns a
    backtracking engine could take exponential time on (see docs/GROK.md).
    """

    __slots__ = ("_groups", "_search", "engine", "fields", "pattern", "regex")

    def __init__(
        self,
        pattern: str,
        regex: re.Pattern[str],
        fields: tuple[str, ...],
        re2_regex: Any = None,
        re2_groups: tuple[str, ...] = (),
    ) -> None:
        self.pattern = pattern
        self.regex = regex
        self.fields = fields
        self.engine = "re" if re2_regex is None else "re2"
        self._search = regex.search if re2_regex is None else re2_regex.search
        self._groups = re2_groups

    def match(self, text: str) -> dict[str, str] | None:
        """Field values of the leftmost match (``""`` for non-participating fields), or None.

        A pattern without fields returns ``{}`` on a match; grok callers treat an empty
        result as a failure (ENGINE.md §4.5).
        """
        found = self._search(text)
        if found is None:
            return None
        if self._groups:
            return {field: found.group(group) or "" for field, group in zip(self.fields, self._groups)}
        return dict(zip(self.fields, found.groups("")))

    def __repr__(self) -> str:
        return f"GrokPattern({self.pattern!r}, fields={self.fields!r})"


class _Expansion:
    """State of one pattern expansion: generated group names and the recursion path."""

    def __init__(self, library: PatternLibrary, prefix: str) -> None:
        self.library = library
        self.prefix = prefix
        self.count = 0

    def group(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def expand(self, text: str, path: tuple[str, ...]) -> tuple[str, dict[str, str]]:
        """Return ``text`` with references expanded, and its field → group-name map."""
        references = list(_REFERENCE.finditer(text))
        if not references:
            return text, {}
        level_fields = {ref[2] for ref in references if ref[2]}
        parts: list[str] = []
        fields: dict[str, str] = {}
        pos = 0
        for ref in references:
            name, field = ref[1], ref[2]
            parts.append(text[pos : ref.start()])
            pos = ref.end()
            body = self.library.get(name)
            if body is None:
                raise GrokError(f"unknown grok pattern {name}")
            if name in path:
                raise GrokError(f"grok pattern {name} references itself ({' -> '.join((*path, name))})")
            inner, inner_fields = self.expand(body, (*path, name))
            if field:
                group = self.group()
                fields[field] = group
                parts.append(f"(?P<{group}>{inner})")
            else:
                parts.append(f"(?:{inner})")
            for key, value in inner_fields.items():
                if key not in level_fields:
                    fields[key] = value
        parts.append(text[pos:])
        return "".join(parts), fields


class PatternLibrary:
    """Named grok definitions (first definition wins) and a cache of compiled patterns."""

    def __init__(self) -> None:
        self._definitions: dict[str, str] = {}
        self._compiled: dict[str, GrokPattern] = {}

    @classmethod
    def with_base(cls) -> PatternLibrary:
        """A library holding the 88 base definitions CrowdSec compiles in."""
        library = cls()
        for name, body in _parse_lines(BASE_PATTERNS.splitlines()):
            library._definitions[name] = body
        return library

    # -- definitions ---------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def __len__(self) -> int:
        return len(self._definitions)

    def names(self) -> Iterator[str]:
        return iter(self._definitions)

    def get(self, name: str) -> str | None:
        """Body of definition ``name`` (RE2/grok text), or None."""
        return self._definitions.get(name)

    def add(self, name: str, body: str) -> bool:
        """Define ``name`` (a ``pattern_syntax`` entry).  An existing name is kept: False."""
        if not name or not body:
            raise GrokError(f"grok pattern {name!r}: empty {'name' if not name else 'body'}")
        if name in self._definitions:
            log.debug("grok pattern %s already defined, keeping the first definition", name)
            return False
        self._definitions[name] = body
        return True

    def load_file(self, path: str | os.PathLike[str]) -> int:
        """Add the definitions of a pattern file; returns how many were added."""
        data = Path(path).read_bytes().decode("utf-8", errors="replace")
        lines = [line[:-1] if line.endswith("\r") else line for line in data.split("\n")]
        added = 0
        for name, body in _parse_lines(lines):
            if name in self._definitions:
                log.warning(
                    "%s: grok pattern %s is already defined, keeping the first definition", path, name
                )
                continue
            self._definitions[name] = body
            added += 1
        return added

    def load_dir(self, path: str | os.PathLike[str]) -> int:
        """Load every file of ``path`` whose name has no ``.``, in byte-wise name order."""
        directory = Path(path)
        names = sorted(
            (entry.name for entry in directory.iterdir() if "." not in entry.name), key=os.fsencode
        )
        return sum(self.load_file(directory / name) for name in names if (directory / name).is_file())

    # -- compilation ---------------------------------------------------------------
    def compile(self, pattern: str) -> GrokPattern:
        """Compile a grok expression (cached per text).  Raises GrokError."""
        compiled = self._compiled.get(pattern)
        if compiled is None:
            compiled = self._compile(pattern)
            self._compiled[pattern] = compiled
        return compiled

    def compile_name(self, name: str) -> GrokPattern:
        """Compile the definition ``name`` (a grok node's ``name:``).  Raises GrokError."""
        body = self._definitions.get(name)
        if body is None:
            raise GrokError(f"unknown grok pattern {name}")
        try:
            return self.compile(body)
        except GrokError as exc:
            raise GrokError(f"grok pattern {name}: {exc}") from None

    def expand(self, pattern: str) -> tuple[str, dict[str, str]]:
        """RE2 text of ``pattern`` with references expanded, and its field → group-name map.

        Field groups are named groups with generated names; every other reference is a
        non-capturing group.  Raises GrokError for unknown or recursive references.
        """
        if not pattern:
            raise GrokError("empty grok pattern")
        prefix = _GROUP_PREFIX
        while True:
            try:
                text, fields = _Expansion(self, prefix).expand(pattern, ())
            except GrokError as exc:
                raise GrokError(f"{exc} in {pattern!r}") from None
            if prefix not in text.replace(f"(?P<{prefix}", ""):
                return text, fields
            prefix += "_"  # the text uses our group-name prefix itself: pick another one

    def _compile(self, pattern: str) -> GrokPattern:
        text, fields = self.expand(pattern)
        groups = {group: field for field, group in fields.items()}
        try:
            translation = translate(text, lambda name: name if name in groups else None)
            regex = compile_python(translation.python, pattern)
        except RegexError as exc:
            raise GrokError(f"grok pattern {pattern!r}: {exc}") from None
        ordered = tuple(groups[name] for name in translation.captures)
        if not translation.nested_unbounded:
            return GrokPattern(pattern, regex, ordered)
        try:
            linear = re2.compile(text)
        except re2.error as exc:  # not expected: the translator accepts only RE2 syntax
            log.debug("grok pattern %r: re2 rejected it (%s), matching with re", pattern, exc)
            return GrokPattern(pattern, regex, ordered)
        return GrokPattern(pattern, regex, ordered, linear, tuple(translation.captures))


def _parse_lines(lines: list[str]) -> Iterator[tuple[str, str]]:
    for line in lines:
        found = _DEFINITION.fullmatch(line)
        if found is not None:
            yield found[1], found[2]

"""RE2-syntax regular expressions compiled for Python (ENGINE.md §5.4).

PROVISIONAL minimal version: the grok work replaces the translation with the full
RE2 → Python one; the public signature :func:`compile_re2` stays.
"""

from __future__ import annotations

import functools
import re


class RegexError(ValueError):
    """An RE2 pattern that does not compile (message says why)."""


@functools.lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compile an RE2-syntax pattern into an object with ``search``/``match`` like ``re.Pattern``."""
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise RegexError(f"invalid regular expression {pattern!r}: {exc}") from None

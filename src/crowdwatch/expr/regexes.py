"""RE2-syntax patterns for expressions, compiled by :mod:`crowdwatch.grok` on first use.

The grok package (its RE2 translator's tables) and the re2 library cost ≈3.5 MiB once
imported; a process whose expressions never compile a pattern (the LAPI's profiles) does
not load them.
"""

from __future__ import annotations

import re


def compile_re2(pattern: str) -> re.Pattern[str]:
    """:func:`crowdwatch.grok.engine.compile_re2` (cached there), imported at the first call."""
    from crowdwatch.grok.engine import compile_re2 as compile_

    return compile_(pattern)

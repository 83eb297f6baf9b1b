"""RE2-syntax regular expressions compiled for Python (ENGINE.md §5.4).

:func:`compile_re2` is the single entry point for every regular expression coming from
hub content (``matches`` in expressions, data-file regexps, grok): the RE2 source is
translated by :mod:`crowdwatch.grok.translate` and compiled with the standard ``re``
module (the engine choice and its measurements are in ``docs/GROK.md``).
"""

from __future__ import annotations

import functools
import re

from crowdwatch.grok.translate import RegexError, translate

__all__ = ["RegexError", "compile_python", "compile_re2"]


def compile_python(python_source: str, original: str) -> re.Pattern[str]:
    """Compile already-translated ``python_source``; errors name the ``original`` RE2 text."""
    try:
        return re.compile(python_source)
    except re.error as exc:  # the translator lets through only what RE2 accepts
        raise RegexError(f"invalid regular expression {original!r}: {exc}") from None
    except RecursionError:
        raise RegexError(f"invalid regular expression {original!r}: nested too deeply") from None


@functools.lru_cache(maxsize=4096)
def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compile an RE2-syntax pattern; the result has ``search``/``match`` like ``re.Pattern``.

    Named and numbered groups are kept (``(?<n>…)`` becomes ``(?P<n>…)``).
    Raises :class:`RegexError` for syntax RE2 rejects.
    """
    return compile_python(translate(pattern).python, pattern)

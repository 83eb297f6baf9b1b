"""Grok patterns with RE2 semantics (ENGINE.md §5)."""

from crowdwatch.grok.engine import RegexError, compile_re2
from crowdwatch.grok.library import GrokError, GrokPattern, PatternLibrary

__all__ = ["GrokError", "GrokPattern", "PatternLibrary", "RegexError", "compile_re2"]

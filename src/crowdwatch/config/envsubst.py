"""Environment-variable expansion applied to configuration text before YAML parsing.

Like CrowdSec, ``${VAR}`` and ``$VAR`` are replaced only when ``VAR`` is defined in the
environment; references to undefined variables are left untouched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Return ``text`` with every ``${VAR}``/``$VAR`` of a defined variable replaced by its value."""
    values = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        value = values.get(name)
        return m.group(0) if value is None else value

    return _REF.sub(sub, text)

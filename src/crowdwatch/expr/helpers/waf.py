"""WAF helpers ``LibInjectionIsSQLI``, ``LibInjectionIsXSS`` and ``JA4H``.

They are registered so content using them compiles. They are **not implemented**:
crowdwatch has no libinjection port and no AppSec request object, so the libinjection
tests always answer false (nothing is detected) and ``JA4H`` returns ``""``.
"""

from __future__ import annotations

from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.registry import helper


@helper("LibInjectionIsSQLI", 1, returns="bool")
def LibInjectionIsSQLI(s: object) -> bool:
    """Not implemented: always false."""
    want_str("LibInjectionIsSQLI", s)
    return False


@helper("LibInjectionIsXSS", 1, returns="bool")
def LibInjectionIsXSS(s: object) -> bool:
    """Not implemented: always false."""
    want_str("LibInjectionIsXSS", s)
    return False


@helper("JA4H", 1, returns="str")
def JA4H(req: object) -> str:
    """Not implemented (no AppSec request object): always ``""``."""
    return ""

"""CrowdSec helper functions callable from expressions (EXPR.md §9).

Importing this package registers every helper in ``crowdwatch.expr.registry.HELPERS`` and
every plain expr-lang builtin in ``BUILTINS`` (module ``crowdwatch.expr.builtins``).
Status of each helper: docs/EXPR_HELPERS.md.
"""

from crowdwatch.expr import builtins
from crowdwatch.expr.helpers import (
    datafiles,
    decisions,
    geo,
    jsonfuncs,
    kv,
    misc,
    net,
    outbound,
    stash,
    strings,
    timefuncs,
    urls,
    waf,
    xmlfuncs,
)

__all__ = [
    "builtins",
    "datafiles",
    "decisions",
    "geo",
    "jsonfuncs",
    "kv",
    "misc",
    "net",
    "outbound",
    "stash",
    "strings",
    "timefuncs",
    "urls",
    "waf",
    "xmlfuncs",
]

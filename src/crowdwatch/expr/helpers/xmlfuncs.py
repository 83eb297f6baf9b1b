"""XML helpers ``XMLGetAttributeValue`` / ``XMLGetNodeValue`` (EXPR.md §9.2).

Paths are etree-style (an XPath subset) and match element **local** names: namespaces are
stripped after parsing, as the Go etree library ignores default namespaces when matching.
A relative path is evaluated from the document node. Parsed documents are cached for 5 s.
lxml is imported at the first call (≈4 MiB that processes without XML content, such as the
LAPI, do not pay).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from crowdwatch.expr.helpers.govalues import want_str
from crowdwatch.expr.registry import helper

CACHE_TTL = 5.0
_CACHE_MAX = 256
_lxml: tuple[ModuleType, Any] | None = None  # (lxml.etree, its parser), on first use
_cache: dict[str, tuple[float, Any]] = {}
clock: Callable[[], float] = time.monotonic


def _etree() -> tuple[ModuleType, Any]:
    global _lxml
    if _lxml is None:
        from lxml import etree

        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
        )
        _lxml = (etree, parser)
    return _lxml


def _parse(xml: str) -> Any:
    """Parsed (namespace-stripped) document, or ``None`` if it does not parse."""
    etree, parser = _etree()
    now = clock()
    hit = _cache.get(xml)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        root = etree.fromstring(xml.encode("utf-8", "surrogatepass"), parser)
    except (etree.XMLSyntaxError, ValueError):
        doc = None
    else:
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag[:1] == "{":
                el.tag = el.tag.partition("}")[2]
        etree.cleanup_namespaces(root)
        doc = root.getroottree()
    if len(_cache) >= _CACHE_MAX:
        for k in [k for k, (exp, _) in _cache.items() if exp <= now]:
            del _cache[k]
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
    _cache[xml] = (now + CACHE_TTL, doc)
    return doc


@functools.lru_cache(maxsize=1024)
def _xpath(path: str) -> Any:
    """Compiled path, or ``None`` when it is not valid."""
    etree = _etree()[0]
    if not path.startswith("/"):
        path = "/" + path.removeprefix("./")
    try:
        return etree.XPath(path)
    except etree.XPathSyntaxError:
        return None


def _first_element(xml: str, path: str) -> Any:
    etree = _etree()[0]
    doc = _parse(xml)
    if doc is None:
        return None
    xp = _xpath(path)
    if xp is None:
        return None
    try:
        found = xp(doc)
    except etree.XPathError:
        return None
    if isinstance(found, list):
        for item in found:
            if isinstance(item, etree._Element):
                return item
    return None


@helper("XMLGetAttributeValue", 3, returns="str")
def XMLGetAttributeValue(xml: object, path: object, attr: object) -> str:
    el = _first_element(want_str("XMLGetAttributeValue", xml), want_str("XMLGetAttributeValue", path))
    if el is None:
        return ""
    value = el.get(want_str("XMLGetAttributeValue", attr))
    return value if value is not None else ""


@helper("XMLGetNodeValue", 2, returns="str")
def XMLGetNodeValue(xml: object, path: object) -> str:
    el = _first_element(want_str("XMLGetNodeValue", xml), want_str("XMLGetNodeValue", path))
    if el is None:
        return ""
    return el.text or ""


def reset() -> None:
    """Forget cached documents."""
    _cache.clear()

"""Helpers that reach other hosts: ``HTTPGet``/``HTTPHead``/``HTTPPost``/``HTTPRequest`` and
``CrowdsecCTI``.

Expressions come from downloaded content, so outbound HTTP is **disabled** by default: the
HTTP helpers raise a runtime error until :func:`enable_outbound_http` is called (by an
explicit configuration choice). ``CrowdsecCTI`` is always a runtime error: crowdwatch has
no CTI client.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any, NoReturn

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers.govalues import want_dict, want_str
from crowdwatch.expr.registry import helper

DISABLED = "disabled: no outbound HTTP from expressions"
TIMEOUT = 5.0
MAX_BODY = 1 << 20
_enabled = [False]


def enable_outbound_http(enabled: bool = True) -> None:
    """Allow (or forbid again) the HTTP helpers to make requests."""
    _enabled[0] = enabled


def _request(method: str, url: str, headers: dict[str, str], body: str | None) -> dict[str, Any]:
    if not _enabled[0]:
        raise ExprRuntimeError(DISABLED)
    if not url.startswith(("http://", "https://")):
        raise ExprRuntimeError(f"unsupported URL {url!r}")
    data = body.encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, raw, hdrs = resp.status, resp.read(MAX_BODY), resp.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(MAX_BODY), exc.headers
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ExprRuntimeError(f"{method} {url}: {exc}") from None
    grouped: dict[str, list[str]] = {}
    for name, value in hdrs.items():
        grouped.setdefault(name.title(), []).append(value)
    return {"StatusCode": status, "Body": raw.decode("utf-8", "replace"), "Headers": grouped}


@helper("HTTPGet", 1, returns="map")
def HTTPGet(url: object) -> dict[str, Any]:
    return _request("GET", want_str("HTTPGet", url), {}, None)


@helper("HTTPHead", 1, returns="map")
def HTTPHead(url: object) -> dict[str, Any]:
    return _request("HEAD", want_str("HTTPHead", url), {}, None)


@helper("HTTPPost", 3, returns="map")
def HTTPPost(url: object, content_type: object, body: object) -> dict[str, Any]:
    headers = {"Content-Type": want_str("HTTPPost", content_type)}
    return _request("POST", want_str("HTTPPost", url), headers, want_str("HTTPPost", body))


@helper("HTTPRequest", 4, returns="map")
def HTTPRequest(method: object, url: object, headers: object, body: object) -> dict[str, Any]:
    hdrs = {str(k): str(v) for k, v in want_dict("HTTPRequest", headers).items()}
    return _request(
        want_str("HTTPRequest", method).upper(),
        want_str("HTTPRequest", url),
        hdrs,
        want_str("HTTPRequest", body),
    )


@helper("CrowdsecCTI", 1, returns="any")
def CrowdsecCTI(ip: object) -> NoReturn:
    raise ExprRuntimeError("CrowdsecCTI: not available (crowdwatch has no CTI client)")

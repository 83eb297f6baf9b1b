"""Admin calls on a (possibly remote) Local API as a watcher, the way ``cscli`` makes them.

:class:`AdminClient` is synchronous (the CLI is) and offers the same methods, with the same
arguments and results, as :class:`crowdwatch.lapi.service.LapiService` for what ``decisions``
and ``alerts`` commands need: a command runs unchanged on the local database or through the
API. Filters become the query parameters of CrowdSec's LAPI v1, so the remote end may be
crowdwatch or CrowdSec itself. Failures raise :class:`AdminError` (one line, no secrets).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import orjson

from crowdwatch.client.lapi import (
    Credentials,
    LapiAuthFailed,
    LapiClient,
    LapiError,
    LapiRejected,
    LapiUnavailable,
    ssl_context,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from crowdwatch.lapi.iprange import IpRange
    from crowdwatch.lapi.storage.alerts import AlertQuery
    from crowdwatch.lapi.storage.decisions import DecisionQuery

T = TypeVar("T")

USER_AGENT = "crowdwatch-cli"


class AdminError(Exception):
    """A remote admin call failed; the message is for the user."""


@dataclass(frozen=True)
class Status:
    """What ``lapi status`` reports."""

    url: str
    login: str
    health: str
    server: str


def _target(params: dict[str, str], ip: IpRange | None, contains: bool) -> None:
    if ip is not None:
        params["ip" if ip.start == ip.end else "range"] = ip.text
        params["contains"] = "true" if contains else "false"


def alert_params(q: AlertQuery, *, for_delete: bool = False) -> dict[str, str]:
    """GET/DELETE ``/v1/alerts`` query parameters for an :class:`AlertQuery` (``id`` excluded)."""
    p: dict[str, str] = {}
    for name, value in (("scope", q.scope), ("value", q.value), ("scenario", q.scenario)):
        if value:
            p[name] = value
    _target(p, q.ip, q.contains)
    if for_delete:
        if q.origin:
            p["origin"] = q.origin
        return p
    if q.since is not None or q.until is not None:
        raise AdminError("since/until filters are not supported in remote mode")
    if q.include_simulated:
        p["simulated"] = "true"
    if q.has_active_decision is not None:
        p["has_active_decision"] = "true" if q.has_active_decision else "false"
    if q.decision_type:
        p["decision_type"] = q.decision_type
    if q.origin:
        p["origin"] = q.origin
    if q.limit > 0:
        p["limit"] = str(q.limit)
    return p


def decision_params(q: DecisionQuery) -> dict[str, str]:
    """DELETE ``/v1/decisions`` query parameters for a :class:`DecisionQuery` (``id`` excluded)."""
    p: dict[str, str] = {}
    for name, value in (
        ("scope", q.scope),
        ("value", q.value),
        ("type", q.type),
        ("origin", q.origin),
        ("scenario", q.scenario),
    ):
        if value:
            p[name] = value
    _target(p, q.ip, q.contains)
    return p


def _deleted(doc: Any) -> int:
    try:
        return int(doc["nbDeleted"])
    except (TypeError, KeyError, ValueError):
        raise AdminError("unexpected answer to a deletion (no nbDeleted)") from None


class AdminClient:
    """``with AdminClient(creds) as api: api.search_alerts(AlertQuery(...))``."""

    def __init__(self, creds: Credentials, *, timeout: float = 30.0) -> None:
        self.creds = creds
        self.url = creds.url.rstrip("/")
        self.timeout = timeout
        self._runner: asyncio.Runner | None = None
        self._client: LapiClient | None = None

    def __enter__(self) -> AdminClient:
        self._runner = asyncio.Runner()
        self._client = LapiClient(self.creds, user_agent=USER_AGENT, timeout=self.timeout)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            if self._client is not None:
                self._runner.run(self._client.close())
            self._runner.close()
        self._runner = self._client = None

    # --- plumbing -----------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._runner is None:
            coro.close()
            raise RuntimeError("AdminClient used outside 'with'")
        try:
            return self._runner.run(coro)
        except LapiAuthFailed as exc:
            raise AdminError(
                f"{self.url}: login as {self.creds.login!r} refused ({exc.message}); "
                "check the credentials file and that the machine is validated"
            ) from None
        except LapiRejected as exc:
            raise AdminError(f"{self.url}: {exc.message} (HTTP {exc.status})") from None
        except LapiUnavailable as exc:
            raise AdminError(f"{exc}; is the LAPI (`crowdwatch lapi`) running at {self.url}?") from None
        except LapiError as exc:
            raise AdminError(str(exc)) from None

    def _request(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None) -> Any:
        assert self._client is not None
        return self._run(self._client.request(method, path, json=body, params=params))

    # --- the LapiService subset ---------------------------------------------------------

    def search_alerts(self, query: AlertQuery) -> list[dict[str, Any]]:
        if query.id is not None:
            return [self.get_alert(query.id)]
        found = self._request("GET", "/v1/alerts", alert_params(query))
        if found is None:  # CrowdSec answers "null" when nothing matches
            return []
        if not isinstance(found, list):
            raise AdminError("unexpected answer to GET /v1/alerts (not a list)")
        for alert in found:
            alert.setdefault("decisions", [])
            alert["decisions"] = alert["decisions"] or []
        return found

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        try:
            alert = self._request("GET", f"/v1/alerts/{alert_id}")
        except AdminError as exc:
            if "(HTTP 404)" in str(exc):
                raise AdminError(f"alert {alert_id} not found") from None
            raise
        if not isinstance(alert, dict):
            raise AdminError(f"unexpected answer to GET /v1/alerts/{alert_id}")
        alert["decisions"] = alert.get("decisions") or []
        return alert

    def create_alerts(self, machine_id: str, alerts: list[dict[str, Any]]) -> list[str]:
        """POST ``/v1/alerts`` (the LAPI records the logged-in machine, not ``machine_id``)."""
        ids = self._request("POST", "/v1/alerts", body=alerts)
        return [str(i) for i in ids or []]

    def delete_alerts(self, query: AlertQuery) -> int:
        if query.id is not None:
            try:
                return _deleted(self._request("DELETE", f"/v1/alerts/{query.id}"))
            except AdminError as exc:
                if "(HTTP 404)" in str(exc):
                    return 0
                raise
        return _deleted(self._request("DELETE", "/v1/alerts", alert_params(query, for_delete=True)))

    def delete_decisions(self, query: DecisionQuery) -> int:
        if query.id is not None:
            try:
                return _deleted(self._request("DELETE", f"/v1/decisions/{query.id}"))
            except AdminError as exc:
                if "(HTTP 404)" in str(exc):
                    return 0
                raise
        return _deleted(self._request("DELETE", "/v1/decisions", decision_params(query)))

    # --- lapi status --------------------------------------------------------------------

    def status(self) -> Status:
        """Log in, then read ``/health`` (absent on older CrowdSec: reported, not an error)."""
        assert self._client is not None
        client = self._client

        async def probe() -> Status:
            await client.login()
            health, server = await self._health()
            return Status(self.url, self.creds.login, health, server)

        return self._run(probe())

    async def _health(self) -> tuple[str, str]:
        ctx = ssl_context(self.creds)
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                    connector=aiohttp.TCPConnector(ssl=ctx if ctx is not None else True),
                ) as session,
                session.get(self.url + "/health", headers={"User-Agent": USER_AGENT}) as resp,
            ):
                body = await resp.read()
                server = resp.headers.get("Server", "")
                if resp.status != 200:
                    return f"no /health endpoint (HTTP {resp.status})", server
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LapiUnavailable(f"GET {self.url}/health: {exc.__class__.__name__}: {exc}") from None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body[:80].decode(errors="replace"), server
        return (str(doc.get("status", doc)) if isinstance(doc, dict) else str(doc)), server

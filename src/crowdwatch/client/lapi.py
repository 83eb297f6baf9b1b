"""An asynchronous client of the Local API as a watcher (agent): login, alerts, heartbeat.

Speaks the API of CrowdSec's LAPI (``localapi_swagger.yaml``), so it works against
crowdwatch's server and CrowdSec's alike. Failures come in two kinds the caller treats
differently:

- :class:`LapiUnavailable`: the request may not have been processed (connection refused or
  reset, timeout, 5xx, 429) — retry later, the same request;
- :class:`LapiRejected`: the LAPI processed and refused it (4xx) — retrying the same request
  is pointless. :class:`LapiAuthFailed` (a subclass) is a refused login: the credentials are
  wrong, not the request.

The JWT from ``POST /v1/watchers/login`` is kept with its expiry; the client logs in again
shortly before it runs out, and once when a request is answered 401. Neither the password
nor the token is ever logged or put in an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from crowdwatch import __version__
from crowdwatch.config.errors import ConfigError
from crowdwatch.yamlutil import YamlError, as_str, is_null, load_one

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"crowdwatch/v{__version__}"
REFRESH_MARGIN = 60.0
"""Seconds before the token's expiry at which the client logs in again."""


# --- credentials ------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """Watcher credentials, as in cscli's ``local_api_credentials.yaml``."""

    url: str
    login: str = ""
    password: str = field(default="", repr=False)
    ca_cert_path: str = ""
    cert_path: str = ""
    key_path: str = ""


_CRED_KEYS = ("url", "login", "password", "ca_cert_path", "cert_path", "key_path")


def load_credentials(path: Path | str) -> Credentials:
    """Read a ``local_api_credentials.yaml``. Raises :class:`ConfigError` naming the file."""
    file = str(path)
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read LAPI credentials: {exc.strerror or exc}", file) from None
    try:
        doc = load_one(text, file)
    except YamlError as exc:
        raise ConfigError(exc.message, exc.file or file, exc.line, exc.col) from None
    if is_null(doc):
        raise ConfigError("empty LAPI credentials file (expected url, login, password)", file)
    if not isinstance(doc, dict):
        raise ConfigError("expected a mapping with url, login, password", file)
    values: dict[str, str] = {}
    for key in _CRED_KEYS:
        v = doc.get(key)
        values[key] = "" if is_null(v) else as_str(v, key, file)
    unknown = sorted(str(k) for k in doc if k not in _CRED_KEYS)
    if unknown:
        log.warning("%s: ignoring unknown keys: %s", file, ", ".join(unknown))
    missing = [k for k in ("url",) if not values[k]]
    if not (values["cert_path"] and values["key_path"]):  # TLS client auth needs no password
        missing += [k for k in ("login", "password") if not values[k]]
    if missing:
        raise ConfigError(f"missing {', '.join(missing)} (LAPI credentials)", file)
    if not re.match(r"^https?://", values["url"]):
        raise ConfigError(f"url must start with http:// or https:// (got {values['url']!r})", file)
    if bool(values["cert_path"]) != bool(values["key_path"]):
        raise ConfigError("cert_path and key_path go together (TLS client authentication)", file)
    return Credentials(**values)


def ssl_context(creds: Credentials) -> ssl.SSLContext | None:
    """The TLS context for ``creds`` (``None``: aiohttp's default verification)."""
    if not (creds.ca_cert_path or creds.cert_path):
        return None
    try:
        ctx = ssl.create_default_context(cafile=creds.ca_cert_path or None)
        if creds.cert_path:
            ctx.load_cert_chain(creds.cert_path, creds.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"LAPI client TLS: {exc}", creds.cert_path or creds.ca_cert_path) from None
    return ctx


# --- errors -----------------------------------------------------------------------------


class LapiError(Exception):
    """A request to the LAPI failed."""


class LapiUnavailable(LapiError):
    """The LAPI could not be reached or did not process the request (retry it later)."""


class LapiRejected(LapiError):
    """The LAPI refused the request (4xx); ``status`` and the server's ``message``.
    ``invalid``: the refusal blames the request's content (a malformed alert), so sending
    it again cannot succeed."""

    def __init__(self, status: int, message: str, what: str = "", *, invalid: bool | None = None) -> None:
        self.status = status
        self.message = message
        self.invalid = status in INVALID_STATUSES if invalid is None else invalid
        super().__init__(f"{what}: HTTP {status}: {message}" if what else f"HTTP {status}: {message}")


INVALID_STATUSES = frozenset({400, 413, 422})


class LapiAuthFailed(LapiRejected):
    """The LAPI refused the watcher's credentials (wrong password, unknown or unvalidated machine)."""


# --- the client -------------------------------------------------------------------------


def _message(body: bytes) -> str:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode(errors="replace").strip() or "(empty response)"
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return " ".join(str(doc["message"]).split())[:1000]
    return " ".join(body[:200].decode(errors="replace").split())


def _parse_expire(text: str) -> datetime | None:
    """RFC 3339 expiry as CrowdSec prints it (fractions beyond microseconds dropped)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


class LapiClient:
    """``async with LapiClient(creds) as c: await c.push_alerts([...])``.

    One aiohttp session; requests may run concurrently (a login lock makes them share one
    login). Counters for metrics: ``logins``, ``relogins_on_401``.
    """

    def __init__(
        self,
        creds: Credentials,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        scenarios: list[str] | None = None,
        timeout: float = 30.0,
        ssl_ctx: ssl.SSLContext | None = None,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self.creds = creds
        self.base = creds.url.rstrip("/")
        self.user_agent = user_agent
        self.scenarios = list(scenarios or [])
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self._ssl = ssl_ctx if ssl_ctx is not None else ssl_context(creds)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_deadline: float | None = None  # monotonic time at which to log in again
        self._login_lock = asyncio.Lock()
        self.logins = 0
        self.relogins_on_401 = 0

    async def __aenter__(self) -> LapiClient:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent},
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, bytes, str | None]:
        """One HTTP exchange: (status, body, Date header). Transport failures and 5xx/429
        raise :class:`LapiUnavailable`."""
        if self._session is None:
            await self.open()
        assert self._session is not None
        what = f"{method} {self.base}{path}"
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = orjson.dumps(json) if json is not None else None
        try:
            async with self._session.request(
                method, self.base + path, data=data, params=params, headers=headers
            ) as resp:
                body = await resp.read()
                status, date = resp.status, resp.headers.get("Date")
        except TimeoutError:
            raise LapiUnavailable(f"{what}: no answer within {self.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise LapiUnavailable(f"{what}: cannot connect: {exc.os_error.strerror or exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise LapiUnavailable(f"{what}: {exc.__class__.__name__}: {exc}") from None
        if status == 500 and _message(body).startswith("validation failure"):
            # CrowdSec 1.4.6 answers 500 to a payload that fails its schema validation
            raise LapiRejected(status, _message(body), f"{method} {path}", invalid=True)
        if status >= 500 or status == 429:
            raise LapiUnavailable(f"{what}: HTTP {status}: {_message(body)}")
        return status, body, date

    def _token_valid(self) -> bool:
        if self._token is None:
            return False
        return self._token_deadline is None or time.monotonic() < self._token_deadline

    async def login(self) -> None:
        """``POST /v1/watchers/login``; keeps the token and when to renew it."""
        doc: dict[str, Any] = {
            "machine_id": self.creds.login,
            "password": self.creds.password,
            "scenarios": self.scenarios,
        }
        status, body, date = await self._send("POST", "/v1/watchers/login", json=doc)
        if status in (401, 403):
            raise LapiAuthFailed(
                status,
                _message(body),
                f"login as {self.creds.login!r} refused by {self.base}",
            )
        if status != 200:
            raise LapiRejected(status, _message(body), f"login as {self.creds.login!r} at {self.base}")
        try:
            reply = orjson.loads(body)
            token = str(reply["token"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise LapiUnavailable(f"login at {self.base}: unexpected answer (no token)") from None
        self._token = token
        self._token_deadline = self._renew_at(str(reply.get("expire", "")), date)
        self.logins += 1
        log.debug("logged in to %s as %s", self.base, self.creds.login)

    def _renew_at(self, expire: str, date: str | None) -> float | None:
        """Monotonic time to log in again: the token's lifetime is measured against the
        server's own clock (``Date``), so a skewed local clock does not matter. ``None``
        (rely on 401) when the lifetime cannot be told or is implausibly short."""
        exp = _parse_expire(expire)
        if exp is None:
            return None
        try:
            now = parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            now = None
        if now is None or now.tzinfo is None:
            return None
        lifetime = (exp - now).total_seconds()
        if lifetime <= 2 * self.refresh_margin:
            return None
        return time.monotonic() + lifetime - self.refresh_margin

    async def _ensure_token(self, stale: str | None = None) -> str:
        async with self._login_lock:
            if self._token is None or self._token == stale or not self._token_valid():
                await self.login()
            assert self._token is not None
            return self._token

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """An authenticated request: (status, body) of a 2xx answer. Logs in when needed and
        once more when answered 401; other 4xx raise :class:`LapiRejected`."""
        token = await self._ensure_token()
        status, body, _ = await self._send(method, path, json=json, params=params, token=token)
        if status == 401:
            self.relogins_on_401 += 1
            token = await self._ensure_token(stale=token)
            status, body, _ = await self._send(method, path, json=json, params=params, token=token)
            if status == 401:
                raise LapiAuthFailed(status, _message(body), f"{method} {path} (after a new login)")
        if status >= 400:
            raise LapiRejected(status, _message(body), f"{method} {path}")
        return status, body

    async def request(
        self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        """An authenticated request; the decoded JSON answer (``None`` when empty)."""
        _, body = await self.call(method, path, json=json, params=params)
        if not body.strip():
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise LapiUnavailable(f"{method} {path}: the answer is not JSON") from None

    # --- API ----------------------------------------------------------------------------

    async def push_alerts(self, alerts: list[dict[str, Any]]) -> list[str]:
        """``POST /v1/alerts``: the ids the LAPI gave the alerts, in order."""
        status, body = await self.call("POST", "/v1/alerts", json=alerts)
        if status != 201:
            raise LapiUnavailable(f"POST /v1/alerts: HTTP {status} (expected 201)")
        try:
            ids = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise LapiUnavailable("POST /v1/alerts: the answer is not JSON") from None
        if not isinstance(ids, list):
            raise LapiUnavailable("POST /v1/alerts: the answer is not a list of ids")
        return [str(i) for i in ids]

    async def heartbeat(self) -> None:
        """``GET /v1/heartbeat``."""
        await self.call("GET", "/v1/heartbeat")

    async def register(self, machine_id: str | None = None, password: str | None = None) -> None:
        """``POST /v1/watchers``: ask the LAPI to register this machine (validated by an
        admin afterwards, unless the LAPI auto-registers)."""
        doc = {
            "machine_id": machine_id or self.creds.login,
            "password": password if password is not None else self.creds.password,
        }
        status, body, _ = await self._send("POST", "/v1/watchers", json=doc)
        if status >= 400:
            raise LapiRejected(status, _message(body), f"register {doc['machine_id']!r} at {self.base}")

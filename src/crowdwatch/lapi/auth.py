"""Credentials: machine passwords (scrypt), bouncer API keys (SHA-256 at rest), JWTs (HS256).

API keys are long random strings, so a fast unsalted digest is enough to keep them unusable
from a database dump while allowing a lookup by hash; passwords may be weak and get scrypt.

scrypt parameters: N=2^12, r=8, p=5, i.e. 4 MiB per check and the work of N=2^14, r=8, p=1
(≈30 ms here; the product N·r·p sets the work, N·r the memory). A check at 16 MiB was the
server's peak RSS; CrowdSec's bcrypt uses 4 KiB. Hashes keep their parameters, so those made
with other ones still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from crowdwatch.config.errors import ConfigError

_SCRYPT_N = 2**12
_SCRYPT_R = 8
_SCRYPT_P = 5

TOKEN_TTL = timedelta(hours=1)
"""JWT lifetime (CrowdSec's too); agents log in again before it runs out."""
MAX_REFRESH = timedelta(hours=1)
"""How long after the original login a token may still be refreshed."""
_VERIFIED_MAX = 10_000  # verified tokens remembered (cleared when full)
SECRET_ENV = "CS_LAPI_SECRET"
"""Environment variable holding the JWT signing secret (CrowdSec's name): LAPIs given the same
value accept each other's tokens, even on different databases."""
MIN_SECRET = 64


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A random key as ``cscli bouncers add`` prints one (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def secret_from_env(environ: Mapping[str, str] = os.environ) -> str | None:
    """The JWT secret of :data:`SECRET_ENV`, or None when unset (each database then keeps a
    random one, shared by the LAPI processes on it); :class:`ConfigError` when too short."""
    value = environ.get(SECRET_ENV, "")
    if not value:
        return None
    if len(value) < MIN_SECRET:
        raise ConfigError(f"{SECRET_ENV} is too weak: at least {MIN_SECRET} characters, got {len(value)}")
    return value


class TokenError(Exception):
    """A JWT that is malformed, forged or expired (message safe to return to the client)."""


@dataclass(frozen=True)
class Token:
    token: str
    expire: datetime


@dataclass(frozen=True)
class Claims:
    machine_id: str
    expire: datetime
    orig_iat: datetime


class JwtSigner:
    """Issues and checks the machines' tokens with one shared HS256 secret."""

    def __init__(self, secret: str, ttl: timedelta = TOKEN_TTL) -> None:
        self._key = secret.encode()
        self.ttl = ttl
        # token -> its claims, once the signature checked out: an agent sends the same token
        # with every push, and the HMAC and JSON decoding of PyJWT cost more than the push
        self._verified: dict[str, Claims] = {}

    def issue(self, machine_id: str, now: datetime, orig_iat: datetime | None = None) -> Token:
        expire = now + self.ttl
        payload = {
            "id": machine_id,
            "exp": int(expire.timestamp()),
            "orig_iat": int((orig_iat or now).timestamp()),
        }
        return Token(jwt.encode(payload, self._key, algorithm="HS256"), expire.replace(microsecond=0))

    def verify(self, token: str, *, allow_expired: bool = False) -> Claims:
        """Claims of a token signed with our secret; ``allow_expired`` for refreshing."""
        known = self._verified.get(token)
        if known is not None and (allow_expired or known.expire.timestamp() > time.time()):
            return known
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["exp", "id", "orig_iat"], "verify_exp": not allow_expired},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token is expired") from None
        except jwt.PyJWTError:
            raise TokenError("invalid token") from None
        machine_id = payload.get("id")
        if not isinstance(machine_id, str) or not machine_id:
            raise TokenError("invalid token")
        try:
            expire = datetime.fromtimestamp(int(payload["exp"]), UTC)
            orig = datetime.fromtimestamp(int(payload["orig_iat"]), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise TokenError("invalid token") from None
        claims = Claims(machine_id, expire, orig)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return claims

"""Machine auto-registration: ``POST /v1/watchers`` with a ``registration_token``.

A machine that registers with the token of ``api.server.auto_registration`` from an address
inside its ``allowed_ranges`` is validated at once (answer 202) instead of waiting for
``machines validate`` (201). A wrong token or an address outside the ranges is refused (401)
and nothing is created. With auto-registration disabled, a token is ignored (plain
registration), as CrowdSec does. The token is never logged.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from crowdwatch.config.schema import AutoRegistrationSection
from crowdwatch.lapi.errors import BadRequest, Unauthorized
from crowdwatch.lapi.iprange import IpRange, parse_ip, parse_range

log = logging.getLogger(__name__)

MIN_TOKEN = 32
MAX_TOKEN = 255  # the v1 spec's bounds of registration_token


@dataclass(frozen=True)
class AutoRegistration:
    token: bytes
    allowed_ranges: tuple[IpRange, ...]

    def __repr__(self) -> str:  # never show the token
        return f"AutoRegistration(allowed_ranges={len(self.allowed_ranges)})"

    @classmethod
    def from_config(cls, section: AutoRegistrationSection) -> AutoRegistration | None:
        """None when disabled; ``ValueError`` naming the key for a bad value."""
        if not section.enabled:
            return None
        key = "api.server.auto_registration"
        if len(section.token) < MIN_TOKEN:
            raise ValueError(f"{key}.token: at least {MIN_TOKEN} characters when enabled")
        if len(section.token) > MAX_TOKEN:
            raise ValueError(f"{key}.token: at most {MAX_TOKEN} characters")
        ranges = []
        for value in section.allowed_ranges:
            r = parse_range(value)
            if r is None:
                raise ValueError(f"{key}.allowed_ranges: {value!r} is not an IP address or CIDR range")
            ranges.append(r)
        if not ranges:
            log.warning("%s is enabled without allowed_ranges: no machine can use it", key)
        return cls(section.token.encode(), tuple(ranges))


def auto_validate(config: AutoRegistration | None, token: str, ip: str, machine_id: str) -> bool:
    """Whether a registration carrying ``token`` from ``ip`` is validated at once; raises
    :class:`BadRequest` (malformed token) or :class:`Unauthorized` (refused)."""
    if not token:
        return False
    if not MIN_TOKEN <= len(token) <= MAX_TOKEN:
        raise BadRequest(f"registration_token: {MIN_TOKEN} to {MAX_TOKEN} characters")
    if config is None:
        return False
    if not hmac.compare_digest(token.encode(), config.token):
        log.warning("auto-registration of %r from %s refused: invalid token", machine_id, ip)
        raise Unauthorized("invalid registration token")
    addr = parse_ip(ip)
    if addr is None or not any(r.contains(addr) for r in config.allowed_ranges):
        log.warning("auto-registration of %r from %s refused: address not in allowed_ranges", machine_id, ip)
        raise Unauthorized("IP not in allowed range")
    log.info("auto-registration of %r from %s accepted (validated)", machine_id, ip)
    return True

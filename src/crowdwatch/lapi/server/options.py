"""Network-facing options of the server: who is trusted, which proxy headers count, TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdwatch.config.schema import ApiServerSection, TlsSection
from crowdwatch.lapi.iprange import IpRange, parse_ip, parse_range
from crowdwatch.lapi.registration import AutoRegistration

_LOOPBACK = (parse_range("127.0.0.0/8"), parse_ip("::1"))


class OptionsError(Exception):
    """A bad ``api.server`` value (message names the key)."""


def _ranges(values: tuple[str, ...], key: str) -> tuple[IpRange, ...]:
    out = []
    for v in values:
        r = parse_range(v)
        if r is None:
            raise OptionsError(f"api.server.{key}: {v!r} is not an IP address or CIDR range")
        out.append(r)
    return tuple(out)


@dataclass(frozen=True)
class ServerOptions:
    trusted_ips: tuple[IpRange, ...] = ()
    trusted_proxies: tuple[IpRange, ...] = ()
    use_forwarded_for_headers: bool = False
    agents_allowed_ou: frozenset[str] = field(default_factory=lambda: frozenset({"agent-ou"}))
    bouncers_allowed_ou: frozenset[str] = field(default_factory=lambda: frozenset({"bouncer-ou"}))
    auto_registration: AutoRegistration | None = None

    @classmethod
    def from_config(cls, section: ApiServerSection) -> ServerOptions:
        try:
            auto_registration = AutoRegistration.from_config(section.auto_registration)
        except ValueError as exc:
            raise OptionsError(str(exc)) from None
        return cls(
            auto_registration=auto_registration,
            trusted_ips=_ranges(section.trusted_ips, "trusted_ips"),
            trusted_proxies=_ranges(section.trusted_proxies, "trusted_proxies"),
            use_forwarded_for_headers=section.use_forwarded_for_headers,
            agents_allowed_ou=frozenset(section.tls.agents_allowed_ou),
            bouncers_allowed_ou=frozenset(section.tls.bouncers_allowed_ou),
        )

    def client_ip(self, peer: str, forwarded_for: str | None) -> str:
        """The caller's address: the peer, or the last untrusted hop of ``X-Forwarded-For``
        when the peer is a trusted proxy and ``use_forwarded_for_headers`` is on."""
        if not (self.use_forwarded_for_headers and forwarded_for and self._in(peer, self.trusted_proxies)):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if parse_ip(hop) is None:
                return peer  # malformed header: do not guess
            if not self._in(hop, self.trusted_proxies):
                return hop
        return hops[0] if hops else peer

    def is_trusted(self, ip: str) -> bool:
        """Admin operations (bulk alert deletion) are allowed from loopback and ``trusted_ips``."""
        return self._in(ip, (*(r for r in _LOOPBACK if r is not None), *self.trusted_ips))

    @staticmethod
    def _in(ip: str, ranges: tuple[IpRange, ...]) -> bool:
        addr = parse_ip(ip)
        return addr is not None and any(r.contains(addr) for r in ranges)


def _path(value: str, base: Path) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def ssl_context(tls: TlsSection, base: Path) -> ssl.SSLContext | None:
    """The server's TLS context (``None`` without ``cert_file``): client certificates are
    verified against ``ca_cert_path`` and, with ``crl_path``, checked for revocation."""
    if not tls.cert_file:
        return None
    try:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(_path(tls.cert_file, base), _path(tls.key_file, base) if tls.key_file else None)
        mode = _VERIFY[tls.client_verification]
        if mode != ssl.CERT_NONE:
            if tls.ca_cert_path:
                ctx.load_verify_locations(cafile=_path(tls.ca_cert_path, base))
            else:
                ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
            if tls.crl_path:
                ctx.load_verify_locations(cafile=_path(tls.crl_path, base))
                ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        ctx.verify_mode = mode
    except (OSError, ssl.SSLError) as exc:
        raise OptionsError(f"api.server.tls: {exc}") from None
    return ctx


def cert_identity(peercert: Any) -> tuple[str, frozenset[str]] | None:
    """(common name, organisational units) of a verified peer certificate."""
    if not isinstance(peercert, dict):
        return None
    cn = ""
    ous: set[str] = set()
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationalUnitName":
                ous.add(value)
    return (cn, frozenset(ous)) if cn else None

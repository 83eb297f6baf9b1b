"""HTTPS, mutual TLS with allowed OUs and a CRL; trusted IPs and forwarded-for headers."""

from __future__ import annotations

import ssl
import subprocess
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdwatch.config.schema import ApiServerSection, TlsSection
from crowdwatch.lapi.server.options import ServerOptions, ssl_context
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database

from .helpers import BOUNCER_KEY, LiveServer, make_alert

CA_CNF = """\
[ ca ]
default_ca = ca_default
[ ca_default ]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 2
certificate = ca.crt
private_key = ca.key
"""


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(d: Path, name: str, subject: str, san: str | None = None) -> None:
    _openssl(
        d,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
    )
    args = ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"]
    args += ["-out", f"{name}.crt", "-days", "2"]
    if san:
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        args += ["-extfile", f"{name}.ext"]
    _openssl(d, *args)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        d,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
    )
    _issue(d, "server", "/CN=127.0.0.1", "IP:127.0.0.1")
    _issue(d, "agent", "/OU=agent-ou/CN=agent1")
    _issue(d, "bouncer", "/OU=bouncer-ou/CN=fw1")
    _issue(d, "other", "/OU=nobody/CN=x")
    _issue(d, "revoked", "/OU=bouncer-ou/CN=old")
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    _openssl(d, "ca", "-config", "ca.cnf", "-revoke", "revoked.crt")
    _openssl(d, "ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem")
    return d


def _client(pki: Path, name: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if name:
        ctx.load_cert_chain(str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
    return ctx


@pytest.fixture
def tls_server(pki: Path, service: LapiService) -> Iterator[tuple[Path, LiveServer]]:
    tls = TlsSection(cert_file="server.crt", key_file="server.key", ca_cert_path="ca.crt", crl_path="crl.pem")
    service.register_machine("agent", "agent-password", "", True)
    service.add_bouncer("fw", BOUNCER_KEY)
    server = LiveServer(service, ServerOptions.from_config(ApiServerSection(tls=tls)), ssl_context(tls, pki))
    yield pki, server
    server.stop()


@pytest.mark.parametrize("db_config", ["sqlite"], indirect=True)
def test_mutual_tls(tls_server: tuple[Path, LiveServer]) -> None:
    pki, server = tls_server
    server.client_tls = _client(pki, "bouncer")
    r = server.call("GET", "/v1/decisions/stream?startup=true")
    assert r.status == 200 and r.json == {"new": [], "deleted": []}
    assert [b["name"] for b in server.service.list_bouncers()] == ["fw", "fw1@127.0.0.1"]
    server.client_tls = _client(pki, "agent")
    r = server.call("POST", "/v1/watchers/login", {})
    assert r.status == 200, r.body
    token = r.json["token"]
    assert server.call("POST", "/v1/alerts", [make_alert()], token=token).status == 201
    (alert,) = server.call("GET", "/v1/alerts", token=token).json
    assert alert["machine_id"] == "agent1@127.0.0.1"
    server.client_tls = _client(pki, "other")
    assert server.call("GET", "/v1/decisions/stream").status == 403
    assert server.call("POST", "/v1/watchers/login", {}).status == 403
    server.client_tls = _client(pki, None)  # no certificate: keys and passwords still work
    assert server.call("GET", "/v1/decisions?ip=1.2.3.4", key=BOUNCER_KEY).status == 200
    assert server.login() != ""
    server.client_tls = _client(pki, "revoked")
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        server.call("GET", "/v1/decisions/stream")


def test_trusted_ips_and_forwarded_for() -> None:
    opts = ServerOptions.from_config(
        ApiServerSection(
            trusted_ips=("10.0.0.0/8",), trusted_proxies=("192.168.0.1",), use_forwarded_for_headers=True
        )
    )
    assert opts.is_trusted("127.0.0.1") and opts.is_trusted("::1") and opts.is_trusted("10.1.2.3")
    assert not opts.is_trusted("8.8.8.8") and not opts.is_trusted("garbage")
    assert opts.client_ip("192.168.0.1", "203.0.113.9, 192.168.0.1") == "203.0.113.9"
    assert opts.client_ip("198.51.100.1", "10.0.0.1") == "198.51.100.1"  # untrusted peer: header ignored
    assert opts.client_ip("192.168.0.1", "not-an-ip") == "192.168.0.1"
    plain = ServerOptions.from_config(ApiServerSection(trusted_proxies=("192.168.0.1",)))
    assert plain.client_ip("192.168.0.1", "203.0.113.9") == "192.168.0.1"  # headers off


@pytest.mark.parametrize("db_config", ["sqlite"], indirect=True)
def test_bulk_alert_deletion_needs_a_trusted_ip(db: Database, service: LapiService) -> None:
    service.register_machine("agent", "agent-password", "", True)
    opts = ServerOptions.from_config(
        ApiServerSection(
            trusted_proxies=("127.0.0.1",), use_forwarded_for_headers=True, trusted_ips=("10.0.0.0/8",)
        )
    )
    server = LiveServer(service, opts)
    try:
        token = server.login()
        fwd = {"X-Forwarded-For": "203.0.113.9"}
        r = server.call("DELETE", "/v1/alerts", token=token, headers=fwd)
        assert r.status == 403 and r.json == {"message": "access forbidden from this IP (203.0.113.9)"}
        assert server.call("DELETE", "/v1/alerts/1", token=token, headers=fwd).status == 403
        r = server.call("DELETE", "/v1/alerts", token=token, headers={"X-Forwarded-For": "10.9.9.9"})
        assert r.status == 200 and r.json == {"nbDeleted": "0"}
    finally:
        server.stop()

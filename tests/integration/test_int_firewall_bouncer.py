"""(d) crowdsec-firewall-bouncer (Debian package, nftables mode, unchanged) inside a network
namespace this test creates, fed by crowdwatch's LAPI running in the same namespace: a banned
IP lands in its nftables set (and is really dropped), and leaves it when the decision is deleted."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .int_support import Lapi, require_binary, running_lapi, stop_process, wait_for

_COUNTER = itertools.count()

# A TCP connect from a chosen loopback source address; exit 0 when it connects, 1 when it times out.
_CONNECT = """\
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
s.bind((sys.argv[1], 0))
try:
    s.connect(("127.0.0.1", int(sys.argv[2])))
except OSError:
    sys.exit(1)
sys.exit(0)
"""


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with ``lo`` up; its processes are killed and it is deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    if shutil.which("ip") is None:
        pytest.skip("`ip` (iproute2) is not installed")
    if shutil.which("nft") is None:
        pytest.skip("`nft` not found: the Debian package nftables could not be installed (see .ci/run)")
    name = f"cwtest{os.getpid()}x{next(_COUNTER)}"
    made = _run("ip", "netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"`ip netns add` is not available here: {made.stderr.strip()}")
    try:
        up = _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        assert up.returncode == 0, up.stderr
        yield name
    finally:
        # only processes started by this test live in this namespace
        for pid in _run("ip", "netns", "pids", name).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", name)


def _nft_set(ns: str, family: str, table: str, name: str) -> list[str]:
    """The elements of an nftables set in ``ns`` (empty when the set does not exist yet)."""
    r = _run("ip", "netns", "exec", ns, "nft", "-j", "list", "set", family, table, name)
    if r.returncode != 0:
        return []
    out: list[str] = []
    for item in json.loads(r.stdout)["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            out.append(elem["elem"]["val"] if isinstance(elem, dict) else elem)
    return out


def _connects(ns: str, source: str, port: int, timeout: float = 1.0) -> bool:
    r = _run("ip", "netns", "exec", ns, sys.executable, "-c", _CONNECT, source, str(port), str(timeout))
    return r.returncode == 0


def test_firewall_bouncer_bans_and_unbans_in_nftables(netns: str, tmp_path: Path) -> None:
    binary = require_binary("crowdsec-firewall-bouncer", "crowdsec-firewall-bouncer")
    with running_lapi(tmp_path / "cw", prefix=("ip", "netns", "exec", netns)) as lapi:
        port = int(lapi.url.rsplit(":", 1)[1])
        cfg = tmp_path / "firewall-bouncer.yaml"
        cfg.write_text(
            json.dumps(
                {
                    "mode": "nftables",
                    "pid_dir": str(tmp_path),
                    "update_frequency": "1s",
                    "daemonize": False,
                    "log_mode": "stdout",
                    "log_level": "info",
                    "api_url": lapi.url + "/",
                    "api_key": lapi.key,
                    "disable_ipv6": False,
                    "deny_action": "DROP",
                    "deny_log": False,
                    "supported_decisions_types": ["ban"],
                    "blacklists_ipv4": "crowdsec-blacklists",
                    "blacklists_ipv6": "crowdsec6-blacklists",
                    "nftables": {
                        "ipv4": {
                            "enabled": True,
                            "set-only": False,
                            "table": "crowdsec",
                            "chain": "crowdsec-chain",
                        },
                        "ipv6": {
                            "enabled": True,
                            "set-only": False,
                            "table": "crowdsec6",
                            "chain": "crowdsec6-chain",
                        },
                    },
                    "prometheus": {"enabled": False},
                }
            )
        )
        lapi.ban("198.51.100.9", "1h")
        out = tmp_path / "bouncer.log"
        with out.open("w") as sink:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", netns, binary, "-c", str(cfg)], stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            _check_bouncer(netns, lapi, port, proc, out)
        finally:
            stop_process(proc)


def _check_bouncer(ns: str, lapi: Lapi, port: int, proc: subprocess.Popen[bytes], out: Path) -> None:
    def v4() -> list[str]:
        if proc.poll() is not None:
            raise AssertionError(f"bouncer exited {proc.returncode}:\n{out.read_text()[-2000:]}")
        return _nft_set(ns, "ip", "crowdsec", "crowdsec-blacklists")

    def v6() -> list[str]:
        return _nft_set(ns, "ip6", "crowdsec6", "crowdsec6-blacklists")

    wait_for(lambda: "198.51.100.9" in v4(), "198.51.100.9 in the nftables set (startup stream)", log=out)
    # a ban added while the bouncer runs, for a loopback source we can test from inside the namespace
    assert _connects(ns, "127.0.0.2", port), "127.0.0.2 cannot reach the LAPI before any ban"
    lapi.ban("127.0.0.2", "1h")
    lapi.ban("2001:db8::9", "1h")
    wait_for(lambda: "127.0.0.2" in v4(), "127.0.0.2 in the nftables set (delta stream)", log=out)
    wait_for(lambda: "2001:db8::9" in v6(), "2001:db8::9 in the nftables ip6 set (delta stream)", log=out)
    assert not _connects(ns, "127.0.0.2", port), "a banned source still connects: the rule is not enforced"
    assert _connects(ns, "127.0.0.1", port)

    lapi.unban("127.0.0.2")
    wait_for(lambda: "127.0.0.2" not in v4(), "127.0.0.2 to leave the set", log=out)
    assert v4() == ["198.51.100.9"] and v6() == ["2001:db8::9"]
    assert _connects(ns, "127.0.0.2", port), "127.0.0.2 is still dropped after its decision was deleted"
    lapi.cw("decisions", "delete", "--all")
    wait_for(lambda: not v4() and not v6(), "the remaining bans to leave both sets", log=out)

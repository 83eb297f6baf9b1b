#!/usr/bin/env python3
"""Deterministic synthetic logs: an nginx access log and an sshd auth.log (syslog format).

nginx: legitimate browsing, search-engine crawlers, vulnerability scanners (bursts of 404s on
well-known paths) and login brute force (bursts of POSTs answered 401/200). auth.log: SSH
brute force from many addresses (failed passwords, invalid users, preauth disconnects), a few
accepted logins and unrelated system lines (cron, systemd) that sshd parsers must skip.

The same seed and line count always give byte-identical files. Used for the parse benchmark
(``bench/bench_parse.py``, 200k lines per file by default) and, with small counts, for the
sample logs bundled in ``src/crowdwatch/content/samples/``::

    python3 bench/gen_logs.py --lines 300 --out src/crowdwatch/content/samples
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 3, 10, 8, 0, 0, tzinfo=UTC)

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
)
CRAWLERS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
SCANNER_AGENTS = (
    "Mozilla/5.0 zgrab/0.x",
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "python-requests/2.31.0",
)
PAGES = ("/", "/index.html", "/about", "/blog/", "/blog/2024/03/hello-world", "/contact", "/products?page=2")
ASSETS = ("/static/app.css", "/static/app.js", "/static/logo.png", "/favicon.ico", "/img/banner.jpg")
PROBES = (
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/admin.php",
    "/config.php.bak",
    "/server-status",
    "/cgi-bin/luci",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.aws/credentials",
    "/backup.sql",
    "/index.php?s=/Index/\\think\\app/invokefunction",
    "/actuator/env",
    "/boaform/admin/formLogin",
    "/solr/admin/info/system",
    "/owa/auth/logon.aspx",
    "/HNAP1/",
)
SSH_USERS = (
    "root",
    "admin",
    "ubuntu",
    "test",
    "oracle",
    "postgres",
    "git",
    "user",
    "pi",
    "ftpuser",
    "guest",
    "deploy",
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Event = tuple[float, str]


def _ip(rng: random.Random, private: bool = False) -> str:
    if private:
        return f"10.0.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}"
    first = rng.choice((5, 23, 31, 45, 62, 77, 89, 103, 141, 156, 178, 185, 193, 203, 212))
    return f"{first}.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def _http_time(t: float) -> str:
    return (START + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _access(t: float, ip: str, verb: str, path: str, status: int, size: int, ref: str, ua: str) -> Event:
    return (t, f'{ip} - - [{_http_time(t)}] "{verb} {path} HTTP/1.1" {status} {size} "{ref}" "{ua}"')


def _nginx_visitor(rng: random.Random, t: float) -> list[Event]:
    ip, ua = _ip(rng), rng.choice(BROWSERS)
    out: list[Event] = []
    for _ in range(rng.randrange(1, 6)):
        page = rng.choice(PAGES)
        out.append(_access(t, ip, "GET", page, 200, rng.randrange(2000, 40000), "-", ua))
        for asset in rng.sample(ASSETS, rng.randrange(0, 3)):
            status = rng.choice((200, 200, 304))
            out.append(
                _access(
                    t + 0.1,
                    ip,
                    "GET",
                    asset,
                    status,
                    0 if status == 304 else 5123,
                    "https://example.org" + page,
                    ua,
                )
            )
        t += rng.uniform(3, 40)
    return out


def _nginx_crawler(rng: random.Random, t: float) -> list[Event]:
    ip, ua = f"66.249.{rng.randrange(64, 80)}.{rng.randrange(1, 255)}", rng.choice(CRAWLERS)
    out = [_access(t, ip, "GET", "/robots.txt", 200, 68, "-", ua)]
    for _ in range(rng.randrange(3, 12)):
        t += rng.uniform(1, 8)
        out.append(
            _access(
                t,
                ip,
                "GET",
                rng.choice((*PAGES, "/sitemap.xml", "/old-page")),
                rng.choice((200, 200, 404)),
                9000,
                "-",
                ua,
            )
        )
    return out


def _nginx_scanner(rng: random.Random, t: float) -> list[Event]:
    ip, ua = _ip(rng), rng.choice(SCANNER_AGENTS)
    out: list[Event] = []
    for path in rng.sample(PROBES, rng.randrange(8, len(PROBES))):
        t += rng.uniform(0.05, 0.6)
        out.append(
            _access(
                t,
                ip,
                rng.choice(("GET", "GET", "POST", "HEAD")),
                path,
                rng.choice((404, 404, 404, 403, 400)),
                153,
                "-",
                ua,
            )
        )
    return out


def _nginx_bruteforce(rng: random.Random, t: float) -> list[Event]:
    ip = _ip(rng)
    out: list[Event] = []
    path = rng.choice(("/wp-login.php", "/login", "/user/login"))
    for i in range(rng.randrange(10, 40)):
        t += rng.uniform(0.2, 1.5)
        status = 200 if path == "/wp-login.php" else 401
        out.append(
            _access(t, ip, "POST", path, status, 4100 + i % 7, "https://example.org" + path, BROWSERS[0])
        )
    return out


def _syslog(t: float, prog: str, pid: int, msg: str) -> Event:
    d = START + timedelta(seconds=t)
    return (t, f"{MONTHS[d.month - 1]} {d.day:>2} {d:%H:%M:%S} web1 {prog}[{pid}]: {msg}")


def _ssh_bruteforce(rng: random.Random, t: float) -> list[Event]:
    ip = _ip(rng)
    out: list[Event] = []
    for _ in range(rng.randrange(3, 25)):
        t += rng.uniform(0.5, 4)
        pid, port, user = rng.randrange(2000, 60000), rng.randrange(30000, 65000), rng.choice(SSH_USERS)
        if user in ("root", "git", "deploy"):
            out.append(_syslog(t, "sshd", pid, f"Failed password for {user} from {ip} port {port} ssh2"))
            out.append(
                _syslog(
                    t + 0.2,
                    "sshd",
                    pid,
                    f"Connection closed by authenticating user {user} {ip} port {port} [preauth]",
                )
            )
        else:
            out.append(_syslog(t, "sshd", pid, f"Invalid user {user} from {ip} port {port}"))
            out.append(
                _syslog(
                    t + 0.1,
                    "sshd",
                    pid,
                    f"Failed password for invalid user {user} from {ip} port {port} ssh2",
                )
            )
            out.append(
                _syslog(
                    t + 0.3, "sshd", pid, f"Disconnected from invalid user {user} {ip} port {port} [preauth]"
                )
            )
    return out


def _ssh_legit(rng: random.Random, t: float) -> list[Event]:
    ip, pid, port = _ip(rng, private=True), rng.randrange(2000, 60000), rng.randrange(30000, 65000)
    return [
        _syslog(
            t,
            "sshd",
            pid,
            f"Accepted publickey for deploy from {ip} port {port} ssh2: ED25519 SHA256:q1w2e3r4t5y6",
        ),
        _syslog(
            t + 0.1,
            "sshd",
            pid,
            "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)",
        ),
        _syslog(
            t + rng.uniform(30, 600), "sshd", pid, "pam_unix(sshd:session): session closed for user deploy"
        ),
    ]


def _system_noise(rng: random.Random, t: float) -> list[Event]:
    pid = rng.randrange(2000, 60000)
    if rng.random() < 0.5:
        return [
            _syslog(t, "CRON", pid, "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
            _syslog(t + 1, "CRON", pid, "pam_unix(cron:session): session closed for user root"),
        ]
    return [_syslog(t, "systemd-logind", 512, f"New session {pid} of user deploy.")]


Actor = tuple[Callable[[random.Random, float], list[Event]], float]
NGINX_ACTORS: tuple[Actor, ...] = (
    (_nginx_visitor, 0.70),
    (_nginx_crawler, 0.12),
    (_nginx_scanner, 0.10),
    (_nginx_bruteforce, 0.08),
)
SSH_ACTORS: tuple[Actor, ...] = ((_ssh_bruteforce, 0.6), (_ssh_legit, 0.15), (_system_noise, 0.25))


def generate(actors: tuple[Actor, ...], lines: int, seed: int) -> list[str]:
    """``lines`` log lines from actor sessions started at random times, in time order."""
    rng = random.Random(seed)
    span = max(lines * 0.4, 60.0)  # seconds covered by the log
    funcs = [a for a, _ in actors]
    weights = [w for _, w in actors]
    events: list[Event] = []
    while len(events) < lines:
        actor = rng.choices(funcs, weights)[0]
        events.extend(actor(rng, rng.uniform(0, span)))
    events.sort(key=lambda e: e[0])
    return [line for _, line in events[:lines]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000, help="lines per file (default 200000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--out", type=Path, default=Path("bench/out"), help="output directory (default bench/out)"
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, actors, seed in (
        ("nginx-access.log", NGINX_ACTORS, args.seed),
        ("auth.log", SSH_ACTORS, args.seed + 1),
    ):
        path = args.out / name
        path.write_text("\n".join(generate(actors, args.lines, seed)) + "\n", encoding="utf-8")
        print(f"{path}: {args.lines} lines")


if __name__ == "__main__":
    main()

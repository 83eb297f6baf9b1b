"""Evaluations per second of typical hub expressions through ``Program.fn`` (one core).

Plain script: ``python bench/bench_expr.py [HUB_DIR]``. Not a test; prints one line per
expression. The hub scenario filters (data files loaded from ``HUB_DIR/data``, default
``../shared/hub``; skipped if it is missing) are measured twice: compiled as today
("fast") and with the predicate fast paths disabled ("generic").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crowdwatch.event import Event, Line
from crowdwatch.expr import EVT, compile_expr
from crowdwatch.expr.compiler import generate
from crowdwatch.expr.helpers import datafiles
from crowdwatch.expr.parser import parse

EXPRESSIONS = [
    "evt.Meta.log_type in ['http_access-log','http_error-log'] && evt.Parsed.static_ressource == 'false'"
    " && evt.Meta.http_status in ['404','403','502']",
    "evt.Meta.service == 'ssh' && evt.Meta.log_type == 'ssh_failed-auth'",
    "evt.Line.Labels.type == 'nginx'",
    "evt.Meta.source_ip",
    "evt.Parsed.request contains '/wp-login.php' || evt.Parsed.request endsWith '.env'"
    " || evt.Parsed.request startsWith '/admin'",
    "evt.Meta.http_path matches '\\\\.(php|asp)$'",
    "evt.Unmarshaled.cloudtrail?.eventName ?? ''",
    "(evt.Time.Hour() >= 18 || evt.Time.Hour() < 6)",
    "any(['a', 'b', 'c'], {# == evt.Meta.service})",
]

HUB_FILTERS = [
    "any(File('http_path_traversal.txt'),{evt.Meta.http_path contains #})",
    "any(File('sqli_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})",
    "any(File('xss_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})",
    "any(File('log4j2_cve_2021_44228.txt'), { Upper(evt.Parsed.http_user_agent) contains Upper(#)})",
    "any(File('admin_interfaces.txt'), { Lower(evt.Meta.http_path) contains #})",
    "any(File('sensitive_data.txt'), { evt.Parsed.request endsWith #})",
    "any(File('backdoors.txt'), { evt.Parsed.file_name == #})",
]
HUB_DATA_FILES = [
    "http_path_traversal.txt",
    "sqli_probe_patterns.txt",
    "xss_probe_patterns.txt",
    "log4j2_cve_2021_44228.txt",
    "admin_interfaces.txt",
    "sensitive_data.txt",
    "backdoors.txt",
]

REQUESTS = [  # (path, query string, user agent): mostly benign, like real traffic
    ("/products", "page=2", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/122.0"),
    ("/blog/2024/03/hello-world", "", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) Safari/605.1.15"),
    (
        "/search",
        "q=hello+world&sort=asc&lang=en-US&utm_source=newsletter&utm_medium=email&utm_campaign=spring",
        "curl/8.5.0",
    ),
    ("/wp-login.php", "redirect_to=%2Fwp-admin%2F&reauth=1", "python-requests/2.31"),
]


def make_event(path: str = "/a.php", args: str = "", ua: str = "") -> Event:
    evt = Event(Line(raw="GET / HTTP/1.1", labels={"type": "nginx"}))
    evt.Meta.update(
        log_type="http_access-log", http_status="404", service="ssh", source_ip="1.2.3.4", http_path=path
    )
    request = f"{path}?{args}" if args else path
    evt.Parsed.update(
        static_ressource="false",
        request=request,
        http_args=args,
        http_user_agent=ua,
        file_name=path.rsplit("/", 1)[-1],
    )
    evt.Unmarshaled["cloudtrail"] = {"eventName": "ListBuckets"}
    evt.Time = datetime(2024, 3, 9, 20, 15, tzinfo=UTC)
    return evt


def generic_fn(source: str) -> Callable[..., Any]:
    """``source`` compiled without the predicate fast paths."""
    python, namespace, _kind = generate(source, parse(source), dict(EVT), fast_paths=False)
    exec(compile(python, "<expr>", "exec"), namespace)
    fn: Callable[..., Any] = namespace["_expr"]
    return fn


def bench(fn: Callable[..., Any], events: list[Event], seconds: float = 0.5) -> float:
    n = 0
    batch = 1_000
    start = time.perf_counter()
    while True:
        for _ in range(batch // len(events)):
            for evt in events:
                fn(evt)
        n += batch // len(events) * len(events)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    evt = make_event()
    for source in EXPRESSIONS:
        rate = bench(compile_expr(source).fn, [evt])
        print(f"{rate / 1e6:6.2f} M eval/s  {source}")
    hub = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "hub")
    if not (hub / "data").is_dir():
        print(f"(no hub data under {hub}: hub filters skipped)")
        return
    for name in HUB_DATA_FILES:
        datafiles.load(hub / "data", name, "string")
    events = [make_event(*r) for r in REQUESTS]
    print("hub scenario filters (k eval/s): generic → fast")
    for source in HUB_FILTERS:
        slow = bench(generic_fn(source), events)
        fast = bench(compile_expr(source).fn, events)
        print(f"{slow / 1e3:8.1f} → {fast / 1e3:8.1f}  (x{fast / slow:5.1f})  {source}")


if __name__ == "__main__":
    main()

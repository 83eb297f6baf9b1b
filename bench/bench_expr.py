"""Evaluations per second of typical hub expressions through ``Program.fn`` (one core).

Plain script: ``python bench/bench_expr.py``. Not a test; prints one line per expression.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from crowdwatch.event import Event, Line
from crowdwatch.expr import compile_expr

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


def make_event() -> Event:
    evt = Event(Line(raw="GET / HTTP/1.1", labels={"type": "nginx"}))
    evt.Meta.update(
        log_type="http_access-log", http_status="404", service="ssh", source_ip="1.2.3.4", http_path="/a.php"
    )
    evt.Parsed.update(static_ressource="false", request="/index.html")
    evt.Unmarshaled["cloudtrail"] = {"eventName": "ListBuckets"}
    evt.Time = datetime(2024, 3, 9, 20, 15, tzinfo=UTC)
    return evt


def bench(source: str, evt: Event, seconds: float = 0.5) -> float:
    fn = compile_expr(source).fn
    n = 0
    batch = 10_000
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn(evt)
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    evt = make_event()
    for source in EXPRESSIONS:
        rate = bench(source, evt)
        print(f"{rate / 1e6:6.2f} M eval/s  {source}")


if __name__ == "__main__":
    main()

"""Reads a ``/metrics`` endpoint back into the tables ``crowdwatch metrics`` shows.

Works on any endpoint exposing the metric names of docs/METRICS.md: crowdwatch's agent,
LAPI or both (``run``); tables whose metrics are absent come out empty.
"""

from __future__ import annotations

import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

_HITS = re.compile(r"^cs_(\w+?)source_hits_total$")
_BUCKETS_LE = "le"


class ScrapeError(Exception):
    """The endpoint could not be read (one line, for the user)."""


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Snapshot:
    """What one scrape says, grouped like ``cscli metrics``'s tables (rows are dicts)."""

    acquisition: list[dict[str, Any]] = field(default_factory=list)
    parsers: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    bouncers: list[dict[str, Any]] = field(default_factory=list)
    process: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fetch(url: str, timeout: float = 5.0) -> str:
    """The text exposition at ``url``; :class:`ScrapeError` with a clear reason otherwise."""
    req = urllib.request.Request(url, headers={"Accept": "text/plain"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body: bytes = resp.read()
    except urllib.error.HTTPError as exc:
        raise ScrapeError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise ScrapeError(
                f"nothing listens on {url} (is crowdwatch lapi/agent/run running with prometheus enabled?)"
            ) from None
        raise ScrapeError(f"cannot reach {url}: {getattr(reason, 'strerror', None) or reason}") from None
    except TimeoutError:
        raise ScrapeError(f"cannot reach {url}: timed out after {timeout:g}s") from None
    except ValueError as exc:  # unknown URL type
        raise ScrapeError(f"invalid metrics URL {url!r}: {exc}") from None
    return body.decode("utf-8", "replace")


def parse(text: str) -> list[Sample]:
    """Samples of a text exposition; :class:`ScrapeError` if it is not one."""
    try:
        return [
            Sample(s.name, s.labels, s.value)
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        ]
    except (ValueError, TypeError, IndexError) as exc:
        raise ScrapeError(f"not a Prometheus metrics page: {exc}") from None


def scrape(url: str, timeout: float = 5.0) -> Snapshot:
    if not url.startswith(("http://", "https://")):
        raise ScrapeError(f"invalid metrics URL {url!r}: expected http://HOST:PORT/metrics")
    return build(parse(fetch(url, timeout)))


# --- grouping -----------------------------------------------------------------------------


def build(samples: Iterable[Sample], now: float | None = None) -> Snapshot:
    """Group samples into the tables (``now``: the time bouncers' last pull is aged against)."""
    by: dict[str, list[Sample]] = {}
    for s in samples:
        by.setdefault(s.name, []).append(s)
    snap = Snapshot()
    snap.acquisition = _acquisition(by)
    snap.parsers = _parsers(by)
    snap.scenarios = _scenarios(by)
    snap.alerts = _alerts(by)
    snap.decisions = sorted(
        (
            {
                "reason": s.labels.get("reason", ""),
                "origin": s.labels.get("origin", ""),
                "action": s.labels.get("action", ""),
                "count": int(s.value),
            }
            for s in by.get("cs_active_decisions", [])
            if s.value
        ),
        key=lambda r: (-r["count"], r["reason"], r["origin"], r["action"]),
    )
    snap.routes = _routes(by)
    snap.bouncers = _bouncers(by, time.time() if now is None else now)
    snap.process = _process(by)
    return snap


def _key(s: Sample, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s.labels.get(n, "") for n in names)


def _acquisition(by: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    module_of: dict[tuple[str, str], str] = {}
    for name, samples in by.items():
        m = _HITS.match(name)
        if m is None:
            continue
        for s in samples:
            k = (s.labels.get("source", ""), s.labels.get("type", ""))
            module_of[k] = m.group(1)
            _row(rows, k)["read"] += int(s.value)
    for metric, col in (
        ("cs_parser_hits_ok_total", "parsed"),
        ("cs_parser_hits_ko_total", "unparsed"),
        ("crowdwatch_acquisition_poured_total", "poured"),
        ("crowdwatch_acquisition_errors_total", "errors"),
    ):
        for s in by.get(metric, []):
            k = (s.labels.get("source", ""), s.labels.get("type", ""))
            _row(rows, k)[col] += int(s.value)
    out = []
    for (source, typ), row in sorted(rows.items()):
        module = module_of.get((source, typ), "")
        label = f"{module}:{source}" if module and source else source or f"{module or '?'} ({typ})"
        out.append({"source": label, "type": typ, **row})
    return out


def _row(rows: dict[tuple[str, str], dict[str, Any]], k: tuple[str, str]) -> dict[str, Any]:
    row = rows.get(k)
    if row is None:
        row = rows[k] = {"read": 0, "parsed": 0, "unparsed": 0, "poured": 0, "errors": 0}
    return row


def _parsers(by: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    names = ("pipeline", "stage", "name")
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for metric, col in (
        ("cs_node_hits_total", "hits"),
        ("cs_node_hits_ok_total", "parsed"),
        ("cs_node_hits_ko_total", "unparsed"),
    ):
        for s in by.get(metric, []):
            k = _key(s, names)
            row = rows.setdefault(k, {"pipeline": k[0], "stage": k[1], "name": k[2]})
            row[col] = row.get(col, 0) + int(s.value)
    return [r for _, r in sorted(rows.items()) if r.get("hits")]


_SCENARIO_COLS = (
    ("cs_buckets", "current"),
    ("cs_bucket_overflowed_total", "overflowed"),
    ("cs_bucket_created_total", "instantiated"),
    ("cs_bucket_poured_total", "poured"),
    ("cs_bucket_underflowed_total", "expired"),
    ("cs_bucket_canceled_total", "cancelled"),
)


def _scenarios(by: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for metric, col in _SCENARIO_COLS:
        for s in by.get(metric, []):
            name = s.labels.get("name", "")
            row = rows.setdefault(name, {"name": name, **{c: 0 for _, c in _SCENARIO_COLS}})
            row[col] += int(s.value)
    return [r for _, r in sorted(rows.items()) if any(r[c] for _, c in _SCENARIO_COLS)]


def _alerts(by: dict[str, list[Sample]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for metric, key in (
        ("crowdwatch_engine_alerts_total", "produced"),
        ("cs_alerts_pushed_total", "pushed"),
        ("cs_alerts_queued", "queued"),
        ("crowdwatch_alerts_push_errors_total", "push_errors"),
    ):
        samples = by.get(metric)
        if samples:
            out[key] = int(sum(s.value for s in samples))
    return out


def _routes(by: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for s in by.get("cs_lapi_route_requests_total", []):
        k = (s.labels.get("route", ""), s.labels.get("method", ""))
        row = rows.setdefault(k, {"route": k[0], "method": k[1], "requests": 0, "errors": 0})
        row["requests"] += int(s.value)
        if s.labels.get("status", "").startswith(("4", "5")):
            row["errors"] += int(s.value)
    hist: dict[tuple[str, str], dict[str, Any]] = {}
    for suffix in ("_bucket", "_sum", "_count"):
        for s in by.get("cs_lapi_request_duration_seconds" + suffix, []):
            k = (s.labels.get("route", ""), s.labels.get("method", ""))
            h = hist.setdefault(k, {"buckets": [], "sum": 0.0, "count": 0.0})
            if suffix == "_bucket":
                h["buckets"].append((float(s.labels.get(_BUCKETS_LE, "inf")), s.value))
            else:
                h[suffix[1:]] = s.value
    for k, row in rows.items():
        found = hist.get(k)
        if found is None or not found["count"]:
            row["avg_ms"] = row["p50_ms"] = row["p95_ms"] = None
            continue
        buckets = sorted(found["buckets"])
        row["avg_ms"] = round(found["sum"] / found["count"] * 1000, 3)
        row["p50_ms"] = _quantile_ms(0.5, buckets)
        row["p95_ms"] = _quantile_ms(0.95, buckets)
    return sorted(rows.values(), key=lambda r: (-r["requests"], r["route"], r["method"]))


def _quantile_ms(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's ``histogram_quantile``: linear interpolation inside the bucket."""
    if not buckets or not buckets[-1][1]:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return round(lower_bound * 1000, 3)  # beyond the last finite bound
            if count == lower_count:
                return round(bound * 1000, 3)
            frac = (rank - lower_count) / (count - lower_count)
            return round((lower_bound + (bound - lower_bound) * frac) * 1000, 3)
        lower_bound, lower_count = bound, count
    return None


def _bouncers(by: dict[str, list[Sample]], now: float) -> list[dict[str, Any]]:
    last = {
        s.labels.get("bouncer", ""): s.value
        for s in by.get("crowdwatch_lapi_bouncer_last_pull_timestamp_seconds", [])
    }
    rows: list[dict[str, Any]] = []
    for s in by.get("cs_lapi_bouncer_requests_total", []):
        name = s.labels.get("bouncer", "")
        at = last.get(name)
        rows.append(
            {
                "bouncer": name,
                "route": s.labels.get("route", ""),
                "method": s.labels.get("method", ""),
                "requests": int(s.value),
                "last_pull_seconds_ago": None if at is None else round(max(0.0, now - at), 1),
            }
        )
    return sorted(rows, key=lambda r: (r["bouncer"], r["route"], r["method"]))


def _process(by: dict[str, list[Sample]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric, key in (
        ("process_resident_memory_bytes", "resident_memory_bytes"),
        ("process_virtual_memory_bytes", "virtual_memory_bytes"),
        ("process_cpu_seconds_total", "cpu_seconds"),
        ("process_start_time_seconds", "start_time_seconds"),
        ("process_open_fds", "open_fds"),
    ):
        samples = by.get(metric)
        if samples:
            out[key] = samples[0].value
    return out

"""The agent's metrics, read from its plain counters when Prometheus scrapes.

Nothing here runs per line: the sources, the parser nodes and the scenarios keep ordinary
integer counters, and :class:`AgentCollector` turns them into metric families on each
scrape (from the metrics server's thread; reading ints another thread increments is safe,
a scrape just sees them a few lines apart).

Names follow CrowdSec's where it has the metric (``cs_*``, so existing dashboards keep
working); crowdwatch's own are ``crowdwatch_*``. docs/METRICS.md has the full mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crowdwatch.acquisition.base import LiveSource, SourceCounters

if TYPE_CHECKING:
    from crowdwatch.engine import DetectionEngine
    from crowdwatch.parser import ParserPipeline
    from crowdwatch.scenarios import ScenarioSet

LEVELS = ("full", "aggregated")
"""``prometheus.level``: ``aggregated`` leaves out per-node parser metrics and the per-file
``source`` label of acquisition/parser metrics (one series per log type instead)."""

# ScenarioStats field -> (metric name, help)
_SCENARIO_COUNTERS = (
    ("poured", "cs_bucket_poured_total", "Events poured into the buckets of a scenario."),
    ("instantiated", "cs_bucket_created_total", "Buckets created."),
    ("overflowed", "cs_bucket_overflowed_total", "Buckets that overflowed."),
    ("underflowed", "cs_bucket_underflowed_total", "Buckets that expired without overflowing."),
    ("cancelled", "cs_bucket_canceled_total", "Buckets killed by cancel_on."),
    ("discarded", "crowdwatch_bucket_discarded_total", "Overflows dropped by overflow_filter or blackhole."),
)
_SCENARIO_ERRORS = (
    ("filter_errors", "filter"),
    ("groupby_errors", "groupby"),
    ("expr_errors", "expr"),
    ("alert_errors", "alert"),
)


class AgentView(Protocol):
    """What the collector reads (``crowdwatch.agent.runtime.AgentRuntime`` provides it)."""

    @property
    def sources(self) -> Sequence[LiveSource]: ...

    @property
    def engine(self) -> DetectionEngine | None: ...

    def queue_stats(self) -> Mapping[str, int]:
        """``queued`` (alerts waiting for the LAPI), ``pushed`` and ``push_errors`` (totals)."""
        ...


def stream_label(key: str) -> str:
    """The ``source`` label of a stream: its key without the ``<module>:`` prefix
    (``file:/var/log/auth.log`` → ``/var/log/auth.log``, as CrowdSec labels files)."""
    _, sep, rest = key.partition(":")
    return rest if sep else key


class AgentCollector(Collector):
    """Metric families of one agent runtime; register it in a ``CollectorRegistry``."""

    def __init__(self, runtime: AgentView, level: str = "full") -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown metrics level {level!r} (expected full or aggregated)")
        self.runtime = runtime
        self.level = level
        self._lock = threading.Lock()  # ScenarioSet.stats refreshes ``current`` in place

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        with self._lock:
            yield from self._sources(rt.sources)
            engine = rt.engine
            if engine is not None:
                yield from engine_metrics(engine, self.level)
            yield from _queue(rt.queue_stats())

    # --- acquisition ----------------------------------------------------------------
    def _sources(self, sources: Iterable[LiveSource]) -> Iterator[Metric]:
        full = self.level == "full"
        labels = ["source", "type"] if full else ["type"]
        hits: dict[str, dict[tuple[str, ...], int]] = {}  # per source module (file, journalctl...)
        fams = {
            "parsed": ("cs_parser_hits_ok_total", "Lines of a source the parsers parsed."),
            "unparsed": ("cs_parser_hits_ko_total", "Lines of a source no parser parsed."),
            "offered": ("cs_parser_hits_total", "Lines of a source given to the parsers."),
            "poured": (
                "crowdwatch_acquisition_poured_total",
                "Parsed lines of a source poured into scenarios.",
            ),
            "errors": ("crowdwatch_acquisition_errors_total", "Read errors, over-long or malformed lines."),
        }
        values: dict[str, dict[tuple[str, ...], int]] = {k: {} for k in fams}
        for src in sources:
            module = src.spec.source
            for key, c in list(src.counters().items()):
                typ = c.type or src.spec.labels.get("type", "")
                lab: tuple[str, ...] = (stream_label(key), typ) if full else (typ,)
                _add(hits.setdefault(module, {}), lab, c.read)
                for name, v in _line_counts(c).items():
                    _add(values[name], lab, v)
        for module, series in sorted(hits.items()):
            fam = CounterMetricFamily(
                f"cs_{module}source_hits_total", f"Lines read by the {module} data sources.", labels=labels
            )
            for labs, v in sorted(series.items()):
                fam.add_metric(list(labs), v)
            yield fam
        for name, (metric, doc) in fams.items():
            fam = CounterMetricFamily(metric, doc, labels=labels)
            for labs, v in sorted(values[name].items()):
                fam.add_metric(list(labs), v)
            yield fam


def _line_counts(c: SourceCounters) -> dict[str, int]:
    return {
        "parsed": c.parsed,
        "unparsed": c.unparsed,
        "offered": c.parsed + c.unparsed,
        "poured": c.poured,
        "errors": c.errors,
    }


def _add(series: dict[tuple[str, ...], int], labels: tuple[str, ...], value: int) -> None:
    series[labels] = series.get(labels, 0) + value


# --- engine -------------------------------------------------------------------------


def engine_metrics(engine: DetectionEngine, level: str = "full") -> Iterator[Metric]:
    """Engine totals, parser nodes (``full`` level) and scenario buckets of ``engine``."""
    for field, value in engine.stats.to_dict().items():
        fam = CounterMetricFamily(f"crowdwatch_engine_{field}_total", _ENGINE_HELP.get(field, field))
        fam.add_metric([], value)
        yield fam
    if level == "full":
        yield from _nodes(engine.parsers, engine.postoverflows)
    if engine.scenarios is not None:
        yield from _scenarios(engine.scenarios)


_ENGINE_HELP = {
    "lines": "Log events given to the engine.",
    "parsed": "Log events parsed and not whitelisted.",
    "unparsed": "Log events no parser stage succeeded on.",
    "whitelisted": "Parsed events dropped by a parser whitelist.",
    "poured": "Events poured into the scenarios (reprocessed overflows included).",
    "pour_errors": "Pours and ticks the scenario engine failed on.",
    "overflows": "Overflows carrying an alert, before postoverflows.",
    "postoverflow_whitelisted": "Overflows dropped by a postoverflow whitelist.",
    "reprocessed": "Overflows poured again into the scenarios.",
    "reprocess_dropped": "Reprocess requests refused by the depth limit.",
    "alerts": "Alerts produced (ready for the LAPI).",
}


def _nodes(parsers: ParserPipeline, postoverflows: ParserPipeline | None) -> Iterator[Metric]:
    labels = ["pipeline", "stage", "name"]
    hits = CounterMetricFamily("cs_node_hits_total", "Events a parser node's filter let in.", labels=labels)
    ok = CounterMetricFamily("cs_node_hits_ok_total", "Events a parser node succeeded on.", labels=labels)
    ko = CounterMetricFamily("cs_node_hits_ko_total", "Events a parser node failed on.", labels=labels)
    for pipeline, pipe in (("parsers", parsers), ("postoverflows", postoverflows)):
        if pipe is None:
            continue
        sums: dict[tuple[str, str, str], list[int]] = {}
        for st in pipe.stats:
            if not st.name:  # unnamed children: their outcome is their parent's
                continue
            acc = sums.setdefault((pipeline, st.stage, st.name), [0, 0])
            acc[0] += st.hits
            acc[1] += st.ok
        for lab, (h, o) in sums.items():
            hits.add_metric(list(lab), h)
            ok.add_metric(list(lab), o)
            ko.add_metric(list(lab), h - o)
    yield hits
    yield ok
    yield ko


def _scenarios(scenarios: ScenarioSet) -> Iterator[Metric]:
    stats = scenarios.stats  # refreshes ``current``
    items = sorted(stats.items())
    for field, metric, doc in _SCENARIO_COUNTERS:
        fam = CounterMetricFamily(metric, doc, labels=["name"])
        for name, st in items:
            fam.add_metric([name], getattr(st, field))
        yield fam
    current = GaugeMetricFamily("cs_buckets", "Live buckets of a scenario.", labels=["name"])
    errors = CounterMetricFamily(
        "crowdwatch_scenario_errors_total",
        "Events a scenario expression failed on, by expression kind.",
        labels=["name", "kind"],
    )
    for name, st in items:
        current.add_metric([name], st.current)
        for field, kind in _SCENARIO_ERRORS:
            errors.add_metric([name, kind], getattr(st, field))
    yield current
    yield errors


# --- alerts -------------------------------------------------------------------------


def _queue(stats: Mapping[str, int]) -> Iterator[Metric]:
    pushed = CounterMetricFamily("cs_alerts_pushed_total", "Alerts the LAPI acknowledged.")
    pushed.add_metric([], stats.get("pushed", 0))
    yield pushed
    queued = GaugeMetricFamily("cs_alerts_queued", "Alerts waiting in the on-disk queue for the LAPI.")
    queued.add_metric([], stats.get("queued", 0))
    yield queued
    errors = CounterMetricFamily(
        "crowdwatch_alerts_push_errors_total", "Failed pushes of alerts to the LAPI."
    )
    errors.add_metric([], stats.get("push_errors", 0))
    yield errors

"""The agent's moving parts wired from a configuration: items, sources, pipeline, state.

:class:`AgentRuntime` loads the detection items, opens the state file, restores the bucket
state, builds the data sources of the acquisition files and starts them with their
persisted positions, feeding one :class:`~crowdwatch.agent.pipeline.Pipeline`. Alerts go to
the on-disk queue; delivering them to a LAPI is the pusher's job (``cli.agent_cmd``).

Items: the CrowdSec-style items installed in the configuration directory (``parsers/``,
``scenarios/``, ``postoverflows/`` as ``cscli`` lays them out) when there are any, otherwise
every item of the content bundled with crowdwatch (what ``crowdwatch replay`` loads by
default). Both at once would run two parsers and two scenarios per service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from crowdwatch.acquisition.base import LiveSource, SourceCounters, SourceSpec
from crowdwatch.agent.pipeline import Pipeline
from crowdwatch.agent.state import AgentState
from crowdwatch.config.errors import ConfigError
from crowdwatch.config.schema import Config
from crowdwatch.engine import DetectionEngine
from crowdwatch.lapi.timefmt import parse_duration_ns

log = logging.getLogger(__name__)

ITEM_DIRS = ("parsers", "scenarios", "postoverflows")


class AgentError(Exception):
    """The agent cannot start (bad items, bad acquisition, unusable state file)."""


def installed_items_dir(cfg: Config) -> Path | None:
    """The configuration directory if it holds installed CrowdSec-style items, else ``None``."""
    root = cfg.paths.config_dir
    for kind in ITEM_DIRS:
        d = root / kind
        if d.is_dir() and any(p.suffix in (".yaml", ".yml") for p in d.rglob("*")):
            return root
    return None


def load_engine(cfg: Config) -> DetectionEngine:
    """The detection engine over the installed items, or the bundled content (see module doc)."""
    from crowdwatch.hub.index import HubError
    from crowdwatch.hub.loadout import open_engine
    from crowdwatch.scenarios import AlertContext
    from crowdwatch.simulation import from_config
    from crowdwatch.yamlutil import YamlError

    installed = installed_items_dir(cfg)
    patterns = cfg.paths.pattern_dir
    if installed is not None and patterns is None and (installed / "patterns").is_dir():
        patterns = installed / "patterns"
    console = cfg.paths.config_dir / "console" / "context.yaml"
    try:
        context = AlertContext.load(console=console) if console.exists() else None
        engine = open_engine(
            installed,
            data_dir=cfg.paths.data_dir if installed is not None else None,
            patterns_dir=patterns,
            simulation=from_config(cfg),
            context=context,
        )
    except (HubError, YamlError, ConfigError) as exc:
        raise AgentError(str(exc)) from None
    except Exception as exc:  # item load errors of every kind name their file
        if type(exc).__name__.endswith("Error"):
            raise AgentError(str(exc)) from None
        raise
    where = installed if installed is not None else "bundled content"
    n_scen = len(engine.scenarios.scenarios) if engine.scenarios is not None else 0
    log.info("loaded %d scenarios from %s", n_scen, where)
    return engine


def load_sources(cfg: Config) -> list[LiveSource]:
    """The data sources of ``acquis.yaml`` and ``acquis.d/`` (not started)."""
    from crowdwatch.acquisition.config import load_acquisition
    from crowdwatch.acquisition.registry import build_source

    try:
        specs: list[SourceSpec] = load_acquisition(cfg.paths.acquisition_path, cfg.paths.acquisition_dir)
        return [build_source(s) for s in specs]
    except ConfigError as exc:
        raise AgentError(str(exc)) from None


def checkpoint_seconds(cfg: Config) -> float:
    text = cfg.crowdwatch.checkpoint_interval
    try:
        ns = parse_duration_ns(text)
    except ValueError:
        raise AgentError(f"crowdwatch.checkpoint_interval: invalid duration {text!r}") from None
    if ns <= 0:
        raise AgentError(f"crowdwatch.checkpoint_interval: must be positive (got {text!r})")
    return ns / 1e9


class AgentRuntime:
    """Start/stop/reload of the agent; attributes read by metrics: ``sources``, ``engine``,
    ``pipeline``, ``state``, :meth:`queue_stats`.

    ``sources`` (tests, embedding) replaces the acquisition files; ``reload`` then keeps them.
    """

    def __init__(
        self,
        config: Config,
        *,
        machine_id: str = "",
        sources: list[LiveSource] | None = None,
        queue_size: int = 10_000,
    ) -> None:
        self.config = config
        self.machine_id = machine_id
        self._fixed_sources = sources is not None
        self.checkpoint_interval = checkpoint_seconds(config)
        self.engine = load_engine(config)
        self.sources: list[LiveSource] = list(sources) if sources is not None else load_sources(config)
        if not self.sources:
            log.warning(
                "no data source configured (%s, %s): nothing to watch",
                config.paths.acquisition_path,
                config.paths.acquisition_dir,
            )
        try:
            self.state = AgentState(
                config.paths.agent_state_path, queue_max=config.crowdwatch.alert_queue_max
            )
        except Exception as exc:
            raise AgentError(f"{config.paths.agent_state_path}: cannot open agent state: {exc}") from None
        self.push_stats: Callable[[], dict[str, int]] | None = None  # set by whoever pushes (agent_cmd)
        self.pipeline = Pipeline(
            self.engine,
            self.state,
            machine_id=machine_id,
            checkpoint_interval=self.checkpoint_interval,
            queue_size=queue_size,
            counters_of=self._counters_of,
            on_queued=self._queued,
        )
        self._lock = threading.Lock()
        self._started = False
        self.on_queued: list[Callable[[], None]] = []  # told when alerts reach the queue (any thread)

    # --- metrics ----------------------------------------------------------------------------

    def queue_stats(self) -> dict[str, int]:
        stats = {"queued": self.state.queue_len(), "pushed": 0, "push_errors": 0}
        if self.push_stats is not None:
            stats.update({k: v for k, v in self.push_stats().items() if k != "queued"})
        return stats

    def _counters_of(self, key: str) -> SourceCounters | None:
        for src in self.sources:
            c = src.counters().get(key)
            if c is not None:
                return c
        return None

    def _queued(self, n: int) -> None:
        for cb in list(self.on_queued):
            cb()

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self.pipeline.start()
            self._start_sources(self.sources)
            self._started = True

    def _start_sources(self, sources: list[LiveSource]) -> None:
        for src in sources:
            src.start(self.pipeline.sink, self.pipeline.resume)

    def _stop_sources(self, sources: list[LiveSource]) -> None:
        for src in sources:
            try:
                src.stop()
            except Exception:
                log.exception("stopping source %s failed", src.spec.source)

    def stop(self) -> None:
        """Stop the sources, process what they delivered, take a final full checkpoint
        (bucket state included). The state file stays open for the pusher: :meth:`close`."""
        with self._lock:
            if not self._started:
                return
            self._stop_sources(self.sources)
            self.pipeline.stop()
            self._started = False

    def close(self) -> None:
        self.stop()
        self.state.close()

    def reload(self) -> None:
        """Reload items and acquisition from disk; buckets and positions are kept. On error
        the running configuration stays in place and :class:`AgentError` is raised."""
        with self._lock:
            from crowdwatch.config import load_config

            try:
                cfg = load_config(self.config.paths.config_dir, create=False)
            except ConfigError as exc:
                raise AgentError(str(exc)) from None
            engine = load_engine(cfg)
            sources = list(self.sources) if self._fixed_sources else load_sources(cfg)
            self._stop_sources(self.sources)
            self.pipeline.replace_engine(engine)
            self.config = cfg
            self.engine = engine
            self.sources = sources
            if self._started:
                self._start_sources(sources)
            log.info("reloaded: %d sources", len(sources))

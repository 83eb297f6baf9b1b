"""Build parser pipelines and detection engines from hub items.

Items are laid out as CrowdSec installs them (HUB.md §3): ``parsers/<stage>/<file name>``,
so the load order is stage, then file *name* (not author), byte-wise (ENGINE.md §4.1).
Postoverflows load like parsers, with their own grok library (ENGINE.md §5.1). Scenarios
carry the hub state of their file: ``scenario_hash`` is the SHA-256 of the file and
``scenario_version`` the highest index version with that digest, ``?`` when none matches
(locally modified); both are empty for files the hub index does not know (ENGINE.md §6.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from crowdwatch.grok import PatternLibrary
from crowdwatch.hub.index import KINDS, Hub, HubError, HubItem
from crowdwatch.parser import LoadContext, ParserFile, ParserLoadError, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers

if TYPE_CHECKING:
    from crowdwatch.engine import DetectionEngine, OverflowHook
    from crowdwatch.scenarios import AlertContext, ScenarioFile, ScenarioSet
    from crowdwatch.simulation import SimulationConfig

Clock = Callable[[], datetime]


def bundled_content_dir() -> Path:
    """The content shipped with crowdwatch (same layout as a hub, with its own ``.index.json``)."""
    return Path(str(resources.files("crowdwatch").joinpath("content")))


def install_order(items: Iterable[HubItem], errors: list[str] | None = None) -> list[HubItem]:
    """Items in CrowdSec's load order: by stage, then installed file name (byte-wise).

    Two items installing to the same ``<stage>/<file name>`` collide; the first one is kept
    (CrowdSec leaves an existing destination alone) and the clash is reported in ``errors``.
    """
    by_dest: dict[tuple[str, str], HubItem] = {}
    for item in items:
        dest = (item.stage, item.file_name)
        if dest in by_dest:
            if by_dest[dest].path != item.path and errors is not None:
                errors.append(
                    f"{item.kind} '{item.name}' not installed: {item.stage}/{item.file_name} "
                    f"is already taken by '{by_dest[dest].name}'"
                )
            continue
        by_dest[dest] = item
    return [by_dest[k] for k in sorted(by_dest, key=lambda k: (k[0].encode(), k[1].encode()))]


def make_context(
    patterns_dir: Path, data_dir: Path, *, rdns: bool = False, clock: Clock | None = None
) -> LoadContext:
    if not patterns_dir.is_dir():
        raise HubError(f"grok patterns directory {patterns_dir} does not exist")
    patterns = PatternLibrary.with_base()
    patterns.load_dir(patterns_dir)
    return LoadContext(patterns, data_dir, Enrichers(data_dir, rdns=rdns, clock=clock))


def load_tolerant(
    files: Sequence[ParserFile], make_ctx: Callable[[], LoadContext], errors: list[str]
) -> ParserPipeline:
    """Load ``files``, leaving out each file that fails to load (reported in ``errors``).

    Used by hubtest: the document is still produced and asserts that do not depend on the
    broken item can pass. Each attempt gets a fresh context because loading registers the
    files' ``pattern_syntax`` in the pattern library.
    """
    remaining = list(files)
    while True:
        try:
            return ParserPipeline.load(remaining, make_ctx())
        except ParserLoadError as exc:
            errors.append(str(exc))
            kept = [f for f in remaining if str(f.path) != exc.file]
            if len(kept) == len(remaining):  # not attributable to one file: load nothing
                return ParserPipeline.load([], make_ctx())
            remaining = kept


def open_pipeline(
    hub_dir: Path | None = None,
    parsers: list[str] | None = None,
    *,
    data_dir: Path | None = None,
    patterns_dir: Path | None = None,
    rdns: bool = False,
    clock: Clock | None = None,
    extra_files: Sequence[ParserFile] = (),
) -> ParserPipeline:
    """A parser pipeline over ``parsers`` (hub names or paths; ``None`` = every parser of the hub).

    ``hub_dir`` defaults to the bundled content, ``patterns_dir`` to ``<hub>/patterns`` and
    ``data_dir`` to ``<hub>/data``. Raises :class:`HubError` for unknown items and
    :class:`ParserLoadError` for broken ones.
    """
    hub = Hub(hub_dir if hub_dir is not None else bundled_content_dir())
    if parsers is None:
        items = hub.all_parsers()
    else:
        items = [hub.resolve("parsers", ref) for ref in parsers if ref]
    ctx = make_context(
        patterns_dir if patterns_dir is not None else hub.root / "patterns",
        data_dir if data_dir is not None else hub.root / "data",
        rdns=rdns,
        clock=clock,
    )
    files = [ParserFile(i.stage, i.path) for i in install_order(items)]
    return ParserPipeline.load(sort_files([*extra_files, *files]), ctx)


def sort_files(files: Iterable[ParserFile]) -> list[ParserFile]:
    """Parser files in load order: stage, then file name, byte-wise (stable for ties)."""
    return sorted(files, key=lambda f: (f.stage.encode(), Path(f.path).name.encode()))


# --- scenarios and engines -------------------------------------------------------------------
def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in version.split("."))


def item_state(hub: Hub, item: HubItem) -> tuple[str, str]:
    """``(hash, version)`` of an item's file as CrowdSec reports them for scenarios.

    The index entry is the item's own (by name) or the one whose ``path`` is this file; a file
    the index does not know is local: ``("", "")``.
    """
    entries = (hub.index or {}).get(item.kind, {})
    entry = entries.get(item.name)
    resolved = item.path.resolve()
    if entry is None or (hub.root / entry["path"]).resolve() != resolved:
        entry = next((e for e in entries.values() if (hub.root / e["path"]).resolve() == resolved), None)
    if entry is None:
        return "", ""
    try:
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
    except OSError:
        return "", ""
    versions = entry.get("versions") or {}
    matching = [v for v, meta in versions.items() if isinstance(meta, dict) and meta.get("digest") == digest]
    return digest, max(matching, key=_version_key) if matching else "?"


def scenario_files(hub: Hub, items: Iterable[HubItem], errors: list[str] | None = None) -> list[ScenarioFile]:
    """Scenario files with their hub hash and version, in install order (file name, byte-wise)."""
    from crowdwatch.scenarios import ScenarioFile

    return [ScenarioFile(i.path, *item_state(hub, i)) for i in install_order(items, errors)]


def load_scenarios(
    files: Sequence[ScenarioFile],
    data_dir: Path,
    simulation: SimulationConfig | None = None,
    errors: list[str] | None = None,
    context: AlertContext | None = None,
) -> ScenarioSet:
    """Load scenario ``files``. With ``errors``, a file that fails is left out and reported there
    (hubtest); without, :class:`~crowdwatch.scenarios.ScenarioLoadError` is raised."""
    from crowdwatch.scenarios import ScenarioContext, ScenarioLoadError, ScenarioSet

    ctx = ScenarioContext(
        data_dir, simulated=simulation.is_simulated if simulation else lambda _name: False, context=context
    )
    if errors is None:
        return ScenarioSet.load(list(files), ctx)
    remaining = list(files)
    while True:
        try:
            return ScenarioSet.load(remaining, ctx)
        except ScenarioLoadError as exc:
            errors.append(str(exc))
            kept = [f for f in remaining if str(f.path) != exc.file]
            if len(kept) == len(remaining):  # not attributable to one file: load nothing
                return ScenarioSet.load([], ctx)
            remaining = kept


def select_items(
    hub: Hub,
    parsers: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    postoverflows: Sequence[str] | None = None,
    collections: Sequence[str] | None = None,
) -> dict[str, list[HubItem]]:
    """Resolve the named items, collections expanded into their dependencies (HUB.md §4).

    With nothing named at all, every parser, scenario and postoverflow of the hub is selected.
    Returns kind -> items (first occurrence kept).
    """
    if parsers is None and scenarios is None and postoverflows is None and collections is None:
        return {k: hub.all_items(k) if k != "collections" else [] for k in KINDS}
    out: dict[str, list[HubItem]] = {k: [] for k in KINDS}
    seen: set[tuple[str, str]] = set()
    for kind, names in (
        ("collections", collections),
        ("parsers", parsers),
        ("scenarios", scenarios),
        ("postoverflows", postoverflows),
    ):
        for k, items in hub.expand(kind, [n for n in names or () if n]).items():
            for item in items:
                if (k, str(item.path)) not in seen:
                    seen.add((k, str(item.path)))
                    out[k].append(item)
    return out


def open_engine(
    hub_dir: Path | None = None,
    parsers: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    postoverflows: Sequence[str] | None = None,
    collections: Sequence[str] | None = None,
    *,
    data_dir: Path | None = None,
    patterns_dir: Path | None = None,
    simulation: SimulationConfig | None = None,
    clock: Clock | None = None,
    rdns: bool = False,
    on_overflow: OverflowHook | None = None,
    context: AlertContext | None = None,
) -> DetectionEngine:
    """A detection engine over hub items (names or paths; see :func:`select_items`).

    ``hub_dir`` defaults to the bundled content, ``patterns_dir`` to ``<hub>/patterns`` and
    ``data_dir`` to ``<hub>/data``; ``clock`` stands in for the wall clock (``ParseDate``'s
    "now", LIVE pours); ``context`` fills the alerts' ``meta`` (ENGINE.md §7.3). Raises
    :class:`HubError`, :class:`ParserLoadError` or :class:`~crowdwatch.scenarios.ScenarioLoadError`.
    """
    from crowdwatch.engine import DetectionEngine

    hub = Hub(hub_dir if hub_dir is not None else bundled_content_dir())
    items = select_items(hub, parsers, scenarios, postoverflows, collections)
    patterns = patterns_dir if patterns_dir is not None else hub.root / "patterns"
    data = data_dir if data_dir is not None else hub.root / "data"

    def load_stage(kind: str) -> ParserPipeline:
        ctx = make_context(patterns, data, rdns=rdns, clock=clock)
        files = [ParserFile(i.stage, i.path) for i in install_order(items[kind])]
        return ParserPipeline.load(sort_files(files), ctx)

    pipe = load_stage("parsers")
    scen = (
        load_scenarios(scenario_files(hub, items["scenarios"]), data, simulation, context=context)
        if items["scenarios"]
        else None
    )
    post = load_stage("postoverflows") if items["postoverflows"] else None
    return DetectionEngine(pipe, scen, post, on_overflow=on_overflow, clock=clock)

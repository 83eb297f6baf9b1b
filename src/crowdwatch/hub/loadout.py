"""Build a parser pipeline from hub items: pattern library, enrichers, data dir, file order.

Items are laid out as CrowdSec installs them (HUB.md §3): ``parsers/<stage>/<file name>``,
so the load order is stage, then file *name* (not author), byte-wise (ENGINE.md §4.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

from crowdwatch.grok import PatternLibrary
from crowdwatch.hub.index import Hub, HubError, HubItem
from crowdwatch.parser import LoadContext, ParserFile, ParserLoadError, ParserPipeline
from crowdwatch.parser.enrichers import Enrichers

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

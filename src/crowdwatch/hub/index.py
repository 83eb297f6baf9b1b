"""A hub directory: its `.index.json` and the resolution of item names to files (HUB.md §1-4).

Items are named either by hub name (``crowdsecurity/nginx-logs``, looked up in the index of
their kind) or, as hubtest allows, by a path relative to the hub root (``./parsers/s01-parse/
crowdsecurity/nginx-logs.yaml``), the test directory, or — for ``.tests/…`` paths — the
directory holding all test directories (OUTPUT_CONTRACT.md §1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

KINDS = ("parsers", "postoverflows", "scenarios", "collections")
STAGED_KINDS = ("parsers", "postoverflows")
_SINGULAR = {
    "parsers": "parser",
    "postoverflows": "postoverflow",
    "scenarios": "scenario",
    "collections": "collection",
}
_YAML_SUFFIXES = (".yaml", ".yml")


class HubError(Exception):
    """A hub directory, its index or an item reference is unusable."""


@dataclass(frozen=True, slots=True)
class HubItem:
    """One resolved item: its kind, name, file and (parsers/postoverflows) stage."""

    kind: str
    name: str
    path: Path
    stage: str = ""

    @property
    def file_name(self) -> str:
        return self.path.name


def _go_join(base: Path, ref: str) -> Path:
    """Join like Go's filepath.Join: a leading ``/`` in ``ref`` does not make it absolute."""
    parts = [p for p in PurePosixPath(ref).parts if p not in ("/", ".")]
    return base.joinpath(*parts) if parts else base


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(_YAML_SUFFIXES) or ref.startswith(("./", "/", "."))


def _stage_of(path: Path) -> str:
    """The stage of ``<kind>/<stage>/<author>/<file>``: the component two levels above the file."""
    parts = path.parts
    return parts[-3] if len(parts) >= 3 else ""


class Hub:
    """A hub directory (``.index.json`` + item files), e.g. the CrowdSec hub or bundled content."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise HubError(f"hub directory {self.root} does not exist")
        self.index_path = self.root / ".index.json"
        self.index: dict[str, dict[str, Any]] | None = None
        if self.index_path.is_file():
            self.index = self._read_index()

    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            data = orjson.loads(self.index_path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise HubError(f"{self.index_path}: cannot read hub index: {exc}") from None
        if not isinstance(data, dict):
            raise HubError(f"{self.index_path}: hub index is not a JSON object")
        index: dict[str, dict[str, Any]] = {}
        for kind, items in data.items():
            if not isinstance(items, dict):
                raise HubError(f"{self.index_path}: '{kind}' is not an object")
            for name, item in items.items():
                if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                    raise HubError(f"{self.index_path}: {kind} item '{name}' has no path")
                if kind in STAGED_KINDS and not item.get("stage"):
                    raise HubError(f"{self.index_path}: {kind} item '{name}' has no stage")
            index[kind] = items
        return index

    # --- lookup ----------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        """Item names of ``kind`` in the index (empty without an index)."""
        return sorted((self.index or {}).get(kind, {}))

    def item(self, kind: str, name: str) -> HubItem:
        """The indexed item ``name`` of ``kind``; :class:`HubError` if unknown or its file is missing."""
        entry = (self.index or {}).get(kind, {}).get(name)
        if entry is None:
            where = str(self.index_path) if self.index is not None else f"{self.root} (no .index.json)"
            raise HubError(
                f"unknown {_SINGULAR.get(kind, kind)} '{name}': not in {where}; "
                f"run with a hub that has it, or name the file by path (./{kind}/…)"
            )
        path = _go_join(self.root, entry["path"])
        if not path.is_file():
            raise HubError(f"{_SINGULAR.get(kind, kind)} '{name}': file {path} is missing from the hub")
        return HubItem(kind, name, path, str(entry.get("stage") or ""))

    def resolve(
        self, kind: str, ref: str, *, test_dir: Path | None = None, tests_root: Path | None = None
    ) -> HubItem:
        """Resolve a hub name or a path-style reference (OUTPUT_CONTRACT.md §1)."""
        if self.index is not None and ref in self.index.get(kind, {}):
            return self.item(kind, ref)
        if not _looks_like_path(ref):
            if self.index is None:
                local = self._scan_item(kind, ref)
                if local is not None:
                    return local
            return self.item(kind, ref)  # raises the "unknown item" error
        candidates = self._path_candidates(ref, test_dir, tests_root)
        for path in candidates:
            if path.is_file():
                stage = _stage_of(path) if kind in STAGED_KINDS else ""
                return HubItem(kind, ref, path, stage)
        tried = ", ".join(str(p) for p in candidates)
        raise HubError(f"{_SINGULAR.get(kind, kind)} '{ref}': no such file (tried {tried})")

    def _path_candidates(self, ref: str, test_dir: Path | None, tests_root: Path | None) -> list[Path]:
        rel = ref[2:] if ref.startswith("./") else ref.lstrip("/")
        if rel.startswith(".tests/"):
            root = tests_root if tests_root is not None else (test_dir.parent if test_dir else None)
            return [_go_join(root, rel[len(".tests/") :])] if root is not None else []
        out = [_go_join(self.root, ref)]
        if test_dir is not None:
            out.append(_go_join(test_dir, ref))
        return out

    def _scan_item(self, kind: str, name: str) -> HubItem | None:
        for item in self.scan(kind):
            if item.name == name:
                return item
        return None

    # --- whole-hub views -------------------------------------------------------------
    def scan(self, kind: str) -> list[HubItem]:
        """Every item file of ``kind`` on disk (``<kind>/[<stage>/]<author>/<name>.yaml``)."""
        base = self.root / kind
        if not base.is_dir():
            return []
        items = []
        for path in sorted(base.rglob("*")):
            if path.suffix not in _YAML_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(base).parts
            if any(p.startswith(".") for p in rel):
                continue
            if kind in STAGED_KINDS:
                if len(rel) < 2:
                    continue
                stage, rest = rel[0], rel[1:]
            else:
                stage, rest = "", rel
            name = "/".join((*rest[:-1], path.stem)) if len(rest) > 1 else path.stem
            items.append(HubItem(kind, name, path, stage))
        return items

    def all_items(self, kind: str) -> list[HubItem]:
        """All items of ``kind``: from the index when there is one, else from a directory scan."""
        if self.index is None:
            return self.scan(kind)
        return [self.item(kind, name) for name in self.names(kind)]

    def all_parsers(self) -> list[HubItem]:
        return self.all_items("parsers")

    def expand(self, kind: str, names: Iterable[str]) -> dict[str, list[HubItem]]:
        """Resolve ``names`` of ``kind``; collections expand recursively into their dependencies.

        Returns kind -> items (deduplicated, first occurrence kept); cycles raise :class:`HubError`.
        """
        out: dict[str, list[HubItem]] = {k: [] for k in KINDS}
        seen: set[tuple[str, str]] = set()

        def visit(k: str, name: str, chain: tuple[str, ...]) -> None:
            if (k, name) in seen:
                if k == "collections" and name in chain:
                    raise HubError(f"collection dependency cycle: {' -> '.join((*chain, name))}")
                return
            seen.add((k, name))
            item = self.resolve(k, name)
            out[k].append(item)
            if k != "collections":
                return
            entry = (self.index or {}).get("collections", {}).get(name, {})
            for dep_kind in KINDS:
                for dep in entry.get(dep_kind) or ():
                    visit(dep_kind, dep, (*chain, name))

        for name in names:
            if name:
                visit(kind, name, ())
        return out

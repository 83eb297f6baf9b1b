"""Reading ``acquis.yaml`` and ``acquis.d/*.yaml`` (CrowdSec's format, ENGINE.md §3.1).

Each file is a multi-document YAML stream (``$VAR``/``${VAR}`` of defined environment
variables expanded first); each non-empty document is one data source. ``source`` defaults
to ``file`` when ``filename``/``filenames`` is present and to ``journalctl`` when
``journalctl_filter`` is; ``labels.type`` is required (except for a docker source that takes
its labels from the containers); keys are checked against the source's key set. Every error
is an :class:`AcquisitionConfigError` whose message starts with ``file:line:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crowdwatch.acquisition.base import SourceSpec
from crowdwatch.acquisition.registry import (
    COMMON_KEYS,
    PASSTHROUGH_KEYS,
    SOURCES,
    AcquisitionConfigError,
    known_sources,
    option_keys,
)
from crowdwatch.config.envsubst import expand_env
from crowdwatch.yamlutil import Mapping, YamlError, as_bool, as_str, is_null, load_all, plain, pos_of

__all__ = ["AcquisitionConfigError", "acquisition_files", "load_acquisition", "parse_acquisition"]

MODES = ("tail", "cat")


def acquisition_files(path: Path | None, dir: Path | None) -> list[Path]:
    """``path`` if it exists, then ``dir``'s ``*.yaml`` then ``*.yml`` files, each sorted."""
    files: list[Path] = []
    if path is not None and path.is_file():
        files.append(path)
    if dir is not None and dir.is_dir():
        for suffix in ("*.yaml", "*.yml"):
            files.extend(sorted(p for p in dir.glob(suffix) if p.is_file() and p not in files))
    return files


def load_acquisition(path: Path | None, dir: Path | None = None) -> list[SourceSpec]:
    """The data sources of ``path`` (skipped if missing) and of ``dir``'s YAML files, in order."""
    specs: list[SourceSpec] = []
    for f in acquisition_files(path, dir):
        try:
            text = f.read_text(encoding="utf-8")
        except OSError as exc:
            raise AcquisitionConfigError(f"cannot read file: {exc.strerror or exc}", str(f)) from None
        except UnicodeDecodeError as exc:
            raise AcquisitionConfigError(f"file is not valid UTF-8 ({exc.reason})", str(f)) from None
        specs.extend(parse_acquisition(text, str(f)))
    return specs


def parse_acquisition(text: str, file: str) -> list[SourceSpec]:
    """The data sources of one acquisition file's text (environment variables expanded)."""
    try:
        docs = load_all(expand_env(text), file)
    except YamlError as exc:
        raise AcquisitionConfigError(exc.message, exc.file, exc.line, exc.col) from None
    return [_spec(doc, file) for doc in docs if not is_null(doc)]


def _error(message: str, file: str, line: int, col: int = 0) -> AcquisitionConfigError:
    return AcquisitionConfigError(message, file, line, col)


def _spec(doc: Any, file: str) -> SourceSpec:
    if not isinstance(doc, Mapping):
        line, col = pos_of(doc)
        raise _error("an acquisition document must be a mapping of keys", file, line, col)

    def at(key: str) -> tuple[int, int]:
        return doc.pos(key)

    for key in doc:
        if not isinstance(key, str):
            raise _error(f"invalid key {key!r}", file, *pos_of(key))

    source = as_str(doc["source"], "source", file) if "source" in doc else ""
    if not source:
        if "filename" in doc or "filenames" in doc:
            source = "file"
        elif "journalctl_filter" in doc:
            source = "journalctl"
        else:
            raise _error("missing 'source' field", file, doc.line, doc.col)
    if source not in SOURCES:
        raise _error(f"unknown source {source!r} (known: {', '.join(known_sources())})", file, *at("source"))

    allowed = COMMON_KEYS | option_keys(source)
    for key in doc:
        if key not in allowed:
            raise _error(
                f"unknown key {key!r} for source {source} (allowed: {', '.join(sorted(allowed))})",
                file,
                *at(key),
            )

    mode = as_str(doc.get("mode"), "mode", file) or "tail"
    if mode not in MODES:
        raise _error(f"mode: must be tail or cat, got {mode!r}", file, *at("mode"))

    labels = _labels(doc, source, file)
    name = as_str(doc.get("name"), "name", file)
    options: dict[str, Any] = {}
    for key, value in doc.items():
        if key in COMMON_KEYS and key not in PASSTHROUGH_KEYS:
            continue
        if key == "use_time_machine":
            options[key] = as_bool(value, key, file)
        else:
            options[key] = plain(value)
    return SourceSpec(
        source=source, labels=labels, file=file, line=doc.line, mode=mode, name=name, options=options
    )


def _labels(doc: Mapping, source: str, file: str) -> dict[str, str]:
    raw = doc.get("labels")
    if raw is None or is_null(raw):
        raw = Mapping()
    if not isinstance(raw, Mapping):
        raise _error("labels: expected a mapping", file, *pos_of(raw))
    labels: dict[str, str] = {}
    for k, v in raw.items():
        value = plain(v)
        if isinstance(value, dict | list):
            raise _error(f"labels.{k}: expected a string", file, *pos_of(v))
        labels[str(k)] = "" if value is None else str(v)
    if not labels.get("type"):
        from_containers = source == "docker" and plain(doc.get("use_container_labels")) is True
        if not from_containers:
            line, col = (raw.line, raw.col) if "labels" in doc else (doc.line, doc.col)
            raise _error("labels.type is required (it selects the parsers)", file, line, col)
    return labels

#!/usr/bin/env python3
"""(Re)generate ``src/crowdwatch/content/.index.json`` from the bundled content files.

The index has the hub's shape (HUB.md §2): items keyed by ``<author>/<file stem>`` under
their type, with ``path``, ``stage``, ``author``, ``version``, ``versions`` (SHA-256 digest),
``content`` (base64), ``description`` and ``labels``. ``--check`` exits 1 if the file is stale.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

CONTENT = Path(__file__).resolve().parent.parent / "src" / "crowdwatch" / "content"
STAGED = ("parsers", "postoverflows")
TYPES = ("parsers", "postoverflows", "scenarios", "collections", "contexts")
VERSION = "0.1"


def build_index(root: Path) -> dict[str, Any]:
    index: dict[str, Any] = {t: {} for t in TYPES}
    for type_ in TYPES:
        for path in sorted((root / type_).rglob("*.y*ml")):
            rel = path.relative_to(root)
            parts = rel.parts  # type/[stage/]author/file
            author = parts[-2]
            data = path.read_bytes()
            first = next((d for d in yaml.safe_load_all(data) if d), {}) or {}
            item: dict[str, Any] = {
                "path": rel.as_posix(),
                "author": author,
                "version": VERSION,
                "versions": {VERSION: {"digest": hashlib.sha256(data).hexdigest(), "deprecated": False}},
                "content": base64.b64encode(data).decode(),
                "labels": first.get("labels"),
            }
            if type_ in STAGED:
                item["stage"] = parts[1]
            if first.get("description"):
                item["description"] = first["description"]
            index[type_][f"{author}/{path.stem}"] = item
    return index


def render(root: Path) -> str:
    return json.dumps(build_index(root), indent=2, sort_keys=True) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content", type=Path, default=CONTENT)
    ap.add_argument("--check", action="store_true", help="only check that the index is up to date")
    args = ap.parse_args()
    target = args.content / ".index.json"
    text = render(args.content)
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run scripts/content_index.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

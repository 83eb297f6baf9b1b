"""Item selection for engines (collections expanded) and scenario hash/version (HUB.md §3)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.hub.conftest import write

from crowdwatch.hub import Hub
from crowdwatch.hub.index import HubItem
from crowdwatch.hub.loadout import item_state, select_items


def _versions(hub: Path, kind: str, name: str, versions: dict[str, str]) -> None:
    index = json.loads((hub / ".index.json").read_text())
    index[kind][name]["versions"] = {v: {"digest": d, "deprecated": False} for v, d in versions.items()}
    (hub / ".index.json").write_text(json.dumps(index))


def test_item_state_matching_modified_and_local(mini_hub: Path, tmp_path: Path) -> None:
    path = mini_hub / "scenarios/acme/web-bf.yaml"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _versions(mini_hub, "scenarios", "acme/web-bf", {"0.9": digest, "0.10": digest, "1.0": "0" * 64})
    hub = Hub(mini_hub)
    assert item_state(hub, hub.resolve("scenarios", "acme/web-bf")) == (digest, "0.10")
    by_path = hub.resolve("scenarios", "./scenarios/acme/web-bf.yaml")
    assert item_state(hub, by_path) == (digest, "0.10")  # a hub file named by path is still a hub item
    path.write_text("name: acme/web-bf\n# edited\n")
    assert item_state(hub, hub.resolve("scenarios", "acme/web-bf")) == (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        "?",
    )
    local = write(tmp_path / "mine/scenarios/x.yaml", "name: me/x\n")
    assert item_state(hub, HubItem("scenarios", "me/x", local)) == ("", "")


def test_select_items_expands_collections(mini_hub: Path) -> None:
    hub = Hub(mini_hub)
    got = select_items(hub, collections=["acme/web"], parsers=["acme/web-logs"])
    assert [i.name for i in got["parsers"]] == ["acme/web-logs", "acme/raw"]  # deduplicated
    assert [i.name for i in got["scenarios"]] == ["acme/web-bf"]
    assert got["postoverflows"] == []
    only = select_items(hub, parsers=["acme/raw"])
    assert [i.name for i in only["parsers"]] == ["acme/raw"] and only["scenarios"] == []


def test_select_everything_by_default(mini_hub: Path) -> None:
    got = select_items(Hub(mini_hub))
    assert sorted(i.name for i in got["parsers"]) == ["acme/raw", "acme/web-logs"]
    assert [i.name for i in got["scenarios"]] == ["acme/web-bf"]
    assert got["collections"] == []

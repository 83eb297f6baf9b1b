from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.hub.conftest import write

from crowdwatch.hub import Hub, HubError


def test_resolve_by_name(mini_hub: Path) -> None:
    item = Hub(mini_hub).resolve("parsers", "acme/web-logs")
    assert item.path == mini_hub / "parsers/s01-parse/acme/web-logs.yaml"
    assert item.stage == "s01-parse"
    assert item.file_name == "web-logs.yaml"
    assert Hub(mini_hub).resolve("scenarios", "acme/web-bf").stage == ""


def test_unknown_item_message_names_index(mini_hub: Path) -> None:
    with pytest.raises(HubError, match=r"unknown parser 'x/y': not in .*\.index\.json"):
        Hub(mini_hub).resolve("parsers", "x/y")


@pytest.mark.parametrize(
    "ref",
    [
        "./parsers/s01-parse/acme/web-logs.yaml",
        "parsers/s01-parse/acme/web-logs.yaml",
        "/parsers/s01-parse/acme/web-logs.yaml",
    ],
)
def test_resolve_path_against_hub_root(mini_hub: Path, ref: str) -> None:
    item = Hub(mini_hub).resolve("parsers", ref)
    assert item.path == mini_hub / "parsers/s01-parse/acme/web-logs.yaml"
    assert item.stage == "s01-parse"


def test_resolve_path_falls_back_to_test_dir(mini_hub: Path, tmp_path: Path) -> None:
    test_dir = tmp_path / "tests" / "t1"
    custom = write(test_dir / "parsers/s02-enrich/me/custom.yaml", "name: me/custom\n")
    item = Hub(mini_hub).resolve("parsers", "./parsers/s02-enrich/me/custom.yaml", test_dir=test_dir)
    assert item.path == custom
    assert item.stage == "s02-enrich"


def test_resolve_dot_tests_against_tests_root(mini_hub: Path, tmp_path: Path) -> None:
    root = tmp_path / "cases"
    custom = write(root / "geo/parsers/s02-enrich/me/geo.yaml", "name: me/geo\n")
    hub = Hub(mini_hub)
    ref = "./.tests/geo/parsers/s02-enrich/me/geo.yaml"
    assert hub.resolve("parsers", ref, tests_root=root).path == custom
    # default tests root: the parent of the test directory
    assert hub.resolve("parsers", ref, test_dir=root / "other").path == custom
    with pytest.raises(HubError, match="no such file"):
        hub.resolve("parsers", ".tests/nope/parsers/s02-enrich/me/geo.yaml", tests_root=root)


def test_missing_path_lists_candidates(mini_hub: Path, tmp_path: Path) -> None:
    with pytest.raises(HubError, match=r"tried .*hub/parsers/s01-parse/x/y\.yaml"):
        Hub(mini_hub).resolve("parsers", "./parsers/s01-parse/x/y.yaml", test_dir=tmp_path)


def test_collections_expand_recursively(mini_hub: Path) -> None:
    got = Hub(mini_hub).expand("collections", ["acme/web"])
    assert [i.name for i in got["parsers"]] == ["acme/web-logs", "acme/raw"]
    assert [i.name for i in got["scenarios"]] == ["acme/web-bf"]
    assert [i.name for i in got["collections"]] == ["acme/web", "acme/base"]


def test_collection_cycle_is_refused(mini_hub: Path) -> None:
    index = json.loads((mini_hub / ".index.json").read_text())
    index["collections"]["acme/base"]["collections"] = ["acme/web"]
    (mini_hub / ".index.json").write_text(json.dumps(index))
    with pytest.raises(HubError, match="cycle: acme/web -> acme/base -> acme/web"):
        Hub(mini_hub).expand("collections", ["acme/web"])


def test_hub_without_index_scans_directories(tmp_path: Path) -> None:
    write(tmp_path / "parsers/s01-parse/me/a.yaml", "")
    write(tmp_path / "parsers/s00-raw/me/b.yml", "")
    write(tmp_path / "parsers/s00-raw/me/README.md", "")
    write(tmp_path / "parsers/s00-raw/.hidden/c.yaml", "")
    hub = Hub(tmp_path)
    items = hub.all_parsers()
    assert [(i.stage, i.name) for i in items] == [("s00-raw", "me/b"), ("s01-parse", "me/a")]
    assert hub.resolve("parsers", "me/a").stage == "s01-parse"


def test_index_all_parsers(mini_hub: Path) -> None:
    assert [i.name for i in Hub(mini_hub).all_parsers()] == ["acme/raw", "acme/web-logs"]


def test_bad_index(tmp_path: Path) -> None:
    write(tmp_path / ".index.json", '{"parsers": {"a/b": {"path": "parsers/x/a/b.yaml"}}}')
    with pytest.raises(HubError, match="'a/b' has no stage"):
        Hub(tmp_path)
    (tmp_path / ".index.json").write_text("{nope")
    with pytest.raises(HubError, match="cannot read hub index"):
        Hub(tmp_path)
    with pytest.raises(HubError, match="does not exist"):
        Hub(tmp_path / "missing")


def test_shared_hub_resolution(shared_hub: Path) -> None:
    hub = Hub(shared_hub)
    item = hub.resolve("parsers", "crowdsecurity/nginx-logs")
    assert item.stage == "s01-parse" and item.path.is_file()
    assert hub.resolve("postoverflows", "crowdsecurity/ipv6_to_range").stage == "s00-enrich"
    got = hub.expand("collections", ["crowdsecurity/linux"])
    assert "crowdsecurity/sshd-logs" in [i.name for i in got["parsers"]]

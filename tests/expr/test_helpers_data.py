"""Data files, stash and the helpers reading them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crowdwatch.expr.errors import ExprRuntimeError
from crowdwatch.expr.helpers import datafiles, stash
from crowdwatch.expr.values import Duration

HUB_DATA = Path(__file__).resolve().parents[3] / "shared" / "hub" / "data"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    datafiles.reset()
    stash.reset()
    yield
    datafiles.reset()
    stash.reset()
    stash.set_clock(None)


def test_string_file_lines_not_trimmed(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_bytes(b"# comment\n a \r\n\nb\nc\t\n#x\nlast")
    datafiles.load(tmp_path, "l.txt", "string")
    assert datafiles.File("l.txt") == [" a ", "b", "c\t", "last"]


def test_load_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("a\n")
    datafiles.load(tmp_path, "l.txt", "string")
    (tmp_path / "l.txt").write_text("b\n")
    datafiles.load(str(tmp_path), "l.txt", "string")
    assert datafiles.File("l.txt") == ["a"]


def test_missing_file_is_empty_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crowdwatch.data"):
        datafiles.load(tmp_path, "nope.txt", "string")
        datafiles.load(tmp_path, "nope.regex", "regexp")
    assert "nope.txt" in caplog.text
    assert datafiles.File("nope.txt") == []
    assert datafiles.RegexpInFile("x", "nope.regex") is False


def test_not_loaded_file_logs_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="crowdwatch.data"):
        assert datafiles.File("never.txt") == []
        assert datafiles.LookupFile("x", "never.json") == ""
    assert "never.txt" in caplog.text


def test_unknown_type_is_load_error(tmp_path: Path) -> None:
    with pytest.raises(datafiles.DataFileError, match="unknown type"):
        datafiles.load(tmp_path, "x", "csv")


def test_regexp_file_skips_bad_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "r.txt").write_text("^foo\n(unclosed\nbar$\n")
    with caplog.at_level(logging.ERROR, logger="crowdwatch.data"):
        datafiles.load(tmp_path, "r.txt", "regex")
    assert "r.txt:2" in caplog.text
    assert datafiles.RegexpInFile("foobar", "r.txt")
    assert datafiles.RegexpInFile("xbar", "r.txt")
    assert not datafiles.RegexpInFile("xfoo", "r.txt")
    assert not datafiles.RegexpInFile("bar\n", "r.txt")  # RE2 `$` is end of text only


def test_regexp_file_with_result_cache(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("a+b\n")
    datafiles.load(tmp_path, "r.txt", "regexp", cache=True, strategy="LRU", size=2, ttl="10s")
    rf = datafiles._regexps["r.txt"]
    assert rf.cache is not None
    assert datafiles.RegexpInFile("xaab", "r.txt")
    assert not datafiles.RegexpInFile("xyz", "r.txt")
    assert len(rf.cache) == 2
    with pytest.raises(datafiles.DataFileError):
        datafiles.load(tmp_path, "other.txt", "regexp", ttl="ten")


def test_hub_regexp_files() -> None:
    datafiles.load(HUB_DATA, "bad_user_agents.regex.txt", "regexp")
    datafiles.load(HUB_DATA, "rdns_seo_bots.regex", "regexp")
    assert datafiles.RegexpInFile("Mozilla/5.00 (Nikto/2.1.6)", "bad_user_agents.regex.txt")
    assert not datafiles.RegexpInFile(
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "bad_user_agents.regex.txt"
    )
    assert datafiles.RegexpInFile("crawl-66-249-66-1.googlebot.com.", "rdns_seo_bots.regex")


def test_map_file_lookup_order(tmp_path: Path) -> None:
    rows = [
        '{"pattern": "/admin", "tag": "contains-admin", "type": "contains"}',
        '{"pattern": "/x/admin/y", "tag": "exact", "type": "equals"}',
        '{"pattern": "/x", "tag": "contains-x", "type": "contains"}',
        '{"pattern": "\\\\.php$", "tag": "php", "type": "regex"}',
        '{"pattern": "y", "tag": "bad", "type": "fuzzy"}',
        "not json",
    ]
    (tmp_path / "m.json").write_text("\n".join(rows) + "\n")
    datafiles.load(tmp_path, "m.json", "map")
    assert datafiles.LookupFile("/x/admin/y", "m.json") == "exact"
    assert datafiles.LookupFile("/x/admin/z", "m.json") == "contains-x"  # earliest occurrence wins
    assert datafiles.LookupFile("/q/admin", "m.json") == "contains-admin"
    assert datafiles.LookupFile("/index.php", "m.json") == "php"
    assert datafiles.LookupFile("/nothing", "m.json") == ""
    assert len(datafiles.FileMap("m.json")) == 4
    assert datafiles.FileMap("m.json")[0] == {
        "pattern": "/admin",
        "tag": "contains-admin",
        "type": "contains",
    }


def test_hub_technology_probing_map() -> None:
    datafiles.load(HUB_DATA, "technology_probing.json", "map")
    assert (
        datafiles.LookupFile("/ampps-admin/index.php", "technology_probing.json")
        == "ampps-admin-login-panel-probing"
    )
    assert datafiles.LookupFile("/definitely/not/a/tech", "technology_probing.json") == ""


def test_match_known_bot(tmp_path: Path) -> None:
    bots = [
        '{"name": "g", "user_agent": ["(?i)googlebot"], "ips": ["66.249.66.1"], "ranges": ["66.249.64.0/19"]}',
        '{"name": "p", "user_agent": ["pathbot"], "path": ["^/robots"]}',
    ]
    (tmp_path / "bots.json").write_text("\n".join(bots) + "\n{broken\n")
    datafiles.load(tmp_path, "bots.json", "bots")
    assert datafiles.MatchKnownBot("66.249.70.3", "Mozilla Googlebot/2.1", "/", "bots.json")
    assert not datafiles.MatchKnownBot("192.0.2.1", "Mozilla Googlebot/2.1", "/", "bots.json")
    assert datafiles.MatchKnownBot("192.0.2.1", "pathbot", "/robots.txt", "bots.json")
    assert not datafiles.MatchKnownBot("192.0.2.1", "pathbot", "/index", "bots.json")
    assert not datafiles.MatchKnownBot("66.249.66.1", "curl", "/", "bots.json")
    assert not datafiles.MatchKnownBot("66.249.66.1", "Googlebot", "/", "other.json")


def test_stash_lru_ttl_and_multiple_caches() -> None:
    now = [100.0]
    stash.set_clock(lambda: now[0])
    stash.define("c", 2, 10.0, "LRU")
    stash.set("c", "a", "1")
    stash.set("c", "b", "2")
    assert stash.get("c", "a") == "1"  # a is now most recent
    stash.set("c", "c", "3")  # evicts b
    assert stash.get("c", "b") == ""
    assert stash.get("c", "a") == "1"
    now[0] += 10.0
    assert stash.get("c", "a") == ""  # expired
    assert stash.get("unknown", "a") == ""
    stash.define("c", 5, 0, "LFU")  # second cache with the same name
    stash.set("c", "k", "v")
    assert all(cache.get("k") == "v" for cache in stash._caches["c"])
    with pytest.raises(ValueError):
        stash.define("d", 1, 1, "FIFO")


def test_stash_helpers() -> None:
    stash.define("s", 10, 60.0, "")
    assert stash.SetInStash("s", "k", "v", None) is None
    assert stash.GetFromStash("s", "k") == "v"
    assert stash.GetFromStash("s", "zz") == ""
    stash.SetInStash("s", "k2", "v2", Duration(0))
    assert stash.GetFromStash("s", "k2") == "v2"
    with pytest.raises(ExprRuntimeError):
        stash.GetFromStash("s", None)
    with pytest.raises(ExprRuntimeError):
        stash.SetInStash("undefined", "k", "v", None)

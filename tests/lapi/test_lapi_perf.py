"""What the performance work must not change: large stream answers sent in pieces, the
migration short-cut, cached JWT checks, allowlist and push caches, chunked imports."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from crowdwatch.lapi.auth import JwtSigner, TokenError
from crowdwatch.lapi.decisions import DecisionRecord, json_array
from crowdwatch.lapi.iprange import parse_ip
from crowdwatch.lapi.server.routes_decisions import STREAM_WHOLE_MAX
from crowdwatch.lapi.service import LapiService, Payload
from crowdwatch.lapi.storage.engine import _MIGRATIONS, WAL_AUTOCHECKPOINT_PAGES, head_revision
from crowdwatch.lapi.storage.tables import ACTIVE

from .helpers import BOUNCER_KEY, LiveServer, make_alert


def _import_alert(values: list[str], stamp: str | None = None) -> dict[str, object]:
    """cscli's ``decisions import``: one alert bringing its decisions (4h bans)."""
    stamp = stamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    decisions = [
        {"origin": "cscli", "type": "ban", "scope": "Ip", "value": v, "duration": "4h", "scenario": "import"}
        for v in values
    ]
    return make_alert("127.0.0.1", start_at=stamp, stop_at=stamp, decisions=decisions, remediation=False)


def test_head_revision_is_alembics_head() -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_large_startup_answer_is_streamed_whole(live: LiveServer) -> None:
    n = STREAM_WHOLE_MAX + 1500
    values = [f"10.9.{i >> 8 & 255}.{i & 255}" for i in range(n)]
    token = live.login()
    r = live.call("POST", "/v1/alerts", [_import_alert(values)], token=token)
    assert r.status == 201, r.body
    r = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY)
    assert r.status == 200 and r.headers.get("Transfer-Encoding") == "chunked"
    doc = r.json
    assert sorted(d["value"] for d in doc["new"]) == sorted(values) and doc["deleted"] == []
    assert {d["duration"][:2] for d in doc["new"]} <= {"3h", "4h"}
    small = live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY)  # deltas: nothing new
    assert small.json == {"new": [], "deleted": []} and "Transfer-Encoding" not in small.headers


def test_import_merges_duplicates_across_chunks(service: LapiService) -> None:
    """Rows are inserted 5000 at a time: a duplicate far from the row it merges into still
    extends that row instead of adding an active one."""
    values = [f"10.8.{i >> 8 & 255}.{i & 255}" for i in range(6000)] + ["10.8.0.1"]
    doc = _import_alert(values, "2030-01-01T00:00:00Z")  # the service's clock
    decisions = doc["decisions"]
    assert isinstance(decisions, list)
    decisions[-1]["duration"] = "9h"
    service.create_alerts("agent", [doc])
    records, _ = service.changes_since(0)
    active = [r for r in records if r.value == "10.8.0.1" and r.state == ACTIVE]
    assert len(active) == 1
    assert active[0].until - service.clock() > timedelta(hours=8)
    assert len({r.value for r in records if r.state == ACTIVE and r.value.startswith("10.8.")}) == 6000


def test_payload_is_handed_over_once() -> None:
    box = Payload([1, 2])
    assert box.take() == [1, 2] and box.take() is None


def test_cached_token_still_expires_and_forgeries_fail() -> None:
    signer = JwtSigner("s" * 64, ttl=timedelta(seconds=2))
    token = signer.issue("agent", datetime.now(UTC)).token
    assert signer.verify(token).machine_id == "agent"
    assert signer.verify(token).machine_id == "agent"  # from the cache
    head, payload, sig = token.split(".")
    with pytest.raises(TokenError):
        signer.verify(f"{head}.{payload}.{sig[:-2]}AA")
    with pytest.raises(TokenError):
        JwtSigner("t" * 64).verify(token)
    time.sleep(2.1)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token)
    assert signer.verify(token, allow_expired=True).machine_id == "agent"


def test_allowlist_added_by_another_service_applies_within_a_second(service: LapiService) -> None:
    """Another process (a CLI on the same database) adds an allowlist entry: the cached copy
    the alert path uses is re-read within ALLOWLIST_TTL."""
    assert service.create_alerts("agent", [make_alert("192.0.2.7")])
    other = LapiService(service.db, [], clock=service.clock)
    other.create_allowlist("cli")
    other.add_allowlist_items("cli", ["192.0.2.0/24"])
    time.sleep(1.1)
    assert service.create_alerts("agent", [make_alert("192.0.2.8")]) == []


def test_wire_form_of_records() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    ip = parse_ip("1.2.3.4")
    rec = DecisionRecord(
        7, "u-1", "cscli", "ban", "Ip", "1.2.3.4", "s", now + timedelta(hours=1), False, ACTIVE, 1, 1, ip
    )
    assert (
        orjson.loads(json_array([rec, rec], now))
        == [
            {
                "id": 7,
                "uuid": "u-1",
                "origin": "cscli",
                "type": "ban",
                "scope": "Ip",
                "value": "1.2.3.4",
                "scenario": "s",
                "simulated": False,
                "until": "2030-01-01T01:00:00Z",
                "duration": "1h0m0s",
            }
        ]
        * 2
    )
    assert json_array([], now) == b"[]"


def test_sqlite_checkpoints_leave_the_commit_path(service: LapiService) -> None:
    db = service.db
    if db.dialect != "sqlite":
        pytest.skip("SQLite only")
    with db.write.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_AUTOCHECKPOINT_PAGES
    service.create_alerts("agent", [make_alert("192.0.2.9")])
    service.checkpoint()  # PASSIVE, from a read-only connection
    with db.read.connect() as conn:
        busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log == done

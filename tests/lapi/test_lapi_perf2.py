"""Round 2 of the LAPI performance work: what it must not change. Large alert bodies parsed a
decision at a time give what a whole parse gives (and the same errors); compact index records
read back exactly what they were given; SQLite's direct statements store what SQLAlchemy
would; the index finds, replaces and removes decisions without a table by id."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

import crowdwatch.lapi.service as svc_mod
from crowdwatch.lapi.alerts import AlertIn, parse_alert, parse_alerts_text
from crowdwatch.lapi.decisions import DecisionFilter, DecisionRecord
from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.iprange import for_scope
from crowdwatch.lapi.service import STREAM_PARSE_MIN, LapiService, Payload
from crowdwatch.lapi.storage import alerts as alert_store
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED, Alert, Decision
from crowdwatch.lapi.stream import DecisionIndex

from .helpers import BOUNCER_KEY, LiveServer, make_alert

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ALL = DecisionFilter().predicate()


def _import(values: list[str], **extra: Any) -> dict[str, Any]:
    decisions = [
        {"origin": "cscli", "type": "ban", "scope": "Ip", "value": v, "duration": "4h", "scenario": "import"}
        for v in values
    ]
    return make_alert("127.0.0.1", decisions=decisions, remediation=False, **extra)


def _parse_whole(text: str) -> list[AlertIn]:
    return [parse_alert(doc, f"alerts[{i}]") for i, doc in enumerate(json.loads(text))]


def _parse_streamed(text: str) -> list[AlertIn]:
    return [parse_alert(doc, f"alerts[{i}]") for i, doc in enumerate(parse_alerts_text(text))]


def _error(parse: Any, text: str) -> str:
    with pytest.raises((BadRequest, ValueError)) as info:
        parse(text)
    exc = info.value
    return exc.message if isinstance(exc, BadRequest) else "invalid JSON"


def test_streamed_parse_equals_whole_parse() -> None:
    docs = [
        _import([f"10.0.0.{i}" for i in range(50)], labels=["a", "b"]),
        make_alert("1.2.3.4", decisions=[], meta=[{"key": "k", "value": "v"}]),
        make_alert("5.6.7.8"),  # no decisions key: profiles decide
    ]
    text = " \n" + json.dumps(docs, indent=1) + "\n"
    assert _parse_streamed(text) == _parse_whole(text)
    compact = orjson.dumps(docs).decode()
    assert _parse_streamed(compact) == _parse_whole(compact)
    assert parse_alerts_text("[]") == [] and parse_alerts_text('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["decisions"][3].pop("type"),  # a decision error...
        lambda d: (d.pop("scenario"), d["decisions"][3].pop("type")),  # ...after the alert's own
        lambda d: d["decisions"].__setitem__(1, "not an object"),
        lambda d: d["decisions"][2].__setitem__("duration", "4 hours"),
        lambda d: d.__setitem__("decisions", {"not": "a list"}),
    ],
)
def test_streamed_parse_reports_the_same_first_error(mutate: Any) -> None:
    doc = _import([f"10.0.0.{i}" for i in range(6)])
    mutate(doc)
    text = json.dumps([make_alert("9.9.9.9"), doc])
    assert _error(_parse_streamed, text) == _error(_parse_whole, text)


@pytest.mark.parametrize(
    "text",
    [
        '[{"decisions": [{"a": 1},]}]',  # trailing comma
        '[{"decisions": [{"a": 1}] "x": 1}]',
        '[{"decisions": [NaN]}]',
        "[{}] extra",
        '[{"a": 1}',
        "[1 2]",
    ],
)
def test_streamed_parse_refuses_invalid_json(text: str) -> None:
    with pytest.raises(ValueError):
        parse_alerts_text(text)


def test_large_body_through_the_service(service: LapiService, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 12_000
    values = [f"10.7.{i >> 8 & 255}.{i & 255}" for i in range(n)]
    doc = _import(values, stop_at="2030-01-01T00:00:00Z")  # the service's clock
    doc["decisions"][-1]["duration"] = "9h"
    doc["decisions"].append(dict(doc["decisions"][0], value="10.7.0.5"))  # a duplicate: merged
    body = bytearray(orjson.dumps([doc]))
    monkeypatch.setattr(svc_mod, "STREAM_PARSE_MIN", 1024)
    (ids,) = service.create_alerts_many([("agent", Payload(body))])
    assert isinstance(ids, list) and len(ids) == 1
    assert body == b""  # the buffer was released once decoded
    records, _ = service.changes_since(0)
    active = {r.value: r for r in records if r.state == ACTIVE}
    assert len(active) == n
    assert active[values[-1]].until - NOW > timedelta(hours=8)


def test_bad_large_body_is_a_bad_request(service: LapiService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svc_mod, "STREAM_PARSE_MIN", 8)
    for body in (b'[{"decisions": [1,,]}]', b"[\xff\xfe]"):
        (res,) = service.create_alerts_many([("agent", Payload(bytearray(body)))])
        assert isinstance(res, BadRequest) and res.message.startswith("invalid JSON body")


def test_import_over_the_threshold_via_http(live: LiveServer) -> None:
    n = 14_000  # ~1.4 MB: parsed a decision at a time
    values = [f"10.6.{i >> 8 & 255}.{i & 255}" for i in range(n)]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc = _import(values, start_at=stamp, stop_at=stamp, message="x" * 64)
    assert len(orjson.dumps([doc])) > STREAM_PARSE_MIN
    r = live.call("POST", "/v1/alerts", [doc], token=live.login())
    assert r.status == 201, r.body
    got = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json
    assert sorted(d["value"] for d in got["new"]) == sorted(values)
    bad = live.call("POST", "/v1/alerts", None, token=live.login(), raw=b"[" + b" " * STREAM_PARSE_MIN + b"{")
    assert bad.status == 400 and bad.json["message"].startswith("invalid JSON body")


def _rec(id: int, value: str, scope: str = "Ip", **kw: Any) -> DecisionRecord:
    return DecisionRecord(
        id,
        str(kw.get("uuid", uuid.uuid4())),
        "crowdsec",
        str(kw.get("type", "ban")),
        scope,
        value,
        "s",
        NOW + timedelta(hours=4),
        bool(kw.get("simulated", False)),
        int(kw.get("state", ACTIVE)),
        int(kw.get("seq", 1)),
        1,
        for_scope(scope, value),
    )


@pytest.mark.parametrize(
    ("scope", "value"),
    [
        ("Ip", "1.2.3.4"),
        ("Ip", "2001:db8::1"),
        ("Ip", "::ffff:1.2.3.4"),  # kept as given: not the canonical text of its block
        ("Range", "10.0.0.0/8"),
        ("Range", "1.2.3.4/32"),
        ("Range", "2001:db8::/32"),
        ("Range", "1.2.3.4"),
        ("Country", "FR"),
        ("Ip", "not an address"),
    ],
)
def test_compact_record_reads_back_what_it_was_given(scope: str, value: str) -> None:
    u = str(uuid.uuid4())
    r = _rec(1, value, scope, uuid=u)
    assert (r.value, r.uuid, r.simulated) == (value, u, False)
    assert r.to_dict(NOW)["value"] == value and r.to_dict(NOW)["uuid"] == u
    if r.ip is not None:
        assert r.ip.text == value
    odd = _rec(2, value, scope, uuid="U-not-canonical", simulated=True)
    assert (odd.uuid, odd.simulated, odd.value) == ("U-not-canonical", True, value)
    upper = u.upper()
    assert _rec(3, value, scope, uuid=upper).uuid == upper


def test_index_replaces_and_removes_by_id_among_records_sharing_a_key() -> None:
    idx = DecisionIndex()
    idx.apply(
        [
            _rec(1, "1.2.3.4"),
            _rec(2, "1.2.3.4", type="captcha"),
            _rec(3, "FR", "Country"),
            _rec(4, "FR", "Country", type="captcha"),
        ],
        NOW,
    )
    assert len(idx) == 4 and sorted(idx.active) == [1, 2, 3, 4]
    idx.apply([_rec(2, "1.2.3.4", type="captcha", state=DELETED, seq=2)], NOW)
    idx.apply([_rec(4, "FR", "Country", type="captcha", state=DELETED, seq=3)], NOW)
    assert sorted(idx.active) == [1, 3] and len(idx) == 2
    assert [r.id for r in idx.stream(1, ALL, NOW).deleted] == [2, 4]
    again = _rec(1, "1.2.3.4", seq=4)  # a change of the same decision replaces it
    idx.apply([again], NOW)
    now_held = idx.active[1]
    assert (now_held.seq, now_held.to_dict(NOW)) == (4, again.to_dict(NOW)) and len(idx) == 2
    assert [r.id for r in idx.containing(again.ip, ALL, NOW)] == [1]  # type: ignore[arg-type]
    assert idx.active_counts(NOW) == {("crowdsec", "ban", "s"): 2}


def test_direct_sqlite_statements_store_what_sqlalchemy_reads(service: LapiService) -> None:
    assert set(alert_store._COLUMNS) == set(alert_store._row("m", _parsed(make_alert()), NOW))
    (ids,) = service.create_alerts_many([("agent", [make_alert("192.0.2.9")])])
    assert isinstance(ids, list)
    with service.db.read.connect() as conn:
        alert = conn.execute(select(Alert).where(Alert.id == int(ids[0]))).one()
        dec = conn.execute(select(Decision).where(Decision.alert_id == int(ids[0]))).one()
    assert alert.stop_at == datetime(2030, 1, 1) and alert.source_value == "192.0.2.9"
    assert alert.simulated is False and alert.remediation is True
    assert dec.value == "192.0.2.9" and dec.until > datetime(2030, 1, 1) and dec.simulated is False
    assert dec.start_ip == (0xFFFF << 32 | 0xC0000209).to_bytes(16, "big")


def _parsed(doc: dict[str, Any]) -> AlertIn:
    return parse_alert(doc)


def test_inline_push_waits_for_another_writer_without_blocking_bouncers(live: LiveServer) -> None:
    """SQLite pushes are stored on the event loop when nothing else writes; when another
    process holds the write lock they go to the writer thread (and wait there), so bouncers are
    still answered meanwhile."""
    db = live.service.db
    if db.dialect != "sqlite":
        pytest.skip("the inline path is SQLite's")
    token = live.login()
    first = live.call("POST", "/v1/alerts", [make_alert("192.0.2.1")], token=token)
    assert first.status == 201  # stored inline
    path = db.write.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    done: dict[str, Any] = {}

    def push() -> None:
        done["reply"] = live.call("POST", "/v1/alerts", [make_alert("192.0.2.2")], token=token)

    thread = threading.Thread(target=push)
    thread.start()
    try:
        time.sleep(0.3)
        assert "reply" not in done  # waiting for the lock...
        t0 = time.monotonic()
        r = live.call("GET", "/v1/decisions?ip=192.0.2.1", key=BOUNCER_KEY)
        assert r.status == 200 and [d["value"] for d in r.json] == ["192.0.2.1"]
        assert time.monotonic() - t0 < 1.0  # ...but not on the event loop
    finally:
        other.execute("COMMIT")
        other.close()
        thread.join(30)
    assert done["reply"].status == 201, done["reply"].body
    r = live.call("GET", "/v1/decisions?ip=192.0.2.2", key=BOUNCER_KEY)
    assert [d["value"] for d in r.json] == ["192.0.2.2"]

"""The HTTP API against a real server: routes, auth, error shapes, stream deltas."""

from __future__ import annotations

import time
from datetime import timedelta

import orjson
import pytest

from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database

from .helpers import BOUNCER_KEY, LiveServer, make_alert


def _push(live: LiveServer, token: str, *alerts: dict[str, object]) -> list[str]:
    r = live.call("POST", "/v1/alerts", list(alerts), token=token)
    assert r.status == 201, r.body
    return list(r.json)


def _now_alert(value: str = "1.2.3.4", **over: object) -> dict[str, object]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return make_alert(value, start_at=stamp, stop_at=stamp, **over)


def test_health_and_unknown_route(live: LiveServer) -> None:
    assert live.call("GET", "/health").json == {"status": "up"}
    r = live.call("GET", "/v1/nope")
    assert r.status == 404 and "message" in r.json


def test_register_validate_login(live: LiveServer) -> None:
    r = live.call("POST", "/v1/watchers", {"machine_id": "new", "password": "pw-new"})
    assert r.status == 201
    r = live.call("POST", "/v1/watchers", {"machine_id": "new", "password": "pw-new"})
    assert r.status == 403 and "already exist" in r.json["message"]
    r = live.call("POST", "/v1/watchers/login", {"machine_id": "new", "password": "pw-new"})
    assert r.status == 403 and r.json == {"message": "machine new not validated"}
    live.service.validate_machine("new")
    r = live.call(
        "POST", "/v1/watchers/login", {"machine_id": "new", "password": "pw-new", "scenarios": ["a/b"]}
    )
    assert r.status == 200 and r.json["code"] == 200 and r.json["expire"].endswith("Z") and r.json["token"]
    r = live.call("POST", "/v1/watchers/login", {"machine_id": "new", "password": "wrong"})
    assert r.status == 403 and r.json == {"message": "incorrect Username or Password"}


def test_refresh_heartbeat_delete_self(live: LiveServer) -> None:
    token = live.login()
    r = live.call("GET", "/v1/refresh", token=token)
    assert r.status == 200 and r.json["token"]
    assert live.call("GET", "/v1/heartbeat", token=r.json["token"]).status == 200
    assert live.call("DELETE", "/v1/watchers/self", token=token).status == 204
    assert live.call("GET", "/v1/heartbeat", token=token).status == 401
    assert (
        live.call("POST", "/v1/watchers/login", {"machine_id": "agent", "password": "agent-password"}).status
        == 403
    )


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/v1/decisions", "bouncer"),
        ("GET", "/v1/decisions/stream", "bouncer"),
        ("DELETE", "/v1/decisions", "machine"),
        ("DELETE", "/v1/decisions/1", "machine"),
        ("GET", "/v1/alerts", "machine"),
        ("POST", "/v1/alerts", "machine"),
        ("DELETE", "/v1/alerts", "machine"),
        ("GET", "/v1/alerts/1", "machine"),
        ("DELETE", "/v1/alerts/1", "machine"),
        ("GET", "/v1/heartbeat", "machine"),
        ("DELETE", "/v1/watchers/self", "machine"),
        ("GET", "/v1/allowlists", "machine"),
        ("GET", "/v1/allowlists/x", "machine"),
        ("GET", "/v1/allowlists/check/1.2.3.4", "machine"),
        ("POST", "/v1/allowlists/check", "machine"),
    ],
)
def test_every_route_checks_the_caller(live: LiveServer, method: str, path: str, role: str) -> None:
    token = live.login()
    expired = live.service.jwt.issue("agent", live.service.clock() - timedelta(hours=3)).token
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    body = [] if method == "POST" else None
    attempts = [{}, {"key": "wrong-key-123456"}, {"token": tampered}, {"token": expired}]
    attempts.append({"token": token} if role == "bouncer" else {"key": BOUNCER_KEY})
    for creds in attempts:
        r = live.call(method, path, body, **creds)  # type: ignore[arg-type]
        assert r.status in (401, 403), (creds, r.status, r.body)
        assert isinstance(r.json["message"], str)


def test_alert_to_decision_to_stream_and_back(live: LiveServer) -> None:
    token = live.login()
    first = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY)
    assert first.json == {"new": [], "deleted": []}
    assert _push(live, token, _now_alert("1.2.3.4"), _now_alert("10.0.0.0/24", scope="Range")) == ["1", "2"]
    r = live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY)
    new = {d["value"]: d for d in r.json["new"]}
    assert set(new) == {"1.2.3.4", "10.0.0.0/24"} and r.json["deleted"] == []
    d = new["1.2.3.4"]
    assert (d["origin"], d["type"], d["scope"], d["scenario"]) == (
        "crowdsec",
        "ban",
        "Ip",
        "crowdsecurity/ssh-bf",
    )
    assert d["duration"].startswith(("3h59m", "4h0m0s"))
    assert live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json == {"new": [], "deleted": []}
    r = live.call("GET", "/v1/decisions?ip=10.0.0.7", key=BOUNCER_KEY)
    assert [x["value"] for x in r.json] == ["10.0.0.0/24"]
    assert live.call("GET", "/v1/decisions?ip=10.0.1.7", key=BOUNCER_KEY).json == []
    r = live.call("GET", "/v1/decisions?range=10.0.0.0/8&contains=false", key=BOUNCER_KEY)
    assert [x["value"] for x in r.json] == ["10.0.0.0/24"]
    r = live.call("DELETE", "/v1/decisions?ip=1.2.3.4", token=token)
    assert r.json == {"nbDeleted": "1"}
    r = live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY)
    assert r.json["new"] == [] and [x["value"] for x in r.json["deleted"]] == ["1.2.3.4"]
    r = live.call("DELETE", f"/v1/decisions/{new['10.0.0.0/24']['id']}", token=token)
    assert r.json == {"nbDeleted": "1"}
    assert live.call("DELETE", "/v1/decisions/999", token=token).status == 404
    r = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY)
    assert r.json == {"new": [], "deleted": []}


def test_stream_filters(live: LiveServer) -> None:
    token = live.login()
    _push(live, token, _now_alert("1.2.3.4"), _now_alert("bob", scope="username"))
    # a username alert gets no decision from the default profiles: add one like cscli does
    cscli = _now_alert("alice", scope="Username")
    cscli["decisions"] = [
        {
            "origin": "cscli",
            "type": "ban",
            "scope": "Username",
            "value": "alice",
            "duration": "1h",
            "scenario": "x",
        }
    ]
    _push(live, token, cscli)
    default = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json
    assert [d["value"] for d in default["new"]] == ["1.2.3.4"]  # scopes default to ip,range
    users = live.call("GET", "/v1/decisions/stream?startup=true&scopes=username", key=BOUNCER_KEY).json
    assert [d["value"] for d in users["new"]] == ["alice"]
    r = live.call(
        "GET", "/v1/decisions/stream?startup=true&scopes=ip,username&origins=cscli", key=BOUNCER_KEY
    )
    assert [d["value"] for d in r.json["new"]] == ["alice"]


def test_alerts_search_get_delete(live: LiveServer) -> None:
    token = live.login()
    _push(live, token, _now_alert("1.2.3.4"), _now_alert("5.6.7.8", scenario="crowdsecurity/http-probing"))
    all_ = live.call("GET", "/v1/alerts", token=token).json
    assert [a["id"] for a in all_] == [2, 1] and all_[0]["machine_id"] == "agent"
    assert all_[1]["events"][0]["meta"] == [{"key": "source_ip", "value": "1.2.3.4"}]
    r = live.call(
        "GET", "/v1/alerts?scenario=crowdsecurity/http-probing&has_active_decision=true", token=token
    )
    assert [a["source"]["value"] for a in r.json] == ["5.6.7.8"]
    assert [a["id"] for a in live.call("GET", "/v1/alerts?ip=1.2.3.4", token=token).json] == [1]
    assert [a["id"] for a in live.call("GET", "/v1/alerts?limit=1", token=token).json] == [2]
    assert live.call("GET", "/v1/alerts?since=1h", token=token).json != []
    assert live.call("GET", "/v1/alerts?until=1h", token=token).json == []
    one = live.call("GET", "/v1/alerts/1", token=token)
    assert one.status == 200 and one.json["decisions"][0]["value"] == "1.2.3.4"
    assert live.call("HEAD", "/v1/alerts/1", token=token).body == b""
    assert live.call("GET", "/v1/alerts/99", token=token).status == 404
    assert live.call("GET", "/v1/alerts/abc", token=token).status == 400
    assert live.call("DELETE", "/v1/alerts/1", token=token).json == {"nbDeleted": "1"}
    assert live.call("DELETE", "/v1/alerts?scope=Ip", token=token).json == {"nbDeleted": "1"}
    stream = live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json
    assert stream["new"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/decisions?ip=999.1.1.1", None),
        ("GET", "/v1/decisions?contains=maybe", None),
        ("GET", "/v1/decisions?ip=1.2.3.4&range=1.2.3.0/24", None),
        ("GET", "/v1/alerts?limit=-3", None),
        ("GET", "/v1/alerts?since=yesterday", None),
        ("POST", "/v1/alerts", {"not": "a list"}),
        ("POST", "/v1/alerts", [{"scenario": "x"}]),
        ("POST", "/v1/alerts", [make_alert(start_at="not a date")]),
        ("POST", "/v1/alerts", [make_alert(events_count="many")]),
        ("POST", "/v1/alerts", [make_alert(source={"scope": "Ip"})]),
        ("POST", "/v1/alerts", [make_alert(scenario="x" * 300)]),
        ("POST", "/v1/alerts", [make_alert(decisions=[{"type": "ban"}])]),
        (
            "POST",
            "/v1/alerts",
            [
                make_alert(
                    decisions=[
                        {
                            "origin": "cscli",
                            "type": "ban",
                            "scope": "Ip",
                            "value": "nope",
                            "duration": "1h",
                            "scenario": "x",
                        }
                    ]
                )
            ],
        ),
        (
            "POST",
            "/v1/alerts",
            [
                make_alert(
                    decisions=[
                        {
                            "origin": "cscli",
                            "type": "ban",
                            "scope": "Ip",
                            "value": "1.2.3.4",
                            "duration": "eternity",
                            "scenario": "x",
                        }
                    ]
                )
            ],
        ),
    ],
)
def test_bad_input_is_a_clear_400(live: LiveServer, method: str, path: str, body: object) -> None:
    token = live.login()
    creds = {"key": BOUNCER_KEY} if path.startswith("/v1/decisions") else {"token": token}
    r = live.call(method, path, body, **creds)  # type: ignore[arg-type]
    assert r.status == 400, r.body
    assert r.json["message"]


def test_malformed_injected_and_oversized_requests(live: LiveServer) -> None:
    token = live.login()
    r = live.call("POST", "/v1/alerts", raw=b"{not json", token=token)
    assert r.status == 400 and r.json["message"].startswith("invalid JSON body")
    r = live.call("GET", "/v1/decisions?value=%27%20OR%201%3D1%20--&scope=ip", key=BOUNCER_KEY)
    assert r.status == 200 and r.json == []
    r = live.call("GET", "/v1/alerts?scenario=%27%3B%20DROP%20TABLE%20alerts%3B%20--", token=token)
    assert r.status == 200 and r.json == []
    r = live.call("POST", "/v1/alerts", raw=b"[" + b" " * (33 * 1024 * 1024) + b"]", token=token)
    assert r.status == 413 and r.json["message"]
    assert live.call("GET", "/v1/alerts", token=token).status == 200


def test_head_variants_have_no_body_and_consume_nothing(live: LiveServer) -> None:
    r = live.call("HEAD", "/v1/decisions", key=BOUNCER_KEY)
    assert r.status == 200 and r.body == b""
    r = live.call("HEAD", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY)
    assert r.status == 200 and r.body == b""
    live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY)
    _push(live, live.login(), _now_alert("9.9.9.9"))
    assert live.call("HEAD", "/v1/decisions/stream", key=BOUNCER_KEY).status == 200
    got = live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json
    assert [d["value"] for d in got["new"]] == ["9.9.9.9"]


def test_usage_metrics(live: LiveServer) -> None:
    body = {"remediation_components": [{"version": "1", "utc_startup_timestamp": 1, "type": "fw"}]}
    assert live.call("POST", "/v1/usage-metrics", body, key=BOUNCER_KEY).json == {"message": "ok"}
    lp = {
        "log_processors": [{"version": "1", "utc_startup_timestamp": 1, "hub_items": {}, "datasources": {}}]
    }
    assert live.call("POST", "/v1/usage-metrics", lp, token=live.login()).status == 200
    assert live.call("POST", "/v1/usage-metrics", [], key=BOUNCER_KEY).status == 400


def test_allowlists(live: LiveServer) -> None:
    token = live.login()
    _push(live, token, _now_alert("192.168.1.10"))
    svc = live.service
    svc.create_allowlist("office", "the office")
    removed = svc.add_allowlist_items("office", ["192.168.1.0/24"], "lan")
    assert removed == 1
    # the removal reaches bouncers (the server polls the database every second)
    deadline = time.monotonic() + 5
    while (
        live.call("GET", "/v1/decisions?ip=192.168.1.10", key=BOUNCER_KEY).json
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert live.call("GET", "/v1/decisions?ip=192.168.1.10", key=BOUNCER_KEY).json == []
    assert _push(live, token, _now_alert("192.168.1.11")) == []  # allowlisted source: dropped
    lists = live.call("GET", "/v1/allowlists", token=token).json
    assert [(al["name"], [i["value"] for i in al["items"]]) for al in lists] == [
        ("office", ["192.168.1.0/24"])
    ]
    assert live.call("GET", "/v1/allowlists/office", token=token).json["description"] == "the office"
    assert live.call("GET", "/v1/allowlists/nope", token=token).status == 404
    r = live.call("GET", "/v1/allowlists/check/192.168.1.99", token=token)
    assert r.json == {"allowlisted": True, "reason": "192.168.1.0/24 from office (lan)"}
    assert live.call("GET", "/v1/allowlists/check/8.8.8.8", token=token).json["allowlisted"] is False
    assert live.call("HEAD", "/v1/allowlists/check/192.168.1.99", token=token).status == 200
    assert live.call("HEAD", "/v1/allowlists/check/8.8.8.8", token=token).status == 204
    assert live.call("GET", "/v1/allowlists/check/nonsense", token=token).status == 400
    r = live.call("POST", "/v1/allowlists/check", {"targets": ["192.168.1.1", "8.8.8.8"]}, token=token)
    assert r.json == {
        "results": [{"target": "192.168.1.1", "allowlists": ["192.168.1.0/24 from office (lan)"]}]
    }
    svc.remove_allowlist_items("office", ["192.168.1.0/24"])
    assert live.call("GET", "/v1/allowlists/check/192.168.1.99", token=token).json["allowlisted"] is False


def test_two_servers_on_one_database_serve_the_same_decisions(live: LiveServer, db: Database) -> None:
    """High availability: a decision added through one LAPI appears in the other's stream."""
    other = LiveServer(LapiService(db, live.service.profiles))
    try:
        assert other.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json["new"] == []
        assert live.call("GET", "/v1/decisions/stream?startup=true", key=BOUNCER_KEY).json["new"] == []
        token = live.login()
        _push(live, token, _now_alert("7.7.7.7"))
        assert [
            d["value"] for d in live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json["new"]
        ] == ["7.7.7.7"]
        deadline = time.monotonic() + 5
        seen: list[str] = []
        while not seen and time.monotonic() < deadline:
            time.sleep(0.2)
            seen = [
                d["value"] for d in other.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json["new"]
            ]
        assert seen == ["7.7.7.7"]
        if db.dialect != "sqlite":  # shared cursors: what one process served, the other does not resend
            _push(live, token, _now_alert("8.8.8.8"))
            time.sleep(1.5)  # other's next database poll
            got = other.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json
            assert [d["value"] for d in got["new"]] == ["8.8.8.8"]
            time.sleep(2.5)  # cursors are written back every 2 s
            assert live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json == {
                "new": [],
                "deleted": [],
            }
        other_token = other.login()  # same JWT secret: tokens of one are valid on the other
        assert other.call("GET", "/v1/heartbeat", token=token).status == 200
        assert other.call("DELETE", "/v1/decisions?ip=7.7.7.7", token=other_token).json == {"nbDeleted": "1"}
        deadline = time.monotonic() + 5
        gone = []
        while not gone and time.monotonic() < deadline:
            time.sleep(0.2)
            gone = [
                d["value"] for d in live.call("GET", "/v1/decisions/stream", key=BOUNCER_KEY).json["deleted"]
            ]
        assert gone == ["7.7.7.7"]
        assert live.call("GET", "/v1/decisions?ip=7.7.7.7", key=BOUNCER_KEY).json == []
    finally:
        other.stop()


def test_error_bodies_are_json_never_tracebacks(live: LiveServer) -> None:
    token = live.login()
    for r in (
        live.call("PUT", "/v1/alerts", token=token),
        live.call("POST", "/v1/watchers", raw=b"\xff\xfe"),
        live.call("POST", "/v1/watchers/login", {"machine_id": 5, "password": []}),
    ):
        assert 400 <= r.status < 500
        doc = orjson.loads(r.body)
        assert set(doc) == {"message"} and "Traceback" not in doc["message"]

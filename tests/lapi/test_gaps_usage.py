"""POST /v1/usage-metrics: validated like the v1 spec says, stored (newest few per component),
readable back, and shown by ``bouncers inspect``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crowdwatch.lapi import usage
from crowdwatch.lapi.storage import Database

from .helpers import BOUNCER_KEY, LiveServer

PATH = "/v1/usage-metrics"


def rc_report(now: int = 1_900_000_000, dropped: float = 12) -> dict[str, Any]:
    return {
        "remediation_components": [
            {
                "version": "v0.0.30",
                "type": "crowdsec-firewall-bouncer",
                "name": "fw",
                "os": {"name": "debian", "version": "12"},
                "feature_flags": [],
                "utc_startup_timestamp": now - 600,
                "last_pull": now - 5,
                "metrics": [
                    {
                        "meta": {"window_size_seconds": 600, "utc_now_timestamp": now},
                        "items": [
                            {
                                "name": "dropped",
                                "value": dropped,
                                "unit": "byte",
                                "labels": {"origin": "CAPI"},
                            },
                            {"name": "active_decisions", "value": 3, "unit": "ip"},
                        ],
                    }
                ],
            }
        ]
    }


def lp_report(now: int = 1_900_000_000) -> dict[str, Any]:
    return {
        "log_processors": [
            {
                "version": "v1.6.4",
                "utc_startup_timestamp": now - 60,
                "hub_items": {
                    "parsers": [{"name": "crowdsecurity/sshd-logs", "version": "2.9", "status": "official"}]
                },
                "datasources": {"file": 2},
                "metrics": [
                    {
                        "meta": {"window_size_seconds": 60, "utc_now_timestamp": now},
                        "items": [{"name": "parsed", "value": 42, "unit": "line"}],
                    }
                ],
            }
        ]
    }


def test_bouncer_report_is_stored_and_read_back(live: LiveServer, db: Database) -> None:
    r = live.call("POST", PATH, rc_report(), key=BOUNCER_KEY)
    assert (r.status, r.json) == (200, {"message": "ok"})
    (got,) = usage.latest(db, usage.BOUNCER, "fw", limit=5)
    assert got["collected_at"] == "2030-03-17T17:46:40Z"  # the metrics window's utc_now_timestamp
    assert got["type"] == "crowdsec-firewall-bouncer"
    assert got["metrics"][0]["items"][0] == {
        "name": "dropped",
        "value": 12,
        "unit": "byte",
        "labels": {"origin": "CAPI"},
    }
    line = usage.summary(got)
    assert "version v0.0.30" in line and "dropped=12 byte {origin=CAPI} /600s" in line
    # sent again (its answer was lost): stored once
    assert live.call("POST", PATH, rc_report(), key=BOUNCER_KEY).status == 200
    assert len(usage.latest(db, usage.BOUNCER, "fw", limit=5)) == 1
    assert usage.latest(db, usage.AGENT, "fw") == []


def test_agent_report_is_stored_under_its_machine(live: LiveServer, db: Database) -> None:
    assert live.call("POST", PATH, lp_report(), token=live.login()).status == 200
    (got,) = usage.latest(db, usage.AGENT, "agent")
    assert got["datasources"] == {"file": 2}
    assert usage.latest(db, usage.BOUNCER, "agent") == []


def test_only_the_newest_reports_are_kept_and_deletion_drops_them(live: LiveServer, db: Database) -> None:
    start = 1_900_000_000
    for i in range(usage.KEEP_PER_COMPONENT + 5):
        assert live.call("POST", PATH, rc_report(start + 600 * i, dropped=i), key=BOUNCER_KEY).status == 200
    kept = usage.latest(db, usage.BOUNCER, "fw", limit=100)
    assert len(kept) == usage.KEEP_PER_COMPONENT
    assert kept[0]["metrics"][0]["items"][0]["value"] == usage.KEEP_PER_COMPONENT + 4  # newest first
    live.service.delete_bouncer("fw")
    assert usage.latest(db, usage.BOUNCER, "fw") == []


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = rc_report()
    node: Any = doc["remediation_components"][0]
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "body: expected an object"),
        ({}, "exactly one remediation_components"),
        ({"remediation_components": "x"}, "remediation_components: expected an array"),
        (lp_report(), "a bouncer sends remediation_components"),
        ({"remediation_components": rc_report()["remediation_components"] * 2}, "exactly one"),
        (_broken(["version"], KeyError), "version is required"),
        (_broken(["version"], 3), "version: expected a string"),
        (_broken(["version"], "v" * 256), "at most 255"),
        (_broken(["utc_startup_timestamp"], True), "expected an integer"),
        (_broken(["utc_startup_timestamp"], -5), "not a UTC timestamp"),
        (_broken(["os"], {"name": "debian"}), "os.version is required"),
        (_broken(["metrics", 0, "meta"], KeyError), "meta: expected an object"),
        (_broken(["metrics", 0, "items", 0, "value"], "12"), "value: expected a number"),
        (_broken(["metrics", 0, "items", 0, "labels"], {"origin": 1}), "labels.origin"),
        (_broken(["feature_flags"], [1]), "feature_flags[0]"),
        (_broken(["last_pull"], "yesterday"), "last_pull: expected an integer"),
    ],
)
def test_bad_reports_are_a_clear_400(live: LiveServer, db: Database, body: Any, needle: str) -> None:
    r = live.call("POST", PATH, copy.deepcopy(body), key=BOUNCER_KEY)
    assert r.status == 400, r.body
    assert set(r.json) == {"message"} and needle in r.json["message"]
    assert usage.latest(db, usage.BOUNCER, "fw") == []


def test_agent_must_send_one_log_processor(live: LiveServer) -> None:
    token = live.login()
    assert live.call("POST", PATH, rc_report(), token=token).status == 400
    doc = lp_report()
    del doc["log_processors"][0]["hub_items"]
    r = live.call("POST", PATH, doc, token=token)
    assert r.status == 400 and "hub_items: expected an object" in r.json["message"]


def test_callers_are_authenticated(live: LiveServer) -> None:
    assert live.call("POST", PATH, rc_report()).status == 401
    assert live.call("POST", PATH, rc_report(), key="wrong-key-0123456789").status == 403
    token = live.login()
    assert live.call("POST", PATH, lp_report(), token=token[:-2] + "xx").status == 401
    assert live.call("GET", PATH, key=BOUNCER_KEY).status == 405
    big = rc_report()
    big["remediation_components"][0]["metrics"][0]["items"] *= 5000
    r = live.call("POST", PATH, big, key=BOUNCER_KEY)
    assert r.status == 400 and "too large" in r.json["message"]

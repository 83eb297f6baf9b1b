"""Storage on every reachable engine: schema, merging, containment queries, deletion, expiry,
change feed, counts."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from crowdwatch.lapi.errors import BadRequest, ProfileRuntimeError
from crowdwatch.lapi.iprange import parse_ip, parse_range
from crowdwatch.lapi.profiles import parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage.alerts import AlertQuery
from crowdwatch.lapi.storage.decisions import DecisionQuery
from crowdwatch.lapi.storage.retention import RetentionPolicy
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED, EXPIRED, MERGED, Base, Decision

from .helpers import Clock, make_alert


def test_migrations_match_the_models(db: Database) -> None:
    with db.write.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _rows(db: Database) -> list[Decision]:
    with db.read.connect() as c:
        return list(c.execute(select(Decision).order_by(Decision.id)).all())  # type: ignore[arg-type]


def test_profile_decision_until_is_stop_at_plus_duration(service: LapiService, db: Database) -> None:
    ids = service.create_alerts("m", [make_alert(stop_at="2030-01-01T00:00:10Z")])
    assert ids == ["1"]
    (row,) = _rows(db)
    assert row.until.isoformat().startswith("2030-01-01T04:00:10")
    assert (row.origin, row.type, row.scope, row.value, row.state) == (
        "crowdsec",
        "ban",
        "Ip",
        "1.2.3.4",
        ACTIVE,
    )


def test_identical_active_decisions_are_merged(service: LapiService, db: Database, clock: Clock) -> None:
    service.create_alerts("m", [make_alert()])
    clock.now += timedelta(hours=1)
    service.create_alerts("m", [make_alert(stop_at="2030-01-01T01:00:00Z")])
    first, second = _rows(db)
    assert first.state == ACTIVE and second.state == MERGED
    assert first.until.isoformat().startswith("2030-01-01T05:00:00")  # extended to the later until
    assert first.seq == 2 and first.created_seq == 1
    active = service.search_alerts(AlertQuery(has_active_decision=True))
    assert len(active) == 2


def test_ipv6_and_mapped_values_are_normalised(service: LapiService, db: Database) -> None:
    service.create_alerts("m", [make_alert("::ffff:5.6.7.8")])
    service.create_alerts("m", [make_alert("2001:db8::/64", scope="range")])
    a, b = _rows(db)
    assert (a.scope, a.value) == ("Ip", "5.6.7.8")
    assert (b.scope, b.value) == ("Range", "2001:db8::/64")


def test_contains_queries(service: LapiService) -> None:
    service.create_alerts(
        "m",
        [
            make_alert("10.0.0.0/24", scope="Range"),
            make_alert("10.0.0.5"),
            make_alert("2001:db8::/48", scope="Range"),
            make_alert("192.168.1.1"),
        ],
    )
    ip = parse_ip("10.0.0.5")
    found = service.search_alerts(AlertQuery(ip=ip))
    assert sorted(a["source"]["value"] for a in found) == ["10.0.0.0/24", "10.0.0.5"]
    inside = service.search_alerts(AlertQuery(ip=parse_range("10.0.0.0/16"), contains=False))
    assert sorted(a["source"]["value"] for a in inside) == ["10.0.0.0/24", "10.0.0.5"]
    v6 = service.search_alerts(AlertQuery(ip=parse_ip("2001:db8:0:1::9")))
    assert [a["source"]["value"] for a in v6] == ["2001:db8::/48"]
    n = service.delete_decisions(DecisionQuery(ip=parse_ip("10.0.0.5")))
    assert n == 2  # the /24 and the address


def test_soft_delete_and_expiry_feed_the_change_log(service: LapiService, db: Database, clock: Clock) -> None:
    service.create_alerts("m", [make_alert("1.1.1.1"), make_alert("2.2.2.2")])
    changes, head = service.changes_since(0)
    assert head == 1 and [c.value for c in changes] == ["1.1.1.1", "2.2.2.2"]
    assert service.delete_decisions(DecisionQuery(value="1.1.1.1")) == 1
    changes, head = service.changes_since(1)
    assert head == 2 and [(c.value, c.state) for c in changes] == [("1.1.1.1", DELETED)]
    clock.now += timedelta(hours=5)
    assert service.expire_due() == 1
    changes, head = service.changes_since(2)
    assert head == 3 and [(c.value, c.state) for c in changes] == [("2.2.2.2", EXPIRED)]
    assert service.expire_due() == 0
    assert service.changes_since(3) == ([], 3)


def test_deleting_alerts_deletes_their_decisions_first(service: LapiService) -> None:
    service.create_alerts("m", [make_alert("1.1.1.1")])
    assert service.delete_alerts(AlertQuery(value="1.1.1.1")) == 1
    changes, _ = service.changes_since(1)
    assert [(c.value, c.state) for c in changes] == [("1.1.1.1", DELETED)]
    assert service.search_alerts(AlertQuery()) == []


def test_simulated_alerts_never_produce_enforceable_decisions(service: LapiService, db: Database) -> None:
    service.create_alerts("m", [make_alert(simulated=True)])
    (row,) = _rows(db)
    assert row.simulated
    assert service.changes_since(0)[0] == []
    assert service.search_alerts(AlertQuery(include_simulated=False)) == []  # the API's default
    assert len(service.search_alerts(AlertQuery())) == 1


def test_decision_counts_for_profiles(service: LapiService, clock: Clock) -> None:
    p = service.count_provider()
    assert p.count("1.2.3.4") == 0
    service.create_alerts("m", [make_alert()])
    clock.now += timedelta(hours=5)  # expired
    service.create_alerts("m", [make_alert(stop_at="2030-01-01T05:00:00Z")])
    assert p.count("1.2.3.4") == 2
    assert p.count_since("1.2.3.4", 3600 * 10**9) == 1
    assert p.active_count("1.2.3.4") == 1
    assert int(p.active_time_left("1.2.3.4")) == 4 * 3600 * 10**9


def test_batch_duplicates_merge_into_the_first(service: LapiService, db: Database) -> None:
    short = make_alert(decisions=[_cscli("1.1.1.1", "1h")])
    long_ = make_alert(decisions=[_cscli("1.1.1.1", "3h")])
    service.create_alerts("m", [short, long_])
    first, second = _rows(db)
    assert (first.state, second.state) == (ACTIVE, MERGED)
    assert first.until.isoformat().startswith("2030-01-01T03:00:00")


def _cscli(value: str, duration: str) -> dict[str, object]:
    return {
        "origin": "cscli",
        "type": "ban",
        "scope": "Ip",
        "value": value,
        "duration": duration,
        "scenario": "x",
    }


def test_retention(service: LapiService, db: Database, clock: Clock) -> None:
    service.create_alerts("m", [make_alert("1.1.1.1")])  # decision until 04:00
    service.create_alerts("m", [make_alert("2.2.2.2", remediation=False)])  # no decision
    clock.now += timedelta(days=2)
    service.create_alerts("m", [make_alert("3.3.3.3", stop_at="2030-01-04T00:00:00Z")])  # stays live
    service.create_alerts("m", [make_alert("4.4.4.4", remediation=False)])
    service.add_bouncer("old", "old-key-123456789")
    service.retention = RetentionPolicy(max_age=timedelta(days=1), bouncer_api_key=timedelta(days=1))
    clock.now += timedelta(days=1, hours=1)
    report = service.flush()
    assert (report.alerts, report.bouncers) == (3, 1)  # 3.3.3.3 kept: its decision is live
    assert [a["source"]["value"] for a in service.search_alerts(AlertQuery())] == ["3.3.3.3"]
    assert service.bouncer_for_key("old-key-123456789") is None
    assert [d.value for d in _rows(db)] == ["3.3.3.3"]  # the expired 1.1.1.1 row went with its alert
    service.retention = RetentionPolicy(max_items=1)
    service.create_alerts("m", [make_alert("5.5.5.5", remediation=False)])
    assert service.flush().alerts == 0  # the older alert still has a live decision
    clock.now += timedelta(hours=5)
    assert service.flush().alerts == 1
    assert [a["source"]["value"] for a in service.search_alerts(AlertQuery())] == ["5.5.5.5"]


def test_requests_written_together_fail_alone(service: LapiService) -> None:
    bad_profile = LapiService(service.db, parse_profiles("name: p\nfilters: ['Alert.GetScenario()']\n", "p"))
    got = bad_profile.create_alerts_many(
        [("m", [make_alert("1.1.1.1")]), ("m", [make_alert(decisions=[_cscli("2.2.2.2", "1h")])])]
    )
    assert isinstance(got[0], ProfileRuntimeError) and got[1] == ["1"]
    got = service.create_alerts_many(
        [
            ("a", [make_alert("3.3.3.3"), make_alert("4.4.4.4")]),
            ("b", {"not": "a list"}),
            ("c", [make_alert("3.3.3.3")]),
        ]
    )
    assert got[0] == ["2", "3"] and isinstance(got[1], BadRequest) and got[2] == ["4"]
    alerts = service.search_alerts(AlertQuery(value="3.3.3.3"))
    assert sorted(a["machine_id"] for a in alerts) == ["a", "c"]
    states = sorted(d["value"] for a in alerts for d in a["decisions"])
    assert states == ["3.3.3.3", "3.3.3.3"]  # one active, one merged into it


def test_notifications_hook(db: Database, clock: Clock) -> None:
    calls: list[tuple[int, str, list[tuple[str, str]]]] = []
    text = "name: p\nfilters: ['true']\ndecisions: [{type: ban}]\nnotifications: [slack, mail]\n"
    svc = LapiService(
        db, parse_profiles(text, "p"), clock=clock, notifier=lambda i, a, n: calls.append((i, a.scenario, n))
    )
    svc.create_alerts("m", [make_alert()])
    assert calls == [(1, "crowdsecurity/ssh-bf", [("p", "slack"), ("p", "mail")])]

"""The LAPI stores an alert resent with the same uuid once (the agent lost the first answer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_push_support import make_alert

from crowdwatch.config.schema import DbConfigSection
from crowdwatch.lapi.profiles import DEFAULT_PROFILES, parse_profiles
from crowdwatch.lapi.service import LapiService
from crowdwatch.lapi.storage import open_database
from crowdwatch.lapi.storage.alerts import AlertQuery


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[LapiService]:
    db = open_database(DbConfigSection(), tmp_path / "lapi.db")
    service = LapiService(db, parse_profiles(DEFAULT_PROFILES, "default"))
    yield service
    db.dispose()


def test_resent_batch_is_stored_once_with_its_ids(svc: LapiService) -> None:
    batch = [make_alert(i) for i in range(5)]
    first = svc.create_alerts("agent", batch)
    again = svc.create_alerts("agent", batch)
    assert again == first
    alerts = svc.search_alerts(AlertQuery())
    assert len(alerts) == 5
    assert sorted(a["uuid"] for a in alerts) == sorted(a["uuid"] for a in batch)
    assert all(len(a["decisions"]) == 1 for a in alerts)  # no second decision for a resend


def test_partly_resent_batch_stores_only_the_new_alerts(svc: LapiService) -> None:
    a = [make_alert(i) for i in range(4)]
    ids1 = svc.create_alerts("agent", a[:2])
    ids2 = svc.create_alerts("agent", a)
    assert ids2[:2] == ids1 and len(set(ids2)) == 4
    assert [x["message"] for x in reversed(svc.search_alerts(AlertQuery()))] == [
        f"alert {i}" for i in range(4)
    ]


def test_same_uuid_twice_in_one_request(svc: LapiService) -> None:
    a = make_alert(1)
    ids = svc.create_alerts("agent", [a, dict(a)])
    assert ids[0] == ids[1] and len(svc.search_alerts(AlertQuery())) == 1


def test_uuid_is_per_machine_and_stays_unique(svc: LapiService) -> None:
    a = make_alert(1)
    (id1,) = svc.create_alerts("agent-1", [a])
    (id2,) = svc.create_alerts("agent-2", [a])
    assert id1 != id2
    uuids = [x["uuid"] for x in svc.search_alerts(AlertQuery())]
    assert len(uuids) == 2 and len(set(uuids)) == 2 and a["uuid"] in uuids


@pytest.mark.parametrize("given", [None, "", "not-a-uuid", 42])
def test_alerts_without_a_valid_uuid_are_never_merged(svc: LapiService, given: object) -> None:
    a = make_alert(1, uuid=given)
    svc.create_alerts("agent", [a])
    svc.create_alerts("agent", [a])
    stored = svc.search_alerts(AlertQuery())
    assert len(stored) == 2 and all(uuid.UUID(x["uuid"]) for x in stored)


def test_uuid_is_stored_in_canonical_form(svc: LapiService) -> None:
    u = uuid.uuid4()
    svc.create_alerts("agent", [make_alert(1, uuid=str(u).upper())])
    svc.create_alerts("agent", [make_alert(1, uuid=str(u))])
    (stored,) = svc.search_alerts(AlertQuery())
    assert stored["uuid"] == str(u)

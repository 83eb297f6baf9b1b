"""The in-memory decision index: cursors, deltas, IP lookups, compaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crowdwatch.lapi.decisions import DecisionFilter, DecisionRecord
from crowdwatch.lapi.iprange import for_scope, parse_ip, parse_range
from crowdwatch.lapi.storage.tables import ACTIVE, DELETED, EXPIRED
from crowdwatch.lapi.stream import TOMBSTONE_TTL, DecisionIndex

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ALL = DecisionFilter().predicate()


def rec(
    id: int, value: str, seq: int, *, state: int = ACTIVE, created: int | None = None, **kw: object
) -> DecisionRecord:
    scope = str(kw.get("scope", "Range" if "/" in value else "Ip"))
    return DecisionRecord(
        id=id,
        uuid=f"u{id}",
        origin=str(kw.get("origin", "crowdsec")),
        type=str(kw.get("type", "ban")),
        scope=scope,
        value=value,
        scenario=str(kw.get("scenario", "crowdsecurity/ssh-bf")),
        until=kw.get("until", NOW + timedelta(hours=4)),  # type: ignore[arg-type]
        simulated=bool(kw.get("simulated", False)),
        state=state,
        seq=seq,
        created_seq=created if created is not None else seq,
        ip=for_scope(scope, value),
    )


def test_startup_then_deltas_without_repeats() -> None:
    idx = DecisionIndex()
    idx.apply([rec(1, "1.1.1.1", 1), rec(2, "2.2.2.2", 1)], NOW)
    first = idx.stream(None, ALL, NOW)
    assert sorted(r.value for r in first.new) == ["1.1.1.1", "2.2.2.2"] and first.deleted == []
    assert first.cursor == 1
    assert idx.stream(first.cursor, ALL, NOW).new == []  # nothing sent twice
    idx.apply([rec(3, "3.3.3.3", 2), rec(1, "1.1.1.1", 3, state=DELETED, created=1)], NOW)
    delta = idx.stream(first.cursor, ALL, NOW)
    assert [r.value for r in delta.new] == ["3.3.3.3"]
    assert [r.value for r in delta.deleted] == ["1.1.1.1"]
    assert delta.cursor == 3
    assert idx.stream(3, ALL, NOW).new == [] and idx.stream(3, ALL, NOW).deleted == []


def test_decision_created_and_removed_between_polls_is_not_sent() -> None:
    idx = DecisionIndex()
    idx.apply([rec(1, "1.1.1.1", 1)], NOW)
    idx.apply([rec(2, "2.2.2.2", 2)], NOW)
    idx.apply([rec(2, "2.2.2.2", 3, state=EXPIRED, created=2)], NOW)
    delta = idx.stream(1, ALL, NOW)
    assert delta.new == [] and delta.deleted == []


def test_deletion_is_withheld_while_another_decision_covers_the_value() -> None:
    idx = DecisionIndex()
    idx.apply([rec(1, "1.1.1.1", 1, origin="cscli"), rec(2, "1.1.1.1", 1, origin="crowdsec")], NOW)
    idx.apply([rec(1, "1.1.1.1", 2, state=DELETED, created=1, origin="cscli")], NOW)
    assert idx.stream(1, ALL, NOW).deleted == []
    idx.apply([rec(2, "1.1.1.1", 3, state=DELETED, created=1)], NOW)
    assert [r.id for r in idx.stream(2, ALL, NOW).deleted] == [2]


def test_filters_and_default_scopes() -> None:
    idx = DecisionIndex()
    idx.apply(
        [
            rec(1, "1.1.1.1", 1, scenario="crowdsecurity/http-probing"),
            rec(2, "bob", 1, scope="Username"),
            rec(3, "10.0.0.0/8", 1, origin="cscli"),
        ],
        NOW,
    )
    ipr = DecisionFilter.from_params(scopes="ip,range").predicate()
    assert sorted(r.id for r in idx.stream(None, ipr, NOW).new) == [1, 3]
    f = DecisionFilter.from_params(scopes="Ip,Range", origins="cscli").predicate()
    assert [r.id for r in idx.stream(None, f, NOW).new] == [3]
    f = DecisionFilter.from_params(scenarios_containing="http").predicate()
    assert [r.id for r in idx.stream(None, f, NOW).new] == [1]
    f = DecisionFilter.from_params(scenarios_not_containing="http").predicate()
    assert sorted(r.id for r in idx.stream(None, f, NOW).new) == [2, 3]


def test_ip_lookup_by_prefix_probe() -> None:
    idx = DecisionIndex()
    idx.apply(
        [
            rec(1, "10.0.0.0/8", 1),
            rec(2, "10.1.2.3", 1),
            rec(3, "2001:db8::/32", 1),
            rec(4, "::ffff:10.9.9.9", 1),
        ],
        NOW,
    )
    ip = parse_ip("10.1.2.3")
    assert ip is not None
    assert sorted(r.id for r in idx.containing(ip, ALL, NOW)) == [1, 2]
    v6 = parse_ip("2001:db8:1::1")
    assert v6 is not None and [r.id for r in idx.containing(v6, ALL, NOW)] == [3]
    r8 = parse_range("10.0.0.0/8")
    assert r8 is not None and sorted(r.id for r in idx.within(r8, ALL, NOW)) == [1, 2, 4]
    assert idx.containing(ip, ALL, NOW + timedelta(hours=5)) == []  # expired by time


def test_simulated_records_are_never_indexed() -> None:
    idx = DecisionIndex()
    idx.apply([rec(1, "1.1.1.1", 1, simulated=True)], NOW)
    assert idx.active == {} and idx.seq == 1


def test_compaction_keeps_answers_and_resends_to_stale_cursors() -> None:
    idx = DecisionIndex()
    idx.apply([rec(1, "1.1.1.1", 1), rec(2, "2.2.2.2", 1)], NOW)
    idx.apply([rec(1, "1.1.1.1", 2, state=DELETED, created=1)], NOW)
    idx.apply([rec(3, "3.3.3.3", 3)], NOW)
    idx.compact(NOW)
    assert idx.log_size == 3
    assert [r.id for r in idx.stream(1, ALL, NOW).deleted] == [1]
    later = NOW + TOMBSTONE_TTL + timedelta(seconds=1)
    idx.compact(later)
    assert idx.log_size == 2
    stale = idx.stream(1, ALL, NOW)  # its deletions were compacted away: full resend
    assert sorted(r.id for r in stale.new) == [2, 3] and stale.deleted == []
    assert [r.id for r in idx.stream(2, ALL, NOW).new] == [3]


def test_new_is_deduplicated_by_value_keeping_the_longest() -> None:
    idx = DecisionIndex()
    short = rec(1, "1.1.1.1", 1, origin="cscli")
    long_ = rec(2, "1.1.1.1", 1, until=NOW + timedelta(hours=8))
    idx.apply([short, long_], NOW)
    assert [r.id for r in idx.stream(None, ALL, NOW).new] == [2]

"""The wire form of decision records: the direct text path equals the generic JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from crowdwatch.lapi.decisions import DecisionRecord, json_array, json_chunks
from crowdwatch.lapi.iprange import for_scope
from crowdwatch.lapi.storage.tables import ACTIVE

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def rec(id: int, value: str, scope: str = "Ip", **kw: object) -> DecisionRecord:
    return DecisionRecord(
        id=id,
        uuid=str(kw.get("uuid", f"0000000{id % 10}-aaaa-4bbb-8ccc-0123456789ab")),
        origin=str(kw.get("origin", "crowdsec")),
        type=str(kw.get("type", "ban")),
        scope=scope,
        value=value,
        scenario=str(kw.get("scenario", "crowdsecurity/ssh-bf")),
        until=NOW + timedelta(hours=4, microseconds=id % 1_000_000),
        simulated=bool(kw.get("simulated", False)),
        state=ACTIVE,
        seq=id % 1000,
        created_seq=id % 1000,
        ip=for_scope(scope, value),
    )


RECORDS = [
    rec(1, "1.2.3.4"),
    rec(2, "10.0.0.0/8", "Range"),
    rec(3, "2001:db8::1"),
    rec(4, "2001:db8::/32", "Range", origin="cscli", type="captcha"),
    rec(5, "::ffff:192.0.2.1"),  # stored as given: not the canonical text of its block
    rec(6, "AS12345", "AS", scenario='weird "quoted" \\ scenario \u00e9'),
    rec(7, "FR", "Country", uuid="Not-A-Canonical-UUID"),
    rec(8, "5.6.7.8", simulated=True),
    rec(2**63 - 1, "9.9.9.9"),  # the largest id a database hands out
]


def generic(r: DecisionRecord) -> dict[str, object]:
    return r.to_dict(NOW)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.value)
def test_each_record_serialises_as_its_dict(record: DecisionRecord) -> None:
    assert json.loads(json_array([record], NOW)) == [generic(record)]


def test_many_records_in_chunks_keep_order_and_content() -> None:
    many = [rec(i, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(1, 4500)] + RECORDS
    text = b"[" + b",".join(c for c in json_chunks(many, NOW) if c) + b"]"
    assert json.loads(text) == [generic(r) for r in many]


def test_numbers_round_trip_through_the_packed_form() -> None:
    r = DecisionRecord(
        id=2**63 - 1, uuid="0000000a-aaaa-4bbb-8ccc-0123456789ab", origin="o", type="t", scope="Ip",
        value="1.2.3.4", scenario="s", until=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        simulated=False, state=3, seq=2**48 - 1, created_seq=7, ip=for_scope("Ip", "1.2.3.4"),
    )  # fmt: skip
    assert (r.id, r.seq, r.created_seq, r.state) == (2**63 - 1, 2**48 - 1, 7, 3)
    assert r.until == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert r.uuid == "0000000a-aaaa-4bbb-8ccc-0123456789ab" and r.value == "1.2.3.4"


def test_an_id_past_64_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        rec(2**64, "9.9.9.9")

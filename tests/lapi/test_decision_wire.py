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
        seq=id,
        created_seq=id,
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
    rec(2**64 + 3, "9.9.9.9"),
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

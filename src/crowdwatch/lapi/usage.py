"""Usage metrics (``POST /v1/usage-metrics``): validation against the v1 spec, storage, reading.

A bouncer reports exactly one ``remediation_components`` item and an agent exactly one
``log_processors`` item, as CrowdSec requires. Each report is stored whole (JSON) with the
time it was collected (the first metric window's ``utc_now_timestamp``, else the time it was
received); a report sent twice (same component, same collection time) is stored once, and
only the newest :data:`KEEP_PER_COMPONENT` reports of a component are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, delete, select
from sqlalchemy.exc import IntegrityError

from crowdwatch.lapi.errors import BadRequest
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage.tables import UsageMetric
from crowdwatch.lapi.timefmt import format_time, from_db, to_db

BOUNCER = "RC"  # remediation component
AGENT = "LP"  # log processor
KEEP_PER_COMPONENT = 20
MAX_STORED = 256 * 1024  # bytes of one stored report (its JSON)
_STR_MAX = 255
_MAX_TS = 253402300799  # 9999-12-31T23:59:59Z

_T = cast(Table, UsageMetric.__table__)


@dataclass(frozen=True)
class Report:
    kind: str  # BOUNCER or AGENT
    name: str  # the bouncer's name or the machine's id
    collected_at: datetime
    payload: bytes  # the component's item, JSON


# --- validation ---------------------------------------------------------------------------


def _obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise BadRequest(f"{where}: expected an object")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise BadRequest(f"{where}: expected an array")
    return v


def _str(doc: dict[str, Any], key: str, where: str, *, required: bool = False) -> None:
    v = doc.get(key)
    if v is None:
        if required:
            raise BadRequest(f"{where}.{key} is required")
        return
    if not isinstance(v, str):
        raise BadRequest(f"{where}.{key}: expected a string")
    if len(v) > _STR_MAX:
        raise BadRequest(f"{where}.{key}: at most {_STR_MAX} characters")


def _int(doc: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    v = doc.get(key)
    if v is None:
        if required:
            raise BadRequest(f"{where}.{key} is required")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"{where}.{key}: expected an integer")
    return v


def _timestamp(doc: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    v = _int(doc, key, where, required=required)
    if v is not None and not 0 <= v <= _MAX_TS:
        raise BadRequest(f"{where}.{key}: not a UTC timestamp")
    return v


def _metrics(value: Any, where: str) -> int | None:
    """Check ``metrics`` (DetailedMetrics); the first window's utc_now_timestamp."""
    first: int | None = None
    for i, m in enumerate(_list(value, where)):
        here = f"{where}[{i}]"
        m = _obj(m, here)
        meta = _obj(m.get("meta"), f"{here}.meta")
        _int(meta, "window_size_seconds", f"{here}.meta", required=True)
        now = _timestamp(meta, "utc_now_timestamp", f"{here}.meta", required=True)
        if first is None:
            first = now
        for j, item in enumerate(_list(m.get("items"), f"{here}.items")):
            at = f"{here}.items[{j}]"
            item = _obj(item, at)
            _str(item, "name", at, required=True)
            _str(item, "unit", at, required=True)
            v = item.get("value")
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BadRequest(f"{at}.value: expected a number")
            labels = item.get("labels")
            if labels is not None:
                for k, lv in _obj(labels, f"{at}.labels").items():
                    if not isinstance(lv, str) or len(lv) > _STR_MAX:
                        raise BadRequest(
                            f"{at}.labels.{k}: expected a string of at most {_STR_MAX} characters"
                        )
    return first


def _base(doc: dict[str, Any], where: str) -> int | None:
    """Check the BaseMetrics fields; the collection timestamp if the metrics carry one."""
    _str(doc, "version", where, required=True)
    _timestamp(doc, "utc_startup_timestamp", where, required=True)
    if doc.get("os") is not None:
        os_doc = _obj(doc["os"], f"{where}.os")
        _str(os_doc, "name", f"{where}.os", required=True)
        _str(os_doc, "version", f"{where}.os", required=True)
        _str(os_doc, "family", f"{where}.os")
    if doc.get("feature_flags") is not None:
        for i, flag in enumerate(_list(doc["feature_flags"], f"{where}.feature_flags")):
            if not isinstance(flag, str) or len(flag) > _STR_MAX:
                raise BadRequest(f"{where}.feature_flags[{i}]: expected a string")
    return _metrics(doc["metrics"], f"{where}.metrics") if doc.get("metrics") is not None else None


def _bouncer_item(doc: dict[str, Any], where: str) -> int | None:
    at = _base(doc, where)
    _str(doc, "type", where)
    _str(doc, "name", where)
    _timestamp(doc, "last_pull", where)
    return at


def _agent_item(doc: dict[str, Any], where: str) -> int | None:
    at = _base(doc, where)
    _str(doc, "name", where)
    for key in ("last_push", "last_update"):
        _timestamp(doc, key, where)
    hub = _obj(doc.get("hub_items"), f"{where}.hub_items")
    for kind, items in hub.items():
        for i, item in enumerate(_list(items, f"{where}.hub_items.{kind}")):
            here = f"{where}.hub_items.{kind}[{i}]"
            item = _obj(item, here)
            for key in ("name", "version", "status"):
                _str(item, key, here)
    for kind, count in _obj(doc.get("datasources"), f"{where}.datasources").items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise BadRequest(f"{where}.datasources.{kind}: expected an integer")
    return at


def parse_report(doc: Any, kind: str, name: str, now: datetime) -> Report:
    """The one component report of an AllMetrics body sent by a bouncer (``kind`` RC) or an
    agent (LP); :class:`BadRequest` with the offending field otherwise."""
    body = _obj(doc, "body")
    rcs = body.get("remediation_components") or []
    lps = body.get("log_processors") or []
    _list(rcs, "remediation_components")
    _list(lps, "log_processors")
    if body.get("lapi") is not None:
        _obj(body["lapi"], "lapi")
    if kind == BOUNCER:
        if lps:
            raise BadRequest("a bouncer sends remediation_components, not log_processors")
        if len(rcs) != 1:
            raise BadRequest("expected exactly one remediation_components item")
        item = _obj(rcs[0], "remediation_components[0]")
        at = _bouncer_item(item, "remediation_components[0]")
    else:
        if rcs:
            raise BadRequest("an agent sends log_processors, not remediation_components")
        if len(lps) != 1:
            raise BadRequest("expected exactly one log_processors item")
        item = _obj(lps[0], "log_processors[0]")
        at = _agent_item(item, "log_processors[0]")
    payload = orjson.dumps(item)
    if len(payload) > MAX_STORED:
        raise BadRequest(f"usage metrics report too large (at most {MAX_STORED} bytes)")
    collected = datetime.fromtimestamp(at, UTC) if at is not None else now
    return Report(kind, name, collected, payload)


# --- storage ------------------------------------------------------------------------------


def _component(kind: str, name: str) -> Any:
    return and_(_T.c.generated_type == kind, _T.c.generated_by == name)


def store(db: Database, report: Report, now: datetime) -> bool:
    """Store a report (False: already stored) and drop the component's oldest beyond the limit."""
    where = _component(report.kind, report.name)
    collected = to_db(report.collected_at)
    try:
        with db.write.begin() as conn:
            dup = conn.execute(select(_T.c.id).where(where, _T.c.collected_at == collected)).first()
            if dup is not None:
                return False
            conn.execute(
                _T.insert().values(
                    generated_type=report.kind,
                    generated_by=report.name,
                    collected_at=collected,
                    received_at=to_db(now),
                    payload=report.payload.decode(),
                )
            )
            old = list(
                conn.execute(
                    select(_T.c.id)
                    .where(where)
                    .order_by(_T.c.collected_at.desc(), _T.c.id.desc())
                    .offset(KEEP_PER_COMPONENT)
                ).scalars()
            )
            if old:
                conn.execute(delete(_T).where(_T.c.id.in_(old)))
    except IntegrityError:  # the same report, stored by another LAPI process meanwhile
        return False
    return True


def latest(db: Database, kind: str, name: str, limit: int = 1) -> list[dict[str, Any]]:
    """The newest reports of a component, newest first: the stored item plus
    ``collected_at`` and ``received_at``."""
    with db.read.connect() as conn:
        rows = conn.execute(
            select(_T.c.collected_at, _T.c.received_at, _T.c.payload)
            .where(_component(kind, name))
            .order_by(_T.c.collected_at.desc(), _T.c.id.desc())
            .limit(limit)
        ).all()
    out = []
    for collected, received, payload in rows:
        doc = orjson.loads(payload)
        doc["collected_at"] = format_time(from_db(collected))
        doc["received_at"] = format_time(from_db(received))
        out.append(doc)
    return out


def summary(report: dict[str, Any]) -> str:
    """One line for humans: version, OS, when, and each metric ``name=value unit {labels}``."""
    parts = [f"version {report.get('version', '?')}"]
    os_doc = report.get("os")
    if isinstance(os_doc, dict):
        parts.append(f"os {os_doc.get('name', '')}/{os_doc.get('version', '')}")
    parts.append(f"collected {report.get('collected_at', '?')}")
    values = []
    for m in report.get("metrics") or []:
        window = (m.get("meta") or {}).get("window_size_seconds")
        for item in m.get("items") or []:
            labels = ",".join(f"{k}={v}" for k, v in sorted((item.get("labels") or {}).items()))
            values.append(
                f"{item.get('name')}={item.get('value')} {item.get('unit')}"
                + (f" {{{labels}}}" if labels else "")
                + (f" /{window}s" if window else "")
            )
    if values:
        parts.append("; ".join(values))
    return " | ".join(parts)

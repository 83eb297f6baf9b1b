"""Overflow events → the JSON the LAPI takes on ``POST /v1/alerts`` (swagger ``models.Alert``).

An overflow carries one alert per source (``Overflow.APIAlerts``; ``Overflow.Alert`` when
the scenario made only one). Each becomes one LAPI alert with:

* ``decisions: []``: the LAPI's profiles decide (as CrowdSec's agent does);
* ``uuid``: random, fixed when the alert enters the on-disk queue, so a batch pushed again
  after a crash between the LAPI's acknowledgement and the queue deletion carries the same
  ids (lets the LAPI, or a later dedup step, recognise it);
* ``machine_id``: informational (the LAPI takes the machine from the JWT);
* source IPs that are IPv4-mapped IPv6 (``::ffff:1.2.3.4``) normalised to IPv4.
"""

from __future__ import annotations

import uuid
from typing import Any

from crowdwatch.event import Alert, Event
from crowdwatch.netutil import parse_ip


def _normalise_ip(value: str) -> str:
    if value.startswith("::ffff:") or value.startswith("::FFFF:"):
        ip = parse_ip(value)
        if ip is not None:
            return str(ip)
    return value


def _one(alert: Alert, machine_id: str) -> dict[str, Any]:
    doc = alert.to_dict()
    src = doc.get("source")
    if src is None:
        src = {"scope": "", "value": ""}
    elif src.get("scope", "").lower() == "ip":
        src["value"] = _normalise_ip(src.get("value", ""))
        src["ip"] = _normalise_ip(src.get("ip", ""))
    doc["source"] = src
    doc["decisions"] = []
    doc["uuid"] = str(uuid.uuid4())
    doc["machine_id"] = machine_id
    if doc.get("labels") is None:
        doc.pop("labels", None)
    return doc


def to_api_alerts(evt: Event, machine_id: str) -> list[dict[str, Any]]:
    """Every LAPI alert of one overflow event (one per source), in order."""
    ovf = evt.Overflow
    alerts = ovf.APIAlerts or ([ovf.Alert] if ovf.Alert is not None else [])
    return [_one(a, machine_id) for a in alerts]


def to_api_alert(evt: Event, machine_id: str) -> dict[str, Any]:
    """The LAPI alert of an overflow with one source (the first one when there are several)."""
    alerts = to_api_alerts(evt, machine_id)
    if not alerts:
        raise ValueError("event carries no alert")
    return alerts[0]

"""The LAPI's operations, synchronous and framework-free (the HTTP layer runs them in threads).

Every change to decisions happens in one transaction that takes one change number
(``storage.sequence.next_seq``) and stamps the rows it touches; ``changes_since`` is how
the in-memory stream index (and other LAPI processes on the same database) follow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from crowdwatch.lapi import auth
from crowdwatch.lapi.alerts import AlertIn, parse_alert
from crowdwatch.lapi.decisions import CountProvider, DecisionRecord
from crowdwatch.lapi.errors import BadRequest, Forbidden, NotFound
from crowdwatch.lapi.iprange import IpRange, parse_ip_or_range
from crowdwatch.lapi.profiles import Notifier, Profile, ProfileResult, evaluate
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage import alerts as alert_store
from crowdwatch.lapi.storage import allowlists as allow_store
from crowdwatch.lapi.storage import decisions as decision_store
from crowdwatch.lapi.storage import machines as machine_store
from crowdwatch.lapi.storage.sequence import current_seq, next_seq, shared_secret
from crowdwatch.lapi.storage.tables import NAME_LEN
from crowdwatch.lapi.timefmt import now as utcnow
from crowdwatch.lapi.timefmt import parse_duration

log = logging.getLogger(__name__)

MAX_ALERTS_PER_REQUEST = 10_000


@dataclass(frozen=True)
class MachineLogin:
    machine_id: str
    validated: bool


def _check_name(name: str, what: str) -> None:
    if not name or len(name) > NAME_LEN or any(c.isspace() or not c.isprintable() for c in name):
        raise BadRequest(f"invalid {what} {name[:64]!r}: 1 to {NAME_LEN} printable characters, no spaces")


class LapiService:
    def __init__(
        self,
        db: Database,
        profiles: list[Profile],
        *,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
    ) -> None:
        self.db = db
        self.profiles = profiles
        self.clock = clock
        self.notifier = notifier
        self._write_sessions = sessionmaker(db.write, expire_on_commit=False)
        self._read_sessions = sessionmaker(db.read, expire_on_commit=False)
        with self._write_sessions() as s:
            self.jwt = auth.JwtSigner(shared_secret(s, "jwt_secret"))

    # --- sessions --------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._write_sessions() as s, s.begin():
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._read_sessions() as s:
            yield s

    def count_provider(self) -> CountProvider:
        """What ``GetDecisionsCount`` & co. query (``expr.helpers.decisions.set_decision_provider``)."""

        def count(value: str, since: datetime | None) -> int:
            with self._read() as s:
                return decision_store.count_by_value(s, value, since)

        def active(value: str) -> tuple[int, Any]:
            with self._read() as s:
                return decision_store.active_by_value(s, value, self.clock())

        return CountProvider(count, active, self.clock)

    # --- machines --------------------------------------------------------------------
    def register_machine(self, machine_id: str, password: str, ip: str = "", validated: bool = False) -> None:
        _check_name(machine_id, "machine_id")
        if not password or len(password) > 1024:
            raise BadRequest("password must be 1 to 1024 characters")
        try:
            with self._write() as s:
                machine_store.add_machine(
                    s, machine_id, auth.hash_password(password), ip, validated, self.clock()
                )
        except machine_store.AlreadyExists:
            raise Forbidden(f"user '{machine_id}': user already exist") from None

    def login(
        self, machine_id: str, password: str, scenarios: list[str], ip: str, version: str
    ) -> auth.Token:
        with self._write() as s:
            m = machine_store.get_machine(s, machine_id)
            if m is None or not auth.check_password(password, m.password_hash):
                raise Forbidden("incorrect Username or Password")
            if not m.is_validated:
                raise Forbidden(f"machine {machine_id} not validated")
            now = self.clock()
            m.scenarios = ",".join(scenarios)[:65_000]
            m.ip_address = ip[:64]
            m.version = version[:255]
            m.updated_at = now.replace(tzinfo=None)
            return self.jwt.issue(machine_id, now)

    def machine_validated(self, machine_id: str) -> bool:
        with self._read() as s:
            m = machine_store.get_machine(s, machine_id)
            return m is not None and m.is_validated

    def validate_machine(self, machine_id: str) -> None:
        with self._write() as s:
            if not machine_store.validate_machine(s, machine_id):
                raise NotFound(f"machine {machine_id!r} not found")

    def delete_machine(self, machine_id: str) -> None:
        with self._write() as s:
            if not machine_store.delete_machine(s, machine_id):
                raise NotFound(f"machine {machine_id!r} not found")

    def heartbeat(self, machine_id: str) -> None:
        with self._write() as s:
            m = machine_store.get_machine(s, machine_id)
            if m is not None:
                m.last_heartbeat = self.clock().replace(tzinfo=None)

    def list_machines(self) -> list[dict[str, Any]]:
        with self._read() as s:
            return [
                {
                    "machineId": m.machine_id,
                    "ipAddress": m.ip_address,
                    "isValidated": m.is_validated,
                    "version": m.version,
                    "created_at": m.created_at.isoformat() + "Z",
                    "last_heartbeat": m.last_heartbeat.isoformat() + "Z" if m.last_heartbeat else None,
                }
                for m in machine_store.list_machines(s)
            ]

    # --- bouncers --------------------------------------------------------------------
    def add_bouncer(self, name: str, key: str | None = None) -> str:
        _check_name(name, "bouncer name")
        key = key or auth.new_api_key()
        if len(key) < 8 or len(key) > 1024:
            raise BadRequest("API key must be 8 to 1024 characters")
        try:
            with self._write() as s:
                machine_store.add_bouncer(s, name, auth.hash_api_key(key), self.clock())
        except machine_store.AlreadyExists:
            raise Forbidden(f"bouncer {name!r} already exists") from None
        return key

    def tls_bouncer(self, name: str) -> machine_store.BouncerInfo:
        """The bouncer authenticated by a client certificate (created on first sight)."""
        with self._write() as s:
            found = machine_store.bouncer_by_name(s, name)
            if found is None:
                # no usable key: the stored hash is of a random secret nobody knows
                machine_store.add_bouncer(s, name, auth.hash_api_key(auth.new_api_key()), self.clock(), "tls")
                found = machine_store.bouncer_by_name(s, name)
            assert found is not None
            return found

    def tls_login(self, machine_id: str, ip: str, scenarios: list[str], version: str) -> auth.Token:
        """A JWT for an agent authenticated by a client certificate (created on first sight)."""
        with self._write() as s:
            m = machine_store.get_machine(s, machine_id)
            now = self.clock()
            if m is None:
                secret = auth.hash_password(auth.new_api_key())
                machine_store.add_machine(s, machine_id, secret, ip, True, now, "tls")
                m = machine_store.get_machine(s, machine_id)
            assert m is not None
            if m.auth_type != "tls":
                raise Forbidden(f"machine {machine_id} uses password authentication")
            m.scenarios = ",".join(scenarios)[:65_000]
            m.ip_address = ip[:64]
            m.version = version[:255]
            m.updated_at = now.replace(tzinfo=None)
            return self.jwt.issue(machine_id, now)

    def bouncer_for_key(self, key: str) -> machine_store.BouncerInfo | None:
        with self._read() as s:
            return machine_store.bouncer_by_hash(s, auth.hash_api_key(key))

    def delete_bouncer(self, name: str) -> None:
        with self._write() as s:
            if not machine_store.delete_bouncer(s, name):
                raise NotFound(f"bouncer {name!r} not found")

    def record_pulls(self, seen: dict[int, machine_store.BouncerSeen]) -> None:
        if seen:
            with self._write() as s:
                machine_store.record_pulls(s, seen)

    def list_bouncers(self) -> list[dict[str, Any]]:
        with self._read() as s:
            return [
                {
                    "name": b.name,
                    "ip_address": b.ip_address,
                    "type": b.type,
                    "version": b.version,
                    "revoked": b.revoked,
                    "last_pull": b.last_pull.isoformat() + "Z" if b.last_pull else None,
                }
                for b in machine_store.list_bouncers(s)
            ]

    # --- alerts ----------------------------------------------------------------------
    def create_alerts(self, machine_id: str, payload: Any) -> list[str]:
        """POST /v1/alerts: validate, drop allowlisted, decide (profiles unless the alert
        brings decisions), store everything in one transaction."""
        if not isinstance(payload, list):
            raise BadRequest("expected a JSON array of alerts")
        if len(payload) > MAX_ALERTS_PER_REQUEST:
            raise BadRequest(f"too many alerts in one request (at most {MAX_ALERTS_PER_REQUEST})")
        alerts = [parse_alert(doc, f"alerts[{i}]") for i, doc in enumerate(payload)]
        now = self.clock()
        planned: list[tuple[AlertIn, list[decision_store.NewDecision], ProfileResult | None]] = []
        with self._read() as s:
            kept = [a for a in alerts if not self._allowlisted(s, a, now)]
        for a in kept:
            if a.decisions:
                planned.append((a, [self._given(a, d) for d in a.decisions], None))
            else:
                outcome = evaluate(self.profiles, a)
                planned.append((a, outcome.decisions, outcome))
        stored: list[tuple[int, AlertIn, ProfileResult | None]] = []
        with self._write() as s:
            seq = next_seq(s) if any(d for _, d, _ in planned) else 0
            for a, decisions, res in planned:
                row = alert_store.insert(s, machine_id, a, now)
                if decisions:
                    decision_store.insert(s, row.id, decisions, seq, now)
                stored.append((row.id, a, res))
            m = machine_store.get_machine(s, machine_id)
            if m is not None:
                m.last_push = now.replace(tzinfo=None)
        if self.notifier is not None:
            for aid, a, result in stored:
                if result is not None and result.notifications:
                    self.notifier(aid, a, result.notifications)
        return [str(aid) for aid, _, _ in stored]

    def _given(self, alert: AlertIn, d: Any) -> decision_store.NewDecision:
        """A decision provided in the payload (cscli ``decisions add``)."""
        if d.scope in ("Ip", "Range"):
            parse_ip_or_range(d.value, f"decision value for scope {d.scope}")
        return decision_store.NewDecision(
            type=d.type,
            scope=d.scope,
            value=d.value,
            origin=d.origin,
            scenario=d.scenario,
            until=alert.stop_at + parse_duration(d.duration),
            simulated=d.simulated or alert.simulated,
        )

    def _allowlisted(self, s: Session, alert: AlertIn, now: datetime) -> bool:
        src = alert.source
        if src.scope not in ("Ip", "Range"):
            return False
        try:
            target = parse_ip_or_range(src.value)
        except BadRequest:
            return False
        hits = allow_store.matches(s, target, now)
        if hits:
            log.info("alert %s for %s dropped: allowlisted by %s", alert.scenario, src.value, hits[0][0])
        return bool(hits)

    def search_alerts(self, query: alert_store.AlertQuery) -> list[dict[str, Any]]:
        with self._read() as s:
            return alert_store.search(s, query, self.clock())

    def get_alert(self, alert_id: int) -> dict[str, Any]:
        found = self.search_alerts(alert_store.AlertQuery(id=alert_id))
        if not found:
            raise NotFound("object not found")
        return found[0]

    def delete_alerts(self, query: alert_store.AlertQuery) -> int:
        with self._write() as s:
            return alert_store.delete_matching(s, query, next_seq(s), self.clock())

    # --- decisions -------------------------------------------------------------------
    def delete_decisions(self, query: decision_store.DecisionQuery) -> int:
        with self._write() as s:
            return decision_store.soft_delete(s, query, next_seq(s), self.clock())

    def expire_due(self) -> int:
        """Mark decisions whose time is up as expired (one change number for the batch)."""
        now = self.clock()
        with self._read() as s:
            if not decision_store.has_due(s, now):
                return 0
        with self._write() as s:
            return decision_store.expire_due(s, next_seq(s), now)

    def changes_since(self, seq: int) -> tuple[list[DecisionRecord], int]:
        """(decision changes after ``seq``, the sequence number they bring the reader to)."""
        with self._read() as s:
            head = current_seq(s)  # read first: every change up to it is in the next query
            return decision_store.changes_since(s, seq), head

    # --- allowlists ------------------------------------------------------------------
    def create_allowlist(self, name: str, description: str = "") -> None:
        _check_name(name, "allowlist name")
        try:
            with self._write() as s:
                allow_store.create(s, name, description, self.clock())
        except machine_store.AlreadyExists:
            raise Forbidden(f"allowlist {name!r} already exists") from None

    def add_allowlist_items(
        self, name: str, values: list[str], description: str = "", expires_at: datetime | None = None
    ) -> int:
        """Add entries; active decisions inside them are deleted. Returns decisions deleted."""
        items = [allow_store.NewItem(parse_ip_or_range(v), description, expires_at) for v in values]
        now = self.clock()
        with self._write() as s:
            al = allow_store.get(s, name)
            if al is None:
                raise NotFound(f"allowlist {name!r} not found")
            allow_store.add_items(s, al, items, now)
            seq = next_seq(s)
            return sum(
                decision_store.soft_delete(
                    s, decision_store.DecisionQuery(ip=it.value, contains=False), seq, now
                )
                for it in items
            )

    def remove_allowlist_items(self, name: str, values: list[str]) -> int:
        with self._write() as s:
            al = allow_store.get(s, name)
            if al is None:
                raise NotFound(f"allowlist {name!r} not found")
            return allow_store.remove_items(s, al, values)

    def delete_allowlist(self, name: str) -> None:
        with self._write() as s:
            if not allow_store.remove(s, name):
                raise NotFound(f"allowlist {name!r} not found")

    def list_allowlists(self, with_items: bool = True) -> list[dict[str, Any]]:
        with self._read() as s:
            return allow_store.list_all(s, with_items)

    def get_allowlist(self, name: str, with_items: bool = True) -> dict[str, Any]:
        with self._read() as s:
            al = allow_store.get(s, name)
            if al is None:
                raise NotFound(f"allowlist {name!r} not found")
            return allow_store.to_dict(al, allow_store.items_of(s, al) if with_items else None)

    def check_allowlisted(self, target: IpRange) -> list[tuple[str, str]]:
        """(allowlist name, matching item value/description text) for ``target``."""
        with self._read() as s:
            return [
                (name, f"{item.value} from {name}" + (f" ({item.description})" if item.description else ""))
                for name, item in allow_store.matches(s, target, self.clock())
            ]

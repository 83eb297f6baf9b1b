"""The LAPI's operations, synchronous and framework-free (the HTTP layer runs them in threads).

Every change to decisions happens in one transaction that takes one change number
(``storage.sequence.next_seq``) and stamps the rows it touches; ``changes_since`` is how
the in-memory stream index (and other LAPI processes on the same database) follow.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from crowdwatch.lapi import auth
from crowdwatch.lapi.alerts import AlertIn, AlertsParser, parse_alert
from crowdwatch.lapi.decisions import CountProvider, PackedRecords
from crowdwatch.lapi.errors import BadRequest, Forbidden, LapiError, NotFound
from crowdwatch.lapi.iprange import IpRange, parse_ip_or_range, parse_range
from crowdwatch.lapi.profiles import Notifier, Profile, ProfileResult, evaluate
from crowdwatch.lapi.storage import Database
from crowdwatch.lapi.storage import alerts as alert_store
from crowdwatch.lapi.storage import allowlists as allow_store
from crowdwatch.lapi.storage import decisions as decision_store
from crowdwatch.lapi.storage import machines as machine_store
from crowdwatch.lapi.storage import retention as retention_store
from crowdwatch.lapi.storage.engine import BUSY_TIMEOUT_MS, sqlite_of
from crowdwatch.lapi.storage.retention import FlushReport, RetentionPolicy
from crowdwatch.lapi.storage.sequence import current_seq, next_seq, shared_secret
from crowdwatch.lapi.storage.tables import NAME_LEN, Bouncer, Machine
from crowdwatch.lapi.timefmt import now as utcnow
from crowdwatch.lapi.timefmt import parse_duration

log = logging.getLogger(__name__)

MAX_ALERTS_PER_REQUEST = 10_000
ALLOWLIST_TTL = 1.0  # s an in-memory copy of the allowlists serves alert pushes (other processes' changes)
PUSH_RECORD_INTERVAL = 1.0  # s between writes of one machine's last_push
STREAM_PARSE_MIN = 1 << 20  # bytes from which an alerts body is parsed a decision at a time


class Payload:
    """A decoded request body handed over once: whoever takes it holds the only reference, so
    a large import's JSON objects are freed as soon as they are parsed into alerts."""

    __slots__ = ("_doc",)

    def __init__(self, doc: Any) -> None:
        self._doc = doc

    def take(self) -> Any:
        doc, self._doc = self._doc, None
        return doc

    def raw_size(self) -> int:
        """Length of a raw body held (-1 for a decoded document)."""
        doc = self._doc
        return len(doc) if isinstance(doc, bytearray | bytes) else -1


class WriterBusy(Exception):
    """SQLite's write lock is held elsewhere (:meth:`LapiService.store_alerts` with ``nowait``)."""


@dataclass
class AlertBatch:
    """Alert requests parsed and decided, not yet stored (:meth:`LapiService.plan_alerts`)."""

    now: datetime
    results: list[list[str] | LapiError]
    planned: list[tuple[int, str, AlertIn, list[decision_store.NewDecision], ProfileResult | None]]

    @property
    def decisions(self) -> int:
        return sum(len(p[3]) for p in self.planned)


@dataclass(frozen=True)
class MachineLogin:
    machine_id: str
    validated: bool


def _decode_body(raw: bytearray) -> Any:
    """A request body's JSON; emptied as soon as it is decoded. Large bodies (imports) are
    parsed a decision at a time (:class:`AlertsBody`; the server parses them as they arrive)."""
    try:
        if len(raw) < STREAM_PARSE_MIN:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"invalid JSON body: {exc}") from None
        body = AlertsBody()
        for start in range(0, len(raw), 1 << 16):
            body.feed(raw[start : start + (1 << 16)])
        raw.clear()
        return body.close()
    finally:
        raw.clear()


class AlertsBody:
    """A large POST /v1/alerts body parsed as it arrives (:class:`AlertsParser`): the result
    (:meth:`close`) is for a :class:`Payload`. Invalid JSON is a :class:`BadRequest`."""

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = AlertsParser()

    def feed(self, data: bytes | bytearray) -> None:
        try:
            self._parser.feed_bytes(data)
        except ValueError as exc:
            raise BadRequest(f"invalid JSON body: {exc}") from None

    def close(self) -> Any:
        try:
            return self._parser.close()
        except ValueError as exc:
            raise BadRequest(f"invalid JSON body: {exc}") from None


def _check_name(name: str, what: str) -> None:
    if not name or len(name) > NAME_LEN or any(c.isspace() or not c.isprintable() for c in name):
        raise BadRequest(f"invalid {what} {name[:64]!r}: 1 to {NAME_LEN} printable characters, no spaces")


def _allowlisted(alert: AlertIn, allowed: list[tuple[str, IpRange]]) -> bool:
    src = alert.source
    target = parse_range(src.value) if src.scope in ("Ip", "Range") else None
    if target is None:
        return False
    for name, item in allowed:
        if item.contains(target):
            log.info("alert %s for %s dropped: allowlisted by %s", alert.scenario, src.value, name)
            return True
    return False


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() + "Z" if t else None


def _machine_dict(m: Machine) -> dict[str, Any]:
    return {
        "machineId": m.machine_id,
        "ipAddress": m.ip_address,
        "isValidated": m.is_validated,
        "version": m.version,
        "auth_type": m.auth_type,
        "scenarios": m.scenarios,
        "created_at": _iso(m.created_at),
        "updated_at": _iso(m.updated_at),
        "last_push": _iso(m.last_push),
        "last_heartbeat": _iso(m.last_heartbeat),
    }


def _bouncer_dict(b: Bouncer) -> dict[str, Any]:
    return {
        "name": b.name,
        "ip_address": b.ip_address,
        "type": b.type,
        "version": b.version,
        "revoked": b.revoked,
        "auth_type": b.auth_type,
        "created_at": _iso(b.created_at),
        "last_pull": _iso(b.last_pull),
    }


class LapiService:
    def __init__(
        self,
        db: Database,
        profiles: list[Profile],
        *,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
        retention: RetentionPolicy | None = None,
    ) -> None:
        self.db = db
        self.profiles = profiles
        self.clock = clock
        self.notifier = notifier
        self.retention = retention or RetentionPolicy()
        self._analyzed_at = 0  # growth marker at the last SQLite ANALYZE
        # (monotonic deadline, first item expiry, ranges) of the allowlists; None: read again
        self._allow_cache: tuple[float, datetime | None, list[tuple[str, IpRange]]] | None = None
        self._pushed: dict[str, float] = {}  # machine -> monotonic time its last_push may be written again
        self._write_sessions = sessionmaker(db.write, expire_on_commit=False)
        self._read_sessions = sessionmaker(db.read, expire_on_commit=False)
        self._held_conns: dict[str, Connection] = {}
        with self._write_sessions() as s:
            self.jwt = auth.JwtSigner(auth.secret_from_env() or shared_secret(s, "jwt_secret"))
        self.maintain_statistics()

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
            return [_machine_dict(m) for m in machine_store.list_machines(s)]

    def get_machine(self, machine_id: str) -> dict[str, Any]:
        with self._read() as s:
            m = machine_store.get_machine(s, machine_id)
            if m is None:
                raise NotFound(f"machine {machine_id!r} not found")
            return _machine_dict(m)

    def prune_machines(self, inactive_for: timedelta, not_validated: bool = False) -> list[str]:
        """Delete machines without heartbeat for ``inactive_for`` (or all unvalidated ones)."""
        with self._write() as s:
            return machine_store.prune_machines(s, self.clock() - inactive_for, not_validated)

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

    def bouncer_cursor(self, bouncer_id: int) -> int | None:
        """The stream position a bouncer was last served (by any LAPI process on this database)."""
        with self._read() as s:
            return machine_store.bouncer_cursor(s, bouncer_id)

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
            return [_bouncer_dict(b) for b in machine_store.list_bouncers(s)]

    def get_bouncer(self, name: str) -> dict[str, Any]:
        with self._read() as s:
            b = machine_store.get_bouncer(s, name)
            if b is None:
                raise NotFound(f"bouncer {name!r} not found")
            return _bouncer_dict(b)

    def prune_bouncers(self, inactive_for: timedelta) -> list[str]:
        """Delete bouncers that have not pulled decisions for ``inactive_for``."""
        with self._write() as s:
            return machine_store.prune_bouncers(s, self.clock() - inactive_for)

    # --- alerts ----------------------------------------------------------------------
    def create_alerts(self, machine_id: str, payload: Any) -> list[str]:
        """POST /v1/alerts for one request (see :meth:`create_alerts_many`)."""
        (result,) = self.create_alerts_many([(machine_id, payload)])
        if isinstance(result, LapiError):
            raise result
        return result

    def create_alerts_many(self, requests: list[tuple[str, Any]]) -> list[list[str] | LapiError]:
        """Several POST /v1/alerts requests (machine_id, payload) in one transaction: each is
        validated, allowlisted sources dropped, decided (profiles unless the alert brings its
        decisions); a refused request gets its error, the others their alert ids."""
        return self.store_alerts(self.plan_alerts(requests))

    def plan_alerts(self, requests: list[tuple[str, Any]]) -> AlertBatch:
        """What :meth:`create_alerts_many` does before its transaction (payloads are taken)."""
        now = self.clock()
        results: list[list[str] | LapiError] = [[] for _ in requests]
        parsed: list[tuple[int, str, list[AlertIn]]] = []
        for i, (machine_id, payload) in enumerate(requests):
            try:
                parsed.append((i, machine_id, self._parse_request(payload)))
            except LapiError as exc:
                results[i] = exc
        if any(a.source.scope in ("Ip", "Range") for _, _, alerts in parsed for a in alerts):
            allowed = self._allowlisted_ranges(now)
            if allowed:
                parsed = [
                    (i, m, [a for a in alerts if not _allowlisted(a, allowed)]) for i, m, alerts in parsed
                ]
        planned: list[tuple[int, str, AlertIn, list[decision_store.NewDecision], ProfileResult | None]] = []
        for i, machine_id, alerts in parsed:
            try:
                planned.extend((i, machine_id, a, *self._decide(a)) for a in alerts)
            except LapiError as exc:  # a profile failed with an empty on_error: the request fails
                results[i] = exc
        planned = [p for p in planned if not isinstance(results[p[0]], LapiError)]
        return AlertBatch(now, results, planned)

    def store_alerts(self, batch: AlertBatch, *, nowait: bool = False) -> list[list[str] | LapiError]:
        """The transaction of :meth:`create_alerts_many`. ``nowait`` (SQLite): raise
        :class:`WriterBusy` at once instead of waiting for another writer's lock (the caller
        may then run it again elsewhere: nothing was stored)."""
        now, results, planned = batch.now, batch.results, batch.planned
        held = self._held("write") if nowait and self.db.dialect == "sqlite" else None
        # a Connection: an ORM Session would cost ~0.1 ms more
        with held.begin() if held is not None else self.db.write.begin() as tx:
            s = held if held is not None else cast(Connection, tx)
            raw = sqlite_of(s) if nowait else None
            if raw is not None:
                raw.execute("PRAGMA busy_timeout = 0")
            try:
                ids, new = alert_store.insert_many(s, [(m, a) for _, m, a, _, _ in planned], now)
                groups: list[tuple[int | None, list[decision_store.NewDecision]]] = [
                    (aid, p[3]) for aid, p, fresh in zip(ids, planned, new) if fresh and p[3]
                ]  # a resent alert (known uuid) keeps the decisions it got the first time
                if groups:
                    decision_store.insert(s, groups, next_seq(s), now)
                machine_store.record_push(s, self._pushes_to_record({m for _, m, _, _, _ in planned}), now)
            except (OperationalError, sqlite3.OperationalError) as exc:
                if raw is not None and "locked" in str(exc):
                    raise WriterBusy from None
                raise
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        for aid, fresh, (i, _, a, _, outcome) in zip(ids, new, planned):
            cast(list[str], results[i]).append(str(aid))
            if fresh and self.notifier is not None and outcome is not None and outcome.notifications:
                self.notifier(aid, a, outcome.notifications)
        if sum(len(p[3]) for p in planned) >= 1000:
            self.maintain_statistics()
        return results

    def _allowlisted_ranges(self, now: datetime) -> list[tuple[str, IpRange]]:
        """Unexpired allowlist items, re-read at most every :data:`ALLOWLIST_TTL` seconds (at
        once after a change through this service) and when one of them expires."""
        cached = self._allow_cache
        if cached is not None and time.monotonic() < cached[0] and (cached[1] is None or now < cached[1]):
            return cached[2]
        with self._read() as s:
            ranges, first_end = allow_store.active_ranges(s, now)
        self._allow_cache = (time.monotonic() + ALLOWLIST_TTL, first_end, ranges)
        return ranges

    def _pushes_to_record(self, machine_ids: set[str]) -> set[str]:
        """Machines whose ``last_push`` is worth writing: not written in the last second."""
        due = time.monotonic()
        out = {m for m in machine_ids if self._pushed.get(m, 0.0) <= due}
        if len(self._pushed) > 100_000:
            self._pushed.clear()
        for m in out:
            self._pushed[m] = due + PUSH_RECORD_INTERVAL
        return out

    @staticmethod
    def _parse_request(payload: Any) -> list[AlertIn]:
        owned = isinstance(payload, Payload)
        if owned:
            payload = payload.take()  # the decoded JSON is freed as it is parsed
            if isinstance(payload, bytearray):  # the raw body (POST /v1/alerts)
                payload = _decode_body(payload)
        if not isinstance(payload, list):
            raise BadRequest("expected a JSON array of alerts")
        if len(payload) > MAX_ALERTS_PER_REQUEST:
            raise BadRequest(f"too many alerts in one request (at most {MAX_ALERTS_PER_REQUEST})")
        return [parse_alert(doc, f"alerts[{i}]", release=owned) for i, doc in enumerate(payload)]

    def _decide(self, alert: AlertIn) -> tuple[list[decision_store.NewDecision], ProfileResult | None]:
        if alert.decisions:
            given, alert.decisions = alert.decisions, []
            self._given(alert, given)
            return given, None
        outcome = evaluate(self.profiles, alert)
        return outcome.decisions, outcome

    @staticmethod
    def _given(alert: AlertIn, given: list[decision_store.NewDecision]) -> None:
        """Decisions provided in the payload (cscli ``decisions add``), completed in place:
        ``until`` from each one's duration (one datetime per duration: an import's rows share
        it), simulated if the alert is."""
        untils: dict[str, datetime] = {}
        runs = alert.durations
        assert runs or not given  # parse_alert gives the durations with the decisions
        simulated = alert.simulated
        for k, (start, duration) in enumerate(runs):
            until = untils.get(duration)
            if until is None:
                until = untils[duration] = alert.stop_at + parse_duration(duration)
            for i in range(start, runs[k + 1][0] if k + 1 < len(runs) else len(given)):
                d = given[i]
                if d.scope in ("Ip", "Range"):
                    parse_ip_or_range(d.value, f"decision value for scope {d.scope}")
                d.until = until
                if simulated:
                    d.simulated = True

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

    def changes_since(self, seq: int, *, held: bool = False) -> tuple[PackedRecords, int]:
        """(decision changes after ``seq``, the sequence number they bring the reader to).
        ``held``: on the event loop's own connection (see :meth:`store_alerts`)."""
        if held and self.db.dialect == "sqlite":
            conn = self._held("read")
            head = current_seq(conn)  # SQLite: autocommit reads, each sees the latest commit
            return decision_store.changes_since(conn, seq), head
        with self.db.read.connect() as conn:  # no ORM session: this follows every write
            head = current_seq(conn)  # read first: every change up to it is in the next query
            return decision_store.changes_since(conn, seq), head

    def _held(self, kind: str) -> Connection:
        """A connection kept checked out for the event loop's inline writes and reads (SQLite):
        a pool check-out and check-in cost ~10 % of an alert push."""
        conn = self._held_conns.get(kind)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held_conns[kind] = (self.db.write if kind == "write" else self.db.read).connect()
        return conn

    def release_held(self) -> None:
        for conn in self._held_conns.values():
            conn.close()
        self._held_conns.clear()

    def checkpoint(self) -> None:
        """SQLite: copy the committed WAL into the database file (PASSIVE: never waits for, nor
        blocks, the writer), so that commits seldom have to checkpoint themselves."""
        if self.db.dialect == "sqlite":
            with self.db.read.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def maintain_statistics(self) -> None:
        """SQLite: re-ANALYZE when the tables grew by a quarter (and 1000 rows) since last time."""
        if self.db.dialect != "sqlite":
            return
        with self._read() as s:
            marker = retention_store.table_growth_marker(s)
        if marker - self._analyzed_at >= max(1000, self._analyzed_at // 4):
            with self._write() as s:
                retention_store.analyze_sqlite(s)
            self._analyzed_at = marker

    def flush(self) -> FlushReport:
        """Apply the retention policy (and drop finished decision rows nobody needs)."""
        with self._write() as s:
            report = retention_store.flush(s, self.retention, self.clock())
        if self.db.dialect == "sqlite" and (report.alerts or report.decisions):
            with self._write() as s:
                retention_store.reclaim_sqlite(s)
        self.maintain_statistics()
        if report.alerts or report.bouncers or report.machines:
            log.info(
                "flushed %d alerts, %d decisions, %d bouncers, %d machines",
                report.alerts,
                report.decisions,
                report.bouncers,
                report.machines,
            )
        return report

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
        self._allow_cache = None
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
        self._allow_cache = None
        with self._write() as s:
            al = allow_store.get(s, name)
            if al is None:
                raise NotFound(f"allowlist {name!r} not found")
            return allow_store.remove_items(s, al, values)

    def delete_allowlist(self, name: str) -> None:
        self._allow_cache = None
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

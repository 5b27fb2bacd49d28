"""Virtual keys in the ledger's database: create, list, show, revoke, rotate, authenticate.

:meth:`KeyStore.open` opens the database the way the ledger does (``open_store``: same URLs,
same migrations, so the keys tables exist wherever a ledger does). Every change to a key and
its :class:`~daytwo.keys.model.AdminEvent` are written in one transaction.

Authentication answers ``None`` for unknown, malformed, revoked, expired and rotated-out keys
alike, and does the same work for each: it always hashes, always looks up, always compares.
The gateway's hot path uses :class:`daytwo.keys.cache.KeyCache`, not this class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from daytwo.audit.chain import CONTROL, Item, append
from daytwo.keys.errors import KeyNotFound, KeyStateError, KeyStoreError
from daytwo.keys.format import display_prefix, is_well_formed, new_key_id, new_secret
from daytwo.keys.hashing import digest_matches, key_digest
from daytwo.keys.model import AdminEvent, IssuedKey, KeyPrincipal, KeyRecord, KeySpec
from daytwo.keys.schema import admin_events, virtual_keys
from daytwo.keys.specs import parse_budget
from daytwo.ledger.store import DEFAULT_URL, LedgerStore, open_store

Clock = Callable[[], float]


class KeyStore:
    """Keys and admin events over an open (migrated) ledger database. Thread-safe."""

    def __init__(
        self, ledger: LedgerStore, *, pepper: bytes = b"", clock: Clock = time.time
    ) -> None:
        self._ledger = ledger
        self._engine = ledger.engine
        self._pepper = pepper
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        pepper: bytes = b"",
        create: bool = True,
        clock: Clock = time.time,
    ) -> KeyStore:
        """Open (and migrate) the database at ``url``; raises a ``DaytwoError`` on failure."""
        ledger = open_store(url, create=create)
        try:
            with ledger.connect() as conn:
                present = sa.inspect(conn).has_table(virtual_keys.name)
        except BaseException:
            ledger.close()
            raise
        if not present:
            ledger.close()
            raise KeyStoreError(
                f"{ledger.safe_url} has no keys tables: its schema predates migration 0002"
            )
        return cls(ledger, pepper=pepper, clock=clock)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def safe_url(self) -> str:
        return self._ledger.safe_url

    def digest(self, secret: str) -> str:
        return key_digest(self._pepper, secret)

    # ------------------------------------------------------------------ changes

    def create(self, spec: KeySpec, *, actor: str, now: float | None = None) -> IssuedKey:
        """Issue a new key. The returned secret is never stored and cannot be shown again.
        A budget that does not parse (``50/day``) is a :class:`ValueError`."""
        if spec.budget is not None:
            spec = replace(spec, budget=parse_budget(spec.budget).text)
        now = self._clock() if now is None else now
        with self.transaction() as conn:
            issued = self._insert(conn, spec, actor=actor, now=now, rotated_from=None)
            write_event(
                conn, now, actor, "key.create", issued.record.id, None, shown(issued.record)
            )
        return issued

    def revoke(self, key_id: str, *, actor: str, now: float | None = None) -> KeyRecord:
        """Revoke a key now. Revoking a key twice is a :class:`KeyStateError`."""
        now = self._clock() if now is None else now
        with self.transaction() as conn:
            before = self._locked(conn, key_id)
            if before.revoked_at is not None:
                raise KeyStateError(f"key {key_id} is already revoked")
            conn.execute(
                virtual_keys.update().where(virtual_keys.c.id == key_id).values(revoked_at=now)
            )
            after = self._locked(conn, key_id)
            write_event(conn, now, actor, "key.revoke", key_id, shown(before), shown(after))
        return after

    def rotate(
        self, key_id: str, *, grace: float, actor: str, now: float | None = None
    ) -> IssuedKey:
        """Issue a new key with the same attributes; the old one works until ``now + grace``."""
        if grace < 0:
            raise ValueError("grace must not be negative")
        now = self._clock() if now is None else now
        with self.transaction() as conn:
            before = self._locked(conn, key_id)
            state = before.state(now)
            if state != "active":
                raise KeyStateError(f"key {key_id} is {state}: only an active key can be rotated")
            issued = self._insert(conn, before.spec, actor=actor, now=now, rotated_from=key_id)
            conn.execute(
                virtual_keys.update()
                .where(virtual_keys.c.id == key_id)
                .values(grace_until=now + grace)
            )
            after = self._locked(conn, key_id)
            write_event(conn, now, actor, "key.rotate", key_id, shown(before), shown(after))
            write_event(
                conn, now, actor, "key.create", issued.record.id, None, shown(issued.record)
            )
        return issued

    # ------------------------------------------------------------------ reads

    def get(self, key_id: str) -> KeyRecord | None:
        row = self.row_where(virtual_keys, virtual_keys.c.id == key_id)
        return None if row is None else _record(row)

    def require(self, key_id: str) -> KeyRecord:
        record = self.get(key_id)
        if record is None:
            raise KeyNotFound(key_id)
        return record

    def successor(self, key_id: str) -> KeyRecord | None:
        """The key issued by rotating ``key_id`` (only an active key rotates: at most one)."""
        row = self.row_where(virtual_keys, virtual_keys.c.rotated_from == key_id)
        return None if row is None else _record(row)

    def list_keys(self, *, project: str | None = None) -> list[KeyRecord]:
        query = sa.select(virtual_keys).order_by(virtual_keys.c.created_at, virtual_keys.c.id)
        if project is not None:
            query = query.where(virtual_keys.c.project == project)
        return [_record(row) for row in self.rows(query)]

    def usable_records(self, now: float | None = None) -> list[KeyRecord]:
        """Every key that may authenticate at ``now`` (what the cache loads)."""
        now = self._clock() if now is None else now
        c = virtual_keys.c
        query = sa.select(virtual_keys).where(
            c.revoked_at.is_(None),
            sa.or_(c.expires_at.is_(None), c.expires_at > now),
            sa.or_(c.grace_until.is_(None), c.grace_until > now),
        )
        return [_record(row) for row in self.rows(query)]

    def find(self, digest: str) -> KeyRecord | None:
        """The key stored with this digest (peppered hash), whatever its state: what the
        gateway's cache asks for a key its snapshot does not hold yet (one indexed read)."""
        row = self.row_where(virtual_keys, virtual_keys.c.hash == digest)
        return None if row is None else _record(row)

    def events(self, *, target: str | None = None) -> list[AdminEvent]:
        query = sa.select(admin_events).order_by(admin_events.c.id)
        if target is not None:
            query = query.where(admin_events.c.target == target)
        return [
            AdminEvent(
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                before=None if row["before"] is None else orjson.loads(row["before"]),
                after=None if row["after"] is None else orjson.loads(row["after"]),
            )
            for row in self.rows(query)
        ]

    def authenticate(self, secret: str, now: float | None = None) -> KeyPrincipal | None:
        """The key's principal, or None for any key that must not pass (one answer for all)."""
        now = self._clock() if now is None else now
        digest = self.digest(secret)  # always: malformed keys cost what valid ones do
        well_formed = is_well_formed(secret)
        row = self.row_where(virtual_keys, virtual_keys.c.hash == digest)
        record = None if row is None else _record(row)
        matches = digest_matches(record.digest if record is not None else None, digest)
        if record is not None and matches and well_formed and record.usable(now):
            return record.principal()
        return None

    # ------------------------------------------------------------------ internals

    def _insert(
        self,
        conn: sa.Connection,
        spec: KeySpec,
        *,
        actor: str,
        now: float,
        rotated_from: str | None,
    ) -> IssuedKey:
        secret = new_secret()
        record = KeyRecord(
            id=new_key_id(),
            prefix=display_prefix(secret),
            spec=spec,
            created_at=now,
            created_by=actor,
            rotated_from=rotated_from,
            digest=self.digest(secret),
        )
        conn.execute(virtual_keys.insert().values(_row(record)))
        return IssuedKey(secret=secret, record=record)

    def record_event(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> None:
        """Append one event that is not a key change (switches, budget trips, thresholds)."""
        with self.transaction() as conn:
            write_event(
                conn, time.time() if at is None else at, actor, action, target, before, after
            )

    def _locked(self, conn: sa.Connection, key_id: str) -> KeyRecord:
        row = locked_row(conn, virtual_keys, key_id)
        if row is None:
            raise KeyNotFound(key_id)
        return _record(row)

    # ------------------------------------------------------------------ database access
    # (admin tokens live in the same database and use these too)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One write transaction; a driver error becomes a :class:`KeyStoreError`."""
        try:
            with self._engine.connect() as conn:
                # SQLite: take the write lock up front (see daytwo.ledger.store).
                conn.execution_options(daytwo_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as exc:
            raise _map_error(exc, "write") from exc

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection for reads; a driver error becomes a :class:`KeyStoreError`."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise _map_error(exc, "read") from exc

    def row_where(self, table: sa.Table, condition: Any) -> RowMapping | None:
        """The first row of ``table`` meeting ``condition``, or None."""
        with self.read() as conn:
            row = conn.execute(sa.select(table).where(condition)).first()
        return None if row is None else row._mapping

    def rows(self, query: sa.Select[Any]) -> list[RowMapping]:
        with self.read() as conn:
            return [row._mapping for row in conn.execute(query)]

    def close(self) -> None:
        self._ledger.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Shown(Protocol):
    """A record as the admin event log shows it (never its secret or digest)."""

    def to_json(self) -> dict[str, Any]: ...


def shown(record: Shown | None) -> dict[str, Any] | None:
    return None if record is None else record.to_json()


def write_event(
    conn: sa.Connection,
    at: float,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """One admin event, inside the transaction of the change it describes, and its entry in
    the audit trail's control stream (chained in the same transaction: the change, its event
    and its entry commit together or not at all)."""
    result = conn.execute(
        admin_events.insert().values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            before=None if before is None else orjson.dumps(before).decode(),
            after=None if after is None else orjson.dumps(after).decode(),
        )
    )
    event_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    project = next(
        (
            side["project"]
            for side in (after, before)
            if side and isinstance(side.get("project"), str)
        ),
        None,
    )
    body = {"event_id": event_id, "before": before, "after": after}
    append(conn, CONTROL, [Item(at, action, target, actor, body, project)])


def locked_row(conn: sa.Connection, table: sa.Table, row_id: str) -> RowMapping | None:
    """The row of ``table`` with ``id`` ``row_id``, locked for the rest of the transaction."""
    query = sa.select(table).where(table.c.id == row_id).with_for_update()
    row = conn.execute(query).first()
    return None if row is None else row._mapping


def _row(r: KeyRecord) -> dict[str, Any]:
    s = r.spec
    return {
        "id": r.id,
        "hash": r.digest,
        "prefix": r.prefix,
        "project": s.project,
        "workflow": s.workflow,
        "feature": s.feature,
        "environment": s.environment,
        "allowed_models": None if s.models is None else orjson.dumps(list(s.models)).decode(),
        "budget": s.budget,
        "rpm": s.rpm,
        "tpm": s.tpm,
        "created_at": r.created_at,
        "expires_at": s.expires_at,
        "revoked_at": r.revoked_at,
        "rotated_from": r.rotated_from,
        "grace_until": r.grace_until,
        "created_by": r.created_by,
        "description": s.description,
    }


def _record(m: Any) -> KeyRecord:
    models = m["allowed_models"]
    return KeyRecord(
        id=m["id"],
        prefix=m["prefix"],
        spec=KeySpec(
            project=m["project"],
            workflow=m["workflow"],
            feature=m["feature"],
            environment=m["environment"],
            models=None if models is None else tuple(orjson.loads(models)),
            budget=m["budget"],
            rpm=m["rpm"],
            tpm=m["tpm"],
            expires_at=m["expires_at"],
            description=m["description"],
        ),
        created_at=m["created_at"],
        created_by=m["created_by"],
        revoked_at=m["revoked_at"],
        rotated_from=m["rotated_from"],
        grace_until=m["grace_until"],
        digest=m["hash"],
    )


def _map_error(exc: sa.exc.DBAPIError, what: str) -> KeyStoreError:
    """One line naming the driver's complaint: never the statement, never its parameters."""
    orig = exc.orig if exc.orig is not None else exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return KeyStoreError(f"key store {what} failed: {type(orig).__name__}: {first}")

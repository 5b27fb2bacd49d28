"""The ledger's database: SQLite (a file, the default) or PostgreSQL, behind one class.

:func:`open_store` creates the engine, brings the schema to the newest migration and returns a
:class:`LedgerStore`. :meth:`LedgerStore.insert_batch` writes raw rows (calls and their attempts)
and upserts the rollups in one transaction; it is idempotent per call id (a record already stored
is skipped: its attempts are not written again, nor is it counted twice), so a batch can be
retried or a spill file replayed after a crash without double counting.

Driver exceptions are mapped here, once, to :mod:`daytwo.ledger.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event

from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.codec import (
    ATTEMPT_COLUMNS,
    ROW_COLUMNS,
    SCORE_COLUMNS,
    from_attempt_row,
    from_row,
    from_score_row,
    score_row,
    to_attempt_rows,
    to_row,
)
from daytwo.ledger.errors import LedgerError, LedgerNotFound, LedgerRejected, LedgerUnavailable
from daytwo.ledger.migrate import upgrade_head
from daytwo.ledger.rollup import aggregate
from daytwo.ledger.schema import (
    METRICS,
    attempts,
    calls,
    rollup_daily_user,
    rollup_hourly,
    scores,
)

log = logging.getLogger("daytwo.ledger")

DEFAULT_URL = "sqlite:///daytwo-ledger.db"
#: How long a SQLite writer waits for another connection's lock (URL ``?timeout=`` overrides).
SQLITE_BUSY_TIMEOUT_S = 5.0
#: How long connecting to PostgreSQL may take (URL ``?connect_timeout=`` overrides).
PG_CONNECT_TIMEOUT_S = 5
_SQLITE_IDS_PER_QUERY = 5_000
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    # 8 MiB of page cache per connection: the writer appends (time-ordered ids) and reports
    # read small rollups, so a bigger cache only raised the gateway's RSS (measured: +64 MiB)
    "PRAGMA cache_size=-8192",
    "PRAGMA temp_store=MEMORY",
)


class BatchHook(Protocol):
    """What a room above the ledger writes with each batch of calls, in the same transaction
    (the audit trail's call entries and captured content)."""

    def write(self, conn: sa.Connection, records: Sequence[CallRecord]) -> object:
        """Write what belongs with ``records`` (new calls only) on ``conn``; the returned
        token is handed to :meth:`committed` once the transaction committed."""
        ...

    def committed(self, token: object) -> None: ...


def open_store(url: str = DEFAULT_URL, *, create: bool = True) -> LedgerStore:
    """Open (and migrate) the ledger at ``url``.

    ``sqlite:///relative/path.db`` is relative to the working directory at open time;
    ``postgresql://`` URLs use the psycopg 3 driver. With ``create=False`` a missing SQLite file
    raises :class:`LedgerNotFound` instead of creating an empty ledger (what read-only tools
    such as ``daytwo spend`` want).
    """
    engine, sqlite_path = _make_engine(url, create=create)
    try:
        upgrade_head(engine)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise _map_error(exc, what="open") from exc
    except BaseException:
        engine.dispose()
        raise
    return LedgerStore(engine, sqlite_path=sqlite_path)


class LedgerStore:
    """A migrated ledger database. Thread-safe: each call checks a connection out of the pool."""

    def __init__(self, engine: sa.Engine, *, sqlite_path: Path | None = None) -> None:
        self._engine = engine
        self.sqlite_path = sqlite_path
        self._sql = _Statements.build(engine.dialect)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden: safe for logs and error messages."""
        return self._engine.url.render_as_string(hide_password=True)

    def insert_batch(self, records: Sequence[CallRecord], hook: BatchHook | None = None) -> None:
        """Store ``records`` (with the attempts of their ``attempt_log``) and add them to the
        rollups, in one transaction.

        Records whose id is already stored (or repeated in the batch) are skipped. ``hook``
        writes what belongs with the new records in the same transaction. Raises
        :class:`LedgerUnavailable` when the database cannot take the write now and
        :class:`LedgerRejected` when it refuses the data itself.
        """
        if not records:
            return
        unique = list({r.id: r for r in reversed(records)}.values())  # the first one wins
        try:
            rows = [to_row(r) for r in unique]
            attempt_rows = to_attempt_rows(unique)
            hourly, daily = aggregate(unique)
            # Optimistic first: insert everything; only if some ids were already stored
            # (a replay, a retry after a lost commit) roll back and redo, skipping those.
            done = self._write(unique, rows, attempt_rows, hourly, daily, hook, skip_stored=False)
            if not done:
                self._write(unique, rows, attempt_rows, hourly, daily, hook, skip_stored=True)
        except sa.exc.DBAPIError as exc:
            raise _map_error(exc, what="write") from exc
        except (ValueError, TypeError, OverflowError) as exc:  # a value the driver cannot bind
            raise LedgerRejected(f"a call record cannot be stored: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:  # e.g. the pool timed out waiting for a connection
            raise LedgerUnavailable(f"ledger write failed: {type(exc).__name__}") from exc

    def insert_scores(self, records: Sequence[ScoreRecord]) -> None:
        """Store ``records`` in one transaction; a score id already stored is skipped (a
        retried batch). Raises :class:`LedgerUnavailable` / :class:`LedgerRejected` as
        :meth:`insert_batch` does."""
        if not records:
            return
        try:
            rows = [score_row(r) for r in records]
            with self._engine.begin() as conn:
                conn.exec_driver_sql(self._sql.insert_scores, rows)
        except sa.exc.DBAPIError as exc:
            raise _map_error(exc, what="write") from exc
        except (ValueError, TypeError, OverflowError) as exc:
            raise LedgerRejected(f"a score cannot be stored: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerUnavailable(f"ledger write failed: {type(exc).__name__}") from exc

    def _write(
        self,
        records: list[CallRecord],
        rows: list[tuple[Any, ...]],
        attempt_rows: list[tuple[Any, ...]],
        hourly: list[tuple[Any, ...]],
        daily: list[tuple[Any, ...]],
        hook: BatchHook | None,
        *,
        skip_stored: bool,
    ) -> bool:
        """One transaction. False (rolled back) when ``skip_stored`` is off and an id was stored."""
        with self._engine.connect() as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")
            with conn.begin() as tx:
                if skip_stored:
                    stored = self._existing_ids(conn, [r.id for r in records])
                    keep = [i for i, r in enumerate(records) if r.id not in stored]
                    if not keep:
                        return True
                    if len(keep) < len(records):
                        records = [records[i] for i in keep]
                        rows = [rows[i] for i in keep]
                        attempt_rows = to_attempt_rows(records)
                        hourly, daily = aggregate(records)
                result = conn.exec_driver_sql(self._sql.insert_calls, rows)
                if result.rowcount != len(rows):
                    # Some ids are stored already (or, with skip_stored, another writer stored
                    # them since we looked): never let the rollups count a call twice.
                    tx.rollback()
                    if skip_stored:
                        raise LedgerUnavailable("ledger write raced another writer; retrying")
                    return False
                if attempt_rows:
                    conn.exec_driver_sql(self._sql.insert_attempts, attempt_rows)
                conn.exec_driver_sql(self._sql.upsert_hourly, hourly)
                conn.exec_driver_sql(self._sql.upsert_daily, daily)
                token = hook.write(conn, records) if hook is not None else None
        if hook is not None:
            hook.committed(token)
        return True

    def _existing_ids(self, conn: sa.Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        if self.dialect == "postgresql":
            found.update(conn.exec_driver_sql(self._sql.existing_ids, (ids,)).scalars())
            return found
        for i in range(0, len(ids), _SQLITE_IDS_PER_QUERY):
            chunk = ids[i : i + _SQLITE_IDS_PER_QUERY]
            query = self._sql.existing_ids.format(", ".join("?" * len(chunk)))
            found.update(conn.exec_driver_sql(query, tuple(chunk)).scalars())
        return found

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reading (reports, tests). Driver errors become ledger errors."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise _map_error(exc, what="read") from exc

    def get_scores(self, call_id: str) -> list[ScoreRecord]:
        """A call's scores, oldest first."""
        query = sa.select(scores).where(scores.c.call_id == call_id).order_by(scores.c.at)
        with self.connect() as conn:
            return [from_score_row(row) for row in conn.execute(query).mappings()]

    def count_calls(self) -> int:
        with self.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one())

    def get_call(self, call_id: str) -> CallRecord | None:
        """The stored call, its ``attempt_log`` included; None when no call has that id."""
        with self.connect() as conn:
            row = conn.execute(sa.select(calls).where(calls.c.id == call_id)).mappings().first()
            if row is None:
                return None
            log = self._attempts(conn, call_id)
        return from_row(row, log)

    def get_attempts(self, call_id: str) -> list[AttemptRecord]:
        """The upstream attempts stored for a call, by ``n``: empty for an unknown call and
        for a call that made one attempt or none (its ``calls`` row says it all)."""
        with self.connect() as conn:
            return self._attempts(conn, call_id)

    @staticmethod
    def _attempts(conn: sa.Connection, call_id: str) -> list[AttemptRecord]:
        query = sa.select(attempts).where(attempts.c.call_id == call_id).order_by(attempts.c.n)
        return [from_attempt_row(row) for row in conn.execute(query).mappings()]

    def recent(self, n: int = 20) -> list[CallRecord]:
        """The ``n`` calls that started last, newest first (without their ``attempt_log``)."""
        query = sa.select(calls).order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(n)
        with self.connect() as conn:
            return [from_row(row) for row in conn.execute(query).mappings()]

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Statements:
    """The write path's SQL, built once per dialect from the schema.

    Executed with ``exec_driver_sql`` and positional tuples: the driver's executemany without
    SQLAlchemy's per-row parameter processing, which would otherwise cost more than the database.
    """

    insert_calls: str
    insert_attempts: str
    insert_scores: str
    existing_ids: str
    upsert_hourly: str
    upsert_daily: str

    @classmethod
    def build(cls, dialect: sa.Dialect) -> _Statements:
        q = dialect.identifier_preparer.quote
        mark = "?" if dialect.name == "sqlite" else "%s"

        def insert(table: sa.Table, columns: Sequence[str]) -> str:
            names = ", ".join(q(c) for c in columns)
            marks = ", ".join([mark] * len(columns))
            return f"INSERT INTO {q(table.name)} ({names}) VALUES ({marks})"  # noqa: S608  # names from the schema

        def upsert(table: sa.Table, keys: Sequence[str]) -> str:
            t = q(table.name)
            sets = ", ".join(f"{q(m)} = {t}.{q(m)} + excluded.{q(m)}" for m in METRICS)
            conflict = ", ".join(q(k) for k in keys)
            return (
                f"{insert(table, (*keys, *METRICS))} ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
            )

        if dialect.name == "sqlite":
            existing = "SELECT id FROM calls WHERE id IN ({})"
        else:
            existing = "SELECT id FROM calls WHERE id = ANY(%s)"
        return cls(
            insert_calls=f"{insert(calls, ROW_COLUMNS)} ON CONFLICT (id) DO NOTHING",
            # No ON CONFLICT: attempts are written only with their call, which is new.
            insert_attempts=insert(attempts, ATTEMPT_COLUMNS),
            # A score id is written once: a retried batch skips what was stored.
            insert_scores=f"{insert(scores, SCORE_COLUMNS)} ON CONFLICT (id) DO NOTHING",
            existing_ids=existing,
            upsert_hourly=upsert(rollup_hourly, ("dim", "hour_start", "value")),
            upsert_daily=upsert(rollup_daily_user, ("day_start", "user")),
        )


def _map_error(exc: sa.exc.DBAPIError, *, what: str) -> LedgerError:
    """One line naming the driver's complaint: never the statement, never its parameters."""
    orig = exc.orig if exc.orig is not None else exc
    first = (str(orig).strip().splitlines() or [""])[0]
    message = f"ledger {what} failed: {type(orig).__name__}: {first}"
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError) and not exc.connection_invalidated:
        return LedgerRejected(message)
    # Anything else (down, locked, read-only, disk full, even a schema problem) is not the
    # records' fault: the writer keeps them and retries rather than setting them aside.
    return LedgerUnavailable(message)


def _make_engine(url: str, *, create: bool) -> tuple[sa.Engine, Path | None]:
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise LedgerError("the ledger URL is not a database URL") from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(u, create=create)
    if backend == "postgresql":
        return _pg_engine(u), None
    raise LedgerError(f"unsupported ledger database `{backend}` (use sqlite:/// or postgresql://)")


def _sqlite_engine(u: sa.URL, *, create: bool) -> tuple[sa.Engine, Path]:
    if u.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise LedgerError(f"unsupported SQLite driver `{u.drivername}`")
    if not u.database or u.database == ":memory:" or u.query.get("mode") == "memory":
        raise LedgerError("the SQLite ledger needs a file path, e.g. sqlite:///daytwo-ledger.db")
    path = Path(u.database).expanduser().resolve()  # fixed now: later chdir() cannot move it
    if not path.exists():
        if not create:
            raise LedgerNotFound(f"no ledger at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    u = u.set(database=str(path))
    connect_args: dict[str, Any] = {}
    if "timeout" not in u.query:
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    engine = sa.create_engine(u, hide_parameters=True, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below): sqlite3's own transaction handling would
        # otherwise run DDL outside transactions and never BEGIN before a SELECT.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front (waiting up to the busy timeout) instead of
        # failing with SQLITE_BUSY when a read lock cannot be upgraded.
        mode = conn.get_execution_options().get("daytwo_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine, path


def _pg_engine(u: sa.URL) -> sa.Engine:
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername != "postgresql+psycopg":
        raise LedgerError(f"unsupported PostgreSQL driver `{u.drivername}` (daytwo uses psycopg 3)")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in u.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return sa.create_engine(
        u,
        hide_parameters=True,
        pool_pre_ping=True,  # a restarted server leaves dead connections in the pool
        pool_size=4,
        connect_args=connect_args,
    )

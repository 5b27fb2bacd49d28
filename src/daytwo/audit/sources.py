"""What :func:`daytwo.audit.verify.verify` reads: a :class:`Source` -- the ledger's database
(:class:`DatabaseSource`) or an exported bundle (:mod:`daytwo.audit.bundle`).

A source answers in plain tuples, never whole tables: a stream's entries come in chunks of
:data:`CHUNK` rows in ``seq`` order, and the rows a cross-check needs are asked for by batches
of ids. A :class:`StreamPlan` says which part of a stream is checked: the whole stream, or
(``--from``/``--to``, an export) whole digest periods overlapping a time range, so a part
verifies on its own -- anchored by its first entry's ``prev_hash`` instead of :data:`GENESIS`.

:class:`DatabaseSource` reads everything in one read transaction (a snapshot: on PostgreSQL
``REPEATABLE READ``; a SQLite read transaction in WAL mode), so a gateway appending meanwhile
cannot make a verification report a problem that is not there.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import orjson
import sqlalchemy as sa

from daytwo.audit.chain import CONTROL
from daytwo.ledger.codec import RECORD_COLUMNS, RECORD_FIELDS
from daytwo.ledger.store import LedgerStore

#: Entries per chunk read from a source.
CHUNK = 5_000
#: Ids per cross-check query.
IDS_PER_QUERY = 1_000
#: The kind of the control stream's retention entries, and of a replica stream's announcements.
RETENTION = "retention.delete"
ANNOUNCE = ("stream.open", "stream.resume")

#: An entry as a source yields it: (seq, at, kind, subject, actor, project, data, prev_hash,
#: hash); ``data`` (and ``at``) are None for an entry a project-filtered bundle omits.
EntryRow = tuple[int, float | None, str, str, str, str | None, str | None, str, str]
#: A calls column name for each key a call entry's summary may use (a record field's name or
#: the column's own).
SUMMARY_COLUMN = {**dict(zip(RECORD_FIELDS, RECORD_COLUMNS, strict=True))}
_CALL_COLUMNS = frozenset(RECORD_COLUMNS)


@dataclass(frozen=True, slots=True)
class DigestRow:
    stream: str
    n: int
    at: float
    first_seq: int
    last_seq: int
    key_id: str
    data: str
    signature: str


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The part of one stream a verification covers: entries ``lo..hi`` (``hi`` None: to the
    stream's end) and the digests overlapping them, in ``n`` order. ``from_start``: ``lo`` is
    the stream's first entry (its ``prev_hash`` must be GENESIS, its digests start at #1).
    ``head``: the stream's head (seq, hash) when the plan runs to its end."""

    stream: str
    lo: int
    hi: int | None
    digests: tuple[DigestRow, ...]
    from_start: bool
    head: tuple[int, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "first_seq": self.lo,
            "last_seq": self.hi,
            "first_n": self.digests[0].n if self.digests else None,
            "last_n": self.digests[-1].n if self.digests else None,
            "from_start": self.from_start,
        }


class Source(Protocol):
    """What verification reads."""

    #: Says what is verified (a database URL without its password, a bundle's path).
    name: str
    #: The time a bundle was exported (what its unsigned tail is judged against); None: now.
    as_of: float | None

    def plans(self, start: float | None, end: float | None) -> list[StreamPlan]: ...

    def entries(self, plan: StreamPlan) -> Iterator[list[EntryRow]]: ...

    def stored_keys(self) -> dict[str, str]:
        """key id → public key (PEM) as the source itself records them."""
        ...

    def all_streams(self) -> set[str]: ...

    def retention(self) -> list[tuple[str, float]]:
        """(class, before) of every retention deletion the control stream records."""
        ...

    def calls(self, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]] | None:
        """``columns`` of the calls rows of ``ids`` that exist (a row may hold more); None
        when the source carries no calls rows."""
        ...

    def contents(self, ids: Sequence[str]) -> dict[str, tuple[str, bytes]] | None:
        """call id → (codec, stored bytes) of the content rows that exist; None when the
        source carries no content."""
        ...

    def admin_events(self, ids: Sequence[int]) -> dict[int, dict[str, Any]] | None:
        """admin_events rows by id; None when the source carries none."""
        ...


def plan_stream(
    stream: str,
    digests: Sequence[DigestRow],
    span: tuple[int, int] | None,
    stream_end: int,
    head: tuple[int, str] | None,
) -> StreamPlan | None:
    """The plan covering ``span`` (the first and last seq of the entries in a time range;
    None: the whole stream) widened to the whole digest periods it overlaps."""
    if span is None:
        return StreamPlan(stream, 1, None, tuple(digests), True, head)
    lo, hi = span
    for d in digests:
        if d.first_seq <= lo <= d.last_seq:
            lo = d.first_seq
        if d.first_seq <= hi <= d.last_seq:
            hi = d.last_seq
    picked = [d for d in digests if d.first_seq <= hi and d.last_seq >= lo - 1]
    to_end = hi >= stream_end
    if picked and to_end:  # the empty digests written after the last entry belong too
        picked = [d for d in digests if d.n >= picked[0].n]
    return StreamPlan(
        stream, lo, None if to_end else hi, tuple(picked), lo <= 1, head if to_end else None
    )


def summary_columns(summary: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(summary key, calls column) for the keys of a call entry's summary that are columns."""
    return _summary_columns(tuple(summary))


@functools.lru_cache(maxsize=64)  # summaries of one writer version share their keys
def _summary_columns(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for key in keys:
        column = SUMMARY_COLUMN.get(key, key)
        if column in _CALL_COLUMNS and column != "id":
            out.append((key, column))
    return tuple(out)


class DatabaseSource:
    """The ledger's database, read in one snapshot. Use as a context manager."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self.name = store.safe_url
        self.as_of: float | None = None
        self._pg = store.dialect == "postgresql"
        self._mark = "%s" if self._pg else "?"
        self._conn: sa.Connection | None = None
        self._tx: sa.RootTransaction | None = None

    def __enter__(self) -> DatabaseSource:
        conn = self._store.engine.connect()
        if self._pg:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        self._conn = conn
        self._tx = conn.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tx is not None:
            self._tx.rollback()
        if self._conn is not None:
            self._conn.close()
        self._conn = self._tx = None

    @property
    def conn(self) -> sa.Connection:
        if self._conn is None:
            raise RuntimeError("DatabaseSource is used outside its `with` block")
        return self._conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # The driver's own cursor, in the snapshot's transaction: SQLAlchemy's rows cost more
        # than reading them (measured: a third of verify's time at a million entries).
        cursor = self.conn.connection.cursor()
        try:
            cursor.execute(sql.replace("?", self._mark), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _in(self, column: str, ids: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        if self._pg:
            return f"{column} = ANY(%s)", (list(ids),)
        return f"{column} IN ({', '.join('?' * len(ids))})", tuple(ids)

    # ------------------------------------------------------------------ the chains

    def plans(self, start: float | None, end: float | None) -> list[StreamPlan]:
        heads = {str(r[0]): (int(r[1]), str(r[2])) for r in self._rows(_HEADS)}
        ends = {str(r[0]): int(r[1]) for r in self._rows(_STREAM_ENDS)}
        digests: dict[str, list[DigestRow]] = {}
        for r in self._rows(_DIGESTS):
            digests.setdefault(str(r[0]), []).append(_digest(r))
        streams = sorted(set(ends) | set(digests) | {s for s, h in heads.items() if h[0] > 0})
        out = []
        for stream in sorted(streams, key=lambda s: (s != CONTROL, s)):
            span = None
            if start is not None or end is not None:
                r = self._rows(
                    "SELECT min(seq), max(seq) FROM audit_entries "
                    "WHERE stream = ? AND at >= ? AND at <= ?",
                    (stream, start if start is not None else float("-inf"), _or_inf(end)),
                )[0]
                if r[0] is None:
                    continue
                span = (int(r[0]), int(r[1]))
            plan = plan_stream(
                stream, digests.get(stream, []), span, ends.get(stream, 0), heads.get(stream)
            )
            if plan is not None:
                out.append(plan)
        return out

    def entries(self, plan: StreamPlan) -> Iterator[list[EntryRow]]:
        hi = plan.hi if plan.hi is not None else 2**62
        lo = plan.lo
        while lo <= hi:
            rows: list[EntryRow] = self._rows(_ENTRIES, (plan.stream, lo, hi, CHUNK))
            if not rows:
                return
            yield rows
            if len(rows) < CHUNK:
                return
            lo = int(rows[-1][0]) + 1

    def stored_keys(self) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self._rows(_KEYS)}

    def all_streams(self) -> set[str]:
        return {str(r[0]) for r in self._rows(_STREAM_ENDS)}

    def retention(self) -> list[tuple[str, float]]:
        return retention_of(self.retention_entries())

    def retention_entries(self) -> list[str]:
        """``data`` of the control stream's retention entries, in order."""
        return [str(r[0]) for r in self._rows(_RETENTION, (CONTROL, RETENTION))]

    # ------------------------------------------------------------------ cross-checks

    def calls(self, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        names = ["id", *(c for c in columns if c in _CALL_COLUMNS and c != "id")]
        quoted = ", ".join(f'"{c}"' for c in names)  # names from the schema only
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), IDS_PER_QUERY):
            where, params = self._in("id", ids[i : i + IDS_PER_QUERY])
            for r in self._rows(f"SELECT {quoted} FROM calls WHERE {where}", params):  # noqa: S608  # schema names, placeholders
                row = dict(zip(names, r, strict=True))
                tags = row.get("tags")
                if tags == "{}":  # the usual value: no parse
                    row["tags"] = {}
                elif isinstance(tags, str):  # JSON text: compared as data
                    with contextlib.suppress(orjson.JSONDecodeError):
                        row["tags"] = orjson.loads(tags)
                out[str(r[0])] = row
        return out

    def contents(self, ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        out: dict[str, tuple[str, bytes]] = {}
        for i in range(0, len(ids), IDS_PER_QUERY):
            where, params = self._in("call_id", ids[i : i + IDS_PER_QUERY])
            sql = f"SELECT call_id, codec, content FROM call_content WHERE {where}"  # noqa: S608  # placeholders only
            for r in self._rows(sql, params):
                out[str(r[0])] = (str(r[1]), bytes(r[2]))
        return out

    def admin_events(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), IDS_PER_QUERY):
            where, params = self._in("id", ids[i : i + IDS_PER_QUERY])
            sql = f"SELECT {', '.join(ADMIN_COLUMNS)} FROM admin_events WHERE {where}"  # noqa: S608  # placeholders only
            for r in self._rows(sql, params):
                out[int(r[0])] = dict(zip(ADMIN_COLUMNS, r, strict=True))
        return out


ADMIN_COLUMNS = ("id", "at", "actor", "action", "target", "before", "after")
_HEADS = "SELECT stream, seq, hash FROM audit_heads"
_STREAM_ENDS = "SELECT stream, max(seq) FROM audit_entries GROUP BY stream"
_DIGESTS = (
    "SELECT stream, n, at, first_seq, last_seq, key_id, data, signature FROM audit_digests "
    "ORDER BY stream, n"
)
_ENTRIES = (
    "SELECT seq, at, kind, subject, actor, project, data, prev_hash, hash FROM audit_entries "
    "WHERE stream = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?"
)
_KEYS = "SELECT key_id, public_key FROM audit_keys"
_RETENTION = "SELECT data FROM audit_entries WHERE stream = ? AND kind = ? ORDER BY seq"


def retention_of(datas: Sequence[str]) -> list[tuple[str, float]]:
    """(class, before) of retention entries' ``data``."""
    out = []
    for data in datas:
        body = orjson.loads(data).get("body") or {}
        if isinstance(body.get("before"), int | float):
            out.append((str(body.get("class")), float(body["before"])))
    return out


def _digest(r: Any) -> DigestRow:
    return DigestRow(
        stream=str(r[0]),
        n=int(r[1]),
        at=float(r[2]),
        first_seq=int(r[3]),
        last_seq=int(r[4]),
        key_id=str(r[5]),
        data=str(r[6]),
        signature=str(r[7]),
    )


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value

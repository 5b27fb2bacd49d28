"""Hash chains: what an audit entry is, the bytes its hash covers, and appending to a stream.

An entry's ``data`` is the canonical JSON (keys sorted, no whitespace, orjson's shortest
round-trip floats) of ``{"stream", "at", "kind", "subject", "actor", "project", "body"}``. Its
hash is ``sha256(prev_hash_bytes || data)`` in hex, where ``prev_hash`` is the hash of the
entry before it in the same stream (:data:`GENESIS` for a stream's first entry). The position
``seq`` is not hashed: continuity is checked by the links and by the signed digests, which name
the first and last ``seq`` and the last hash they cover. So:

* editing any field of an entry breaks its own hash;
* deleting, inserting or reordering entries breaks a link (a ``prev_hash`` that is not the
  previous entry's hash) unless every later hash is recomputed -- and then the chain no longer
  ends in the hash a signed digest names.

:func:`append` is how every writer but a replica's own (see :mod:`daytwo.audit.writer`) adds
entries: inside the caller's transaction it locks the stream's head row, chains the entries
from it and moves it, so an admin change and its entry commit together or not at all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.schema import audit_entries, audit_heads

#: The ``prev_hash`` of a stream's first entry.
GENESIS = "0" * 64
#: The stream of admin actions, config loads and reloads, kill switches, budget trips and
#: retention deletions: every process that makes such a change appends to it.
CONTROL = "control"
_SORT = orjson.OPT_SORT_KEYS


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value``: what is hashed and signed."""
    return orjson.dumps(value, option=_SORT)


def entry_hash(prev_hash: str, data: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + data).hexdigest()


def replica_stream(replica: str) -> str:
    return f"replica:{replica}"


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    seq: int
    at: float
    kind: str
    subject: str
    actor: str
    project: str | None
    data: str
    prev_hash: str
    hash: str

    def values(self) -> tuple[Any, ...]:
        """The ``audit_entries`` row, in the table's column order."""
        return (
            self.stream,
            self.seq,
            self.at,
            self.kind,
            self.subject,
            self.actor,
            self.project,
            self.data,
            self.prev_hash,
            self.hash,
        )

    def row(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "subject": self.subject,
            "actor": self.actor,
            "project": self.project,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(self.data)["body"]
        return body


@dataclass(frozen=True, slots=True)
class Item:
    """An entry before it has a place in a stream."""

    at: float
    kind: str
    subject: str
    actor: str
    body: dict[str, Any]
    project: str | None = None


def make_entry(stream: str, seq: int, prev_hash: str, item: Item) -> Entry:
    data = canonical(
        {
            "stream": stream,
            "at": item.at,
            "kind": item.kind,
            "subject": item.subject,
            "actor": item.actor,
            "project": item.project,
            "body": item.body,
        }
    )
    return Entry(
        stream=stream,
        seq=seq,
        at=item.at,
        kind=item.kind,
        subject=item.subject,
        actor=item.actor,
        project=item.project,
        data=data.decode(),
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, data),
    )


def chain(stream: str, head: tuple[int, str], items: Sequence[Item]) -> list[Entry]:
    """``items`` as entries following ``head`` (the last ``seq`` and hash; ``(0, GENESIS)``
    for an empty stream)."""
    seq, prev = head
    out: list[Entry] = []
    for item in items:
        seq += 1
        entry = make_entry(stream, seq, prev, item)
        out.append(entry)
        prev = entry.hash
    return out


def read_head(conn: sa.Connection, stream: str, *, lock: bool) -> tuple[int, str, str | None]:
    """The stream's (seq, hash, owner); ``(0, GENESIS, None)`` when it has no entries yet.
    ``lock`` takes the head row's lock for the rest of the transaction (PostgreSQL; SQLite
    transactions that write already hold the database's write lock)."""
    c = audit_heads.c
    query = sa.select(c.seq, c.hash, c.owner).where(c.stream == stream)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return 0, GENESIS, None
    return int(row.seq), str(row.hash), row.owner


def move_head(
    conn: sa.Connection,
    stream: str,
    old: tuple[int, str],
    new: tuple[int, str],
    *,
    owner: str | None = None,
    claim: bool = False,
) -> bool:
    """Move the head from ``old`` to ``new`` (creating it for a new stream). False when the
    head is not at ``old`` any more, or (``owner`` given, ``claim`` off) belongs to another
    owner: someone else appended meanwhile."""
    c = audit_heads.c
    now = time.time()
    if old[0] == 0 and old[1] == GENESIS:
        exists = conn.execute(sa.select(c.seq).where(c.stream == stream)).first()
        if exists is None:
            conn.execute(
                audit_heads.insert().values(
                    stream=stream, seq=new[0], hash=new[1], owner=owner, updated_at=now
                )
            )
            return True
    where = [c.stream == stream, c.seq == old[0], c.hash == old[1]]
    if owner is not None and not claim:
        where.append(c.owner == owner)
    values: dict[str, Any] = {"seq": new[0], "hash": new[1], "updated_at": now}
    if owner is not None:
        values["owner"] = owner
    result = conn.execute(audit_heads.update().where(*where).values(**values))
    return result.rowcount == 1


def insert_entries(conn: sa.Connection, entries: Sequence[Entry]) -> None:
    if entries:
        conn.execute(audit_entries.insert(), [e.row() for e in entries])


def append(conn: sa.Connection, stream: str, items: Sequence[Item]) -> list[Entry]:
    """Chain ``items`` onto ``stream`` inside the caller's transaction (which must be a write
    transaction: on SQLite, ``BEGIN IMMEDIATE``)."""
    if not items:
        return []
    seq, prev, _owner = read_head(conn, stream, lock=True)
    entries = chain(stream, (seq, prev), items)
    insert_entries(conn, entries)
    last = entries[-1]
    if not move_head(conn, stream, (seq, prev), (last.seq, last.hash)):
        # Only a concurrent first append to a new stream can get here (the head row did not
        # exist to lock); the transaction fails and the caller's change with it.
        raise sa.exc.OperationalError(
            "audit head moved", None, Exception(f"audit stream {stream} moved while appending")
        )
    return entries

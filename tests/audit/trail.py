"""Audit trails for tests, built the way the writers build them (``chain``, ``append``,
``write_digest``, the key store for admin events, plain inserts for calls and content), and the
tampering the verification must notice, done with plain SQL on the real database."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.chain import (
    CONTROL,
    Entry,
    Item,
    append,
    canonical,
    chain,
    insert_entries,
    make_entry,
    move_head,
    read_head,
    replica_stream,
)
from daytwo.audit.digest import Signer, write_digest
from daytwo.audit.schema import audit_entries, call_content
from daytwo.audit.writer import summary as call_summary
from daytwo.core.record import CallRecord
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import LedgerStore

#: 2024-05-01T00:00:00Z
T0 = 1_714_521_600.0
HOUR = 3600.0


@dataclass
class Trail:
    store: LedgerStore
    signer: Signer
    streams: list[str]
    #: call ids by stream, in entry order
    calls: dict[str, list[str]] = field(default_factory=dict)
    #: call ids whose content was captured
    content: list[str] = field(default_factory=list)
    end: float = T0


def call(n: int, started: float, project: str) -> CallRecord:
    return CallRecord(
        id=f"call-{n:05d}",
        started_at=started,
        ended_at=started + 0.5,
        latency_ms=500.0,
        status="ok",
        http_status=200,
        operation="chat",
        alias="smart",
        trace_id=f"{n:032x}",
        project=project,
        workflow="rag",
        tags={"team": "a"},
        attributed=True,
        key_id="key-1",
        provider="openai",
        served_model="gpt-4o",
        fingerprint="fp_1",
        attempts=1,
        input_tokens=100 + n,
        output_tokens=20,
        cost_nanousd=1_000 + n,
    )


def build(
    store: LedgerStore,
    signer: Signer,
    *,
    replicas: tuple[str, ...] = ("gw-1",),
    periods: int = 3,
    calls_per_period: int = 4,
    projects: tuple[str, ...] = ("search", "support"),
    admin_events: int = 2,
    content_every: int = 2,
) -> Trail:
    """``periods`` hours of calls on each replica stream, a signed digest per stream at each
    hour's end, ``admin_events`` keys created (control stream) in the first hour."""
    keys = KeyStore(store)
    for i in range(admin_events):
        keys.create(KeySpec(project=projects[i % len(projects)]), actor="cli:test", now=T0 + i)
    trail = Trail(store, signer, [CONTROL, *(replica_stream(r) for r in replicas)])
    with store.engine.begin() as conn:
        for r in replicas:
            stream = replica_stream(r)
            opened = chain(stream, (0, "0" * 64), [Item(T0 + 5, "stream.open", stream, r, {})])
            insert_entries(conn, opened)
            move_head(conn, stream, (0, "0" * 64), (1, opened[0].hash), owner=r)
            body = {"stream": stream, "seq": 1, "hash": opened[0].hash}
            append(conn, CONTROL, [Item(T0 + 5, "stream.open", stream, r, body)])
    n = 0
    for p in range(periods):
        for r in replicas:
            stream = replica_stream(r)
            records = []
            for k in range(calls_per_period):
                records.append(call(n, T0 + p * HOUR + 60 + k * 10, projects[n % len(projects)]))
                n += 1
            store.insert_batch(records)
            _enter_calls(store, trail, stream, records, content_every)
        with store.engine.begin() as conn:
            for stream in trail.streams:
                write_digest(conn, signer, stream, now=T0 + (p + 1) * HOUR)
    trail.end = T0 + periods * HOUR
    return trail


def _enter_calls(
    store: LedgerStore, trail: Trail, stream: str, records: list[CallRecord], every: int
) -> None:
    with store.engine.begin() as conn:
        seq, head, _owner = read_head(conn, stream, lock=True)
        items = []
        for rec in records:
            summary = call_summary(rec)  # what the gateway's writer chains
            content = None
            if every and int(rec.id.rsplit("-", 1)[1]) % every == 0:
                content = _capture(conn, rec)
                trail.content.append(rec.id)
            body = {"call": summary, "decisions": {"budget": "ok"}, "content": content}
            items.append(Item(rec.ended_at, "call", rec.id, f"key:{rec.key_id}", body, rec.project))
            trail.calls.setdefault(stream, []).append(rec.id)
        entries = chain(stream, (seq, head), items)
        insert_entries(conn, entries)
        move_head(conn, stream, (seq, head), (entries[-1].seq, entries[-1].hash))


def _capture(conn: sa.Connection, rec: CallRecord) -> dict[str, Any]:
    raw = canonical(
        {
            "request": {"messages": [{"role": "user", "content": f"q {rec.id}"}]},
            "response": {"content": f"a {rec.id}"},
        }
    )
    digest = hashlib.sha256(raw).hexdigest()
    expires = rec.started_at + 30 * 86_400
    conn.execute(
        call_content.insert().values(
            call_id=rec.id,
            at=rec.started_at,
            expires_at=expires,
            project=rec.project,
            workflow=rec.workflow,
            mode="full",
            codec="zlib",
            content=zlib.compress(raw),
            size=len(raw),
            digest=digest,
            redactions="{}",
        )
    )
    return {"mode": "full", "digest": digest, "expires_at": expires, "redactions": {}}


# ---------------------------------------------------------------------- tampering


def sql(store: LedgerStore, statement: str, **params: Any) -> int:
    with store.engine.begin() as conn:
        return conn.execute(sa.text(statement), params).rowcount


def entries(store: LedgerStore, stream: str) -> list[Entry]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries)
            .where(audit_entries.c.stream == stream)
            .order_by(audit_entries.c.seq)
        ).mappings()
        return [Entry(**row) for row in rows]


def rewrite(
    store: LedgerStore,
    stream: str,
    change: Callable[[list[Entry]], list[Entry]],
    *,
    renumber: bool = True,
) -> None:
    """Replace ``stream``'s entries with ``change(entries)`` (numbered 1.. when ``renumber``)."""
    new = change(entries(store, stream))
    if renumber:
        new = [_with(e, seq=i) for i, e in enumerate(new, 1)]
    with store.engine.begin() as conn:
        conn.execute(audit_entries.delete().where(audit_entries.c.stream == stream))
        insert_entries(conn, new)


def rehash(stream: str, old: list[Entry], start: int) -> list[Entry]:
    """``old`` with every entry from index ``start`` on chained again (a forger's re-hash)."""
    out = list(old[:start])
    prev = out[-1].hash if out else "0" * 64
    for e in old[start:]:
        d = orjson.loads(e.data)
        item = Item(d["at"], d["kind"], d["subject"], d["actor"], d["body"], d["project"])
        new = make_entry(stream, e.seq, prev, item)
        out.append(new)
        prev = new.hash
    return out


def forged(stream: str, prev: str, at: float) -> Entry:
    """An entry a forger slips in (one that names no ledger row: only the chain can tell)."""
    item = Item(at, "note", "forged", "mallory", {"text": "nothing happened"}, "search")
    return make_entry(stream, 0, prev, item)


def _with(e: Entry, **changes: Any) -> Entry:
    return Entry(**{**e.row(), **changes})

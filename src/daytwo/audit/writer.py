"""A replica's call chain: the ledger writer's batch hook (``ledger.writer.RecordHook``).

Every audited call becomes one ``call`` entry in the replica's stream, written in the same
transaction as its ``calls`` row -- so a call is in the ledger exactly when it is in the audit
chain, and the chain loses what the ledger loses and nothing more (docs/audit.md: the ledger's
loss bound). Its captured content goes into ``call_content`` in that transaction too,
compressed, under the digest the entry names.

The stream is owned by one process at a time. :meth:`CallTrail.open` claims it (a
``stream.open`` entry for a new stream, ``stream.resume`` naming where the previous process
stopped for a continued one, and a ``stream.open`` entry in the control stream naming it), and
every batch moves the stream's head with a compare-and-set on (seq, hash, owner). If another
process claimed the stream meanwhile (two replicas configured with one id), this one continues
in a stream of its own (``<stream>~<owner>``), visibly, rather than forking the chain.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from secrets import token_hex
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.capture import Preparer
from daytwo.audit.chain import (
    CONTROL,
    GENESIS,
    Entry,
    Item,
    append,
    chain,
    move_head,
    read_head,
    replica_stream,
)
from daytwo.audit.codec import CODEC, compressor
from daytwo.audit.schema import audit_digests, audit_entries, call_content
from daytwo.core.record import CallRecord
from daytwo.ledger.store import LedgerStore

log = logging.getLogger("daytwo.audit")

#: The ``calls`` fields a call entry repeats (what verification compares with the row).
SUMMARY_FIELDS = (
    "id",
    "started_at",
    "ended_at",
    "status",
    "http_status",
    "operation",
    "alias",
    "stream",
    "trace_id",
    "error_class",
    "project",
    "workflow",
    "feature",
    "agent",
    "session",
    "user",
    "environment",
    "tags",
    "key_id",
    "client_ip",
    "provider",
    "deployment",
    "served_model",
    "fingerprint",
    "attempts",
    "upstream_request_id",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanousd",
    "price_ref",
    "cache_status",
    "saved_nanousd",
    "prompt_name",
    "prompt_version",
    "prompt_label",
    "prompt_hash",
    "config_hash",
    "degraded",
    "rollout_id",
    "rollout_arm",
)


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(CallRecord):
        if f.name not in SUMMARY_FIELDS:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


#: The summary fields a record leaves at their default, and those defaults: a summary omits
#: them (most of a call's fields are None or 0), :func:`full_summary` puts them back.
SUMMARY_DEFAULTS = _defaults()


_FIELDS = attrgetter(*SUMMARY_FIELDS)
_NO_DEFAULT = object()
_DEFAULT_OF = tuple(SUMMARY_DEFAULTS.get(name, _NO_DEFAULT) for name in SUMMARY_FIELDS)


#: Records the writer readies between two hand-overs of the GIL to the event loop.
YIELD_EVERY = 16


def summary(record: CallRecord) -> dict[str, Any]:
    """The call's fields as its entry repeats them, those at their default left out."""
    return {
        name: value
        for name, value, default in zip(SUMMARY_FIELDS, _FIELDS(record), _DEFAULT_OF, strict=True)
        if value is not default and value != default
    }


def full_summary(stored: dict[str, Any]) -> dict[str, Any]:
    """A call entry's summary with the fields it left at their default put back."""
    return {**SUMMARY_DEFAULTS, **stored}


def default_replica() -> str:
    """``$DAYTWO_REPLICA_ID``, else the host name: stable across restarts of one replica."""
    return os.environ.get("DAYTWO_REPLICA_ID") or socket.gethostname() or "replica"


@dataclass(frozen=True, slots=True)
class _Moved:
    stream: str
    head: tuple[int, str]


class CallTrail:
    """The ledger's batch hook for the audit trail (see the module docstring)."""

    def __init__(self, store: LedgerStore, preparer: Preparer, *, replica: str) -> None:
        self._store = store
        self.preparer = preparer
        self.replica = replica
        self.stream = replica_stream(replica)
        self.owner = token_hex(8)
        self.head: tuple[int, str] = (0, GENESIS)
        dialect = store.engine.dialect
        mark = "?" if dialect.name == "sqlite" else "%s"
        self._insert_entries = _insert_sql(dialect, audit_entries, mark)
        self._insert_content = _insert_sql(dialect, call_content, mark)

    # -- start --------------------------------------------------------------------------------

    def open(self) -> None:
        """Claim the stream (see the module docstring). Raises the store's errors."""
        with self._store.engine.connect() as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")
            with conn.begin():
                self.head = self._claim(conn, self.stream)

    def _claim(self, conn: sa.Connection, stream: str) -> tuple[int, str]:
        seq, prev, owner = read_head(conn, stream, lock=True)
        last = _last_digest(conn, stream)
        body: dict[str, Any] = {
            "replica": self.replica,
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        if seq:
            body.update(
                previous_owner=owner,
                previous_seq=seq,
                previous_hash=prev,
                last_digest=last[0] if last else None,
                unsigned_entries=seq - (last[1] if last else 0),
            )
        kind = "stream.resume" if seq else "stream.open"
        now = time.time()
        item = Item(at=now, kind=kind, subject=stream, actor="daytwo", body=body)
        entries = chain(stream, (seq, prev), [item])
        head = (entries[-1].seq, entries[-1].hash)
        move_head(conn, stream, (seq, prev), head, owner=self.owner, claim=True)
        self._insert(conn, entries)
        announce = {**body, "stream": stream, "seq": head[0], "hash": head[1]}
        append(
            conn, CONTROL, [Item(at=now, kind=kind, subject=stream, actor="daytwo", body=announce)]
        )
        log.info("audit stream %s %s at entry %d", stream, "resumed" if seq else "opened", head[0])
        return head

    # -- the batch hook -----------------------------------------------------------------------

    def prepare(self, records: list[CallRecord]) -> None:
        for i, record in enumerate(records):
            if record.audit is not None and not isinstance(record.audit, dict):
                self.preparer.prepare(record)
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    # Hand the GIL over: a batch takes tens of milliseconds, and the event
                    # loop, woken by its sockets meanwhile, would wait for the interpreter's
                    # switch interval (5 ms) at each wake-up.
                    time.sleep(0)

    def write(self, conn: sa.Connection, records: Sequence[CallRecord]) -> object:
        items: list[Item] = []
        contents: list[tuple[Any, ...]] = []
        packer: Callable[[bytes], bytes] | None = None  # one compressor per batch
        # in the order the calls ended (the ledger's batch is de-duplicated, not ordered)
        for r in sorted(records, key=_ended):
            a = r.audit
            if a is None:
                continue
            if not isinstance(a, dict):
                self.preparer.prepare(r)
                a = r.audit
            content = a.get("content")
            ref = None
            if content is not None:
                ref = {
                    "mode": a["mode"],
                    "digest": content["digest"],
                    "expires_at": content["expires_at"],
                    "redactions": content["redactions"],
                }
                if packer is None:
                    packer = compressor().compress
                contents.append(self._content_row(r, a["mode"], content, packer))
            body = {"call": summary(r), "decisions": a.get("decisions"), "content": ref}
            if a.get("error"):
                body["capture_error"] = a["error"]
            actor = r.key_id or "anonymous"
            items.append(Item(r.ended_at, "call", r.id, actor, body, r.project))
        if not items:
            return None
        stream, head = self.stream, self.head
        entries = chain(stream, head, items)
        new = (entries[-1].seq, entries[-1].hash)
        if not move_head(conn, stream, head, new, owner=self.owner):
            stream = f"{self.stream}~{self.owner[:6]}"
            log.error(
                "audit stream %s was claimed by another process (two replicas with one "
                "replica_id?); this one continues in %s",
                self.stream,
                stream,
            )
            head = self._claim(conn, stream)
            entries = chain(stream, head, items)
            new = (entries[-1].seq, entries[-1].hash)
            if not move_head(conn, stream, head, new, owner=self.owner):
                raise sa.exc.OperationalError("audit head", None, Exception("audit head moved"))
        self._insert(conn, entries)
        if contents:
            conn.exec_driver_sql(self._insert_content, contents)
        return _Moved(stream, new)

    def committed(self, token: object) -> None:
        if isinstance(token, _Moved):
            self.stream, self.head = token.stream, token.head

    # -- internals ----------------------------------------------------------------------------

    def _insert(self, conn: sa.Connection, entries: list[Entry]) -> None:
        conn.exec_driver_sql(self._insert_entries, [e.values() for e in entries])

    @staticmethod
    def _content_row(
        r: CallRecord, mode: str, content: dict[str, Any], compress: Callable[[bytes], bytes]
    ) -> tuple[Any, ...]:
        vault = content.get("vault")
        return (
            r.id,
            r.ended_at,
            content["expires_at"],
            r.project,
            r.workflow,
            mode,
            CODEC,
            compress(content["json"].encode()),
            content["size"],
            content["digest"],
            orjson.dumps(content["redactions"]).decode() if content["redactions"] else None,
            None if vault is None else base64.b64decode(vault),
            content.get("vault_key"),
        )


def _ended(record: CallRecord) -> tuple[float, str]:
    return record.ended_at, record.id


def _insert_sql(dialect: sa.Dialect, table: sa.Table, mark: str) -> str:
    q = dialect.identifier_preparer.quote
    names = [c.name for c in table.columns]
    cols = ", ".join(q(n) for n in names)
    marks = ", ".join([mark] * len(names))
    return f"INSERT INTO {q(table.name)} ({cols}) VALUES ({marks})"  # noqa: S608  # schema names


def _last_digest(conn: sa.Connection, stream: str) -> tuple[int, int] | None:
    """The stream's last digest's (n, last_seq)."""
    c = audit_digests.c
    row = conn.execute(
        sa.select(c.n, c.last_seq).where(c.stream == stream).order_by(c.n.desc()).limit(1)
    ).first()
    return None if row is None else (int(row.n), int(row.last_seq))

"""What a gateway does for the audit trail beside the call path: signing digests at the
interval (and at shutdown), enforcing retention, and keeping config checkpoints. Every method
is blocking (the gateway runs them in a thread) and writes in its own transaction.

Retention deletes, in one transaction with the control-stream entry that says so
(``retention.delete``: ``{"class", "before", "count"}``): captured content whose
``expires_at`` has passed (class ``content``), and, with ``audit.retention.metadata``, call rows
(with their attempts, scores and content) that started before the cut (class ``metadata``).
Verification accepts exactly those absences.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa

from daytwo.audit.chain import CONTROL, Item, append
from daytwo.audit.digest import Digest, Signer, insert_ignore, last_digest_at, write_digest
from daytwo.audit.schema import call_content, config_checkpoints
from daytwo.config.audit import AuditConfig
from daytwo.ledger.schema import attempts, calls, scores
from daytwo.ledger.store import LedgerStore

log = logging.getLogger("daytwo.audit")


class Keeper:
    """Digests, retention and checkpoints over an open ledger store."""

    def __init__(
        self,
        store: LedgerStore,
        signer: Signer,
        config: Callable[[], AuditConfig],
        *,
        stream: Callable[[], str],
    ) -> None:
        self._store = store
        self.signer = signer
        self._config = config
        self._stream = stream

    def seal(self, now: float | None = None, *, final: bool = False) -> list[Digest]:
        """Sign this replica's stream's next digest, and the control stream's when its last
        is older than most of an interval (any replica may; the first one wins) or at
        ``final`` (shutdown)."""
        now = time.time() if now is None else now
        interval = self._config().digest_interval_s
        out: list[Digest] = []
        with self._store.engine.connect() as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")
            with conn.begin():
                got = write_digest(conn, self.signer, self._stream(), now)
                if got is not None:
                    out.append(got)
            with conn.begin():
                last = last_digest_at(conn, CONTROL)
                if final or last is None or now - last >= 0.9 * interval:
                    got = write_digest(conn, self.signer, CONTROL, now)
                    if got is not None:
                        out.append(got)
        return out

    def retain(self, now: float | None = None) -> dict[str, int]:
        """Delete what outlived its retention; returns counts per class."""
        now = time.time() if now is None else now
        cfg = self._config()
        done: dict[str, int] = {}
        with self._store.engine.connect() as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")
            with conn.begin():
                n = conn.execute(
                    call_content.delete().where(call_content.c.expires_at < now)
                ).rowcount
                if n:
                    _said(conn, now, "content", now, n)
                    done["content"] = n
            if cfg.retention.metadata is not None:
                cut = now - cfg.retention.metadata.total_seconds()
                with conn.begin():
                    old = sa.select(calls.c.id).where(calls.c.started_at < cut)
                    conn.execute(scores.delete().where(scores.c.call_id.in_(old)))
                    conn.execute(attempts.delete().where(attempts.c.call_id.in_(old)))
                    conn.execute(call_content.delete().where(call_content.c.call_id.in_(old)))
                    n = conn.execute(calls.delete().where(calls.c.started_at < cut)).rowcount
                    if n:
                        _said(conn, now, "metadata", cut, n)
                        done["metadata"] = n
        for kind, n in done.items():
            log.info("audit retention deleted %d %s rows", n, kind)
        return done

    def checkpoint(self, config_hash: str, text: str, now: float | None = None) -> bool:
        """Keep a config's text under its hash (once); True when it was new."""
        now = time.time() if now is None else now
        c = config_checkpoints.c
        with self._store.engine.connect() as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")
            with conn.begin():
                if conn.execute(sa.select(c.hash).where(c.hash == config_hash)).first():
                    return False
                return insert_ignore(
                    conn, config_checkpoints, hash=config_hash, first_at=now, config=text
                )


def _said(conn: sa.Connection, now: float, kind: str, before: float, count: int) -> None:
    body = {"class": kind, "before": before, "count": count}
    append(conn, CONTROL, [Item(now, "retention.delete", kind, "retention", body)])

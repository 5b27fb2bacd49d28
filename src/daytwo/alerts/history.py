"""The alert history in the ledger's database (table ``alert_events``, see
:mod:`daytwo.alerts.schema`): written by the engine (transitions and delivery attempts) and by
``daytwo alerts test``; read by ``daytwo alerts list|history`` and by an engine that starts
(or takes over evaluation from another replica) to pick up the alerts still firing.

Thread-safe, blocking: the engine calls it from worker threads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.alerts.errors import AlertStoreError
from daytwo.alerts.machine import Transition
from daytwo.alerts.notify import Notification, iso
from daytwo.alerts.schema import alert_events
from daytwo.ledger.store import LedgerStore, open_store


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: int
    at: float
    kind: str  #: ``transition`` | ``delivery``
    rule: str
    fingerprint: str
    state: str
    severity: str
    labels: dict[str, str]
    value: float | None
    threshold: float | None
    started_at: float | None
    sink: str | None
    attempt: int | None
    outcome: str | None
    detail: str | None
    replica: str | None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = iso(self.at)
        out["started_at"] = iso(self.started_at)
        return out


def transition_row(
    t: Transition, *, severity: str, threshold: float, replica: str, detail: str | None = None
) -> dict[str, Any]:
    a = t.alert
    return {
        "at": t.at,
        "kind": "transition",
        "rule": a.rule,
        "fingerprint": a.fingerprint,
        "state": t.to,
        "severity": severity,
        "labels": orjson.dumps(a.labels, option=orjson.OPT_SORT_KEYS).decode(),
        "value": a.value,
        "threshold": threshold,
        "started_at": t.started_at,
        "replica": replica,
        "detail": detail,
    }


def delivery_row(
    n: Notification,
    *,
    at: float,
    sink: str,
    attempt: int,
    error: str | None,
    replica: str,
) -> dict[str, Any]:
    return {
        "at": at,
        "kind": "delivery",
        "rule": n.rule,
        "fingerprint": n.fingerprint,
        "state": "test" if n.test else n.status,
        "severity": n.severity,
        "labels": orjson.dumps(n.labels, option=orjson.OPT_SORT_KEYS).decode(),
        "value": n.value,
        "threshold": n.threshold,
        "started_at": n.started_at,
        "sink": sink,
        "attempt": attempt,
        "outcome": "ok" if error is None else "failed",
        "detail": error,
        "replica": replica,
    }


_COLUMNS = tuple(c.name for c in alert_events.columns if c.name != "id")


class AlertHistory:
    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._engine = store.engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> AlertHistory:
        """Open (and migrate) the ledger database at ``url``."""
        return cls(open_store(url, create=create))

    @property
    def store(self) -> LedgerStore:
        return self._store

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        full = [{c: row.get(c) for c in _COLUMNS} for row in rows]
        with self._connect("write") as conn:
            conn.execution_options(daytwo_begin="IMMEDIATE")  # see daytwo.ledger.store
            with conn.begin():
                conn.execute(alert_events.insert(), full)

    def since(
        self, at: float, *, rules: Collection[str] | None = None, limit: int | None = None
    ) -> list[HistoryRow]:
        """Rows from ``at`` on, newest last (the newest ``limit`` when given)."""
        c = alert_events.c
        query = sa.select(alert_events).where(c.at >= at).order_by(c.id.desc())
        if rules is not None:
            query = query.where(c.rule.in_(list(rules)))
        if limit is not None:
            query = query.limit(limit)
        with self._connect("read") as conn:
            rows = [_row(r._mapping) for r in conn.execute(query)]
        rows.reverse()
        return rows

    def latest_transitions(self, rules: Collection[str] | None = None) -> list[HistoryRow]:
        """The newest transition of every alert (rule, fingerprint), oldest first."""
        c = alert_events.c
        newest = sa.select(sa.func.max(c.id)).where(c.kind == "transition")
        if rules is not None:
            newest = newest.where(c.rule.in_(list(rules)))
        newest = newest.group_by(c.rule, c.fingerprint)
        query = sa.select(alert_events).where(c.id.in_(newest)).order_by(c.id)
        with self._connect("read") as conn:
            return [_row(r._mapping) for r in conn.execute(query)]

    def last_fired(self) -> dict[str, float]:
        """Rule → when one of its alerts last started firing."""
        c = alert_events.c
        query = (
            sa.select(c.rule, sa.func.max(c.at))
            .where(c.kind == "transition", c.state == "firing")
            .group_by(c.rule)
        )
        with self._connect("read") as conn:
            return {rule: float(at) for rule, at in conn.execute(query)}

    @contextmanager
    def _connect(self, what: str) -> Iterator[sa.Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            orig = exc.orig if exc.orig is not None else exc
            first = (str(orig).strip().splitlines() or [""])[0]
            raise AlertStoreError(
                f"alert history {what} failed: {type(orig).__name__}: {first}"
            ) from exc

    def close(self) -> None:
        self._store.close()


def _row(m: Any) -> HistoryRow:
    return HistoryRow(
        id=m["id"],
        at=m["at"],
        kind=m["kind"],
        rule=m["rule"],
        fingerprint=m["fingerprint"],
        state=m["state"],
        severity=m["severity"],
        labels=orjson.loads(m["labels"]),
        value=m["value"],
        threshold=m["threshold"],
        started_at=m["started_at"],
        sink=m["sink"],
        attempt=m["attempt"],
        outcome=m["outcome"],
        detail=m["detail"],
        replica=m["replica"],
    )

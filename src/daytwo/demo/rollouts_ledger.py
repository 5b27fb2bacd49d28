"""What the rollouts demo reads back from the ledger, as ``daytwo spend`` and ``daytwo audit``
would: the cost per answered call of a workflow over a span, a rollout's calls per arm, the
experiment spend of its shadow calls, what served a prompt's calls after a moment, and the
audit trail's entries of rollout events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.chain import CONTROL
from daytwo.audit.schema import audit_entries
from daytwo.gateway.shadow import EXPERIMENT_PROJECT
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore


@dataclass(frozen=True, slots=True)
class Cost:
    """Priced answered calls, what they cost in all, and the deployments that served them."""

    calls: int
    nanousd: int
    deployments: tuple[str, ...] = ()

    @property
    def per_call_usd(self) -> float | None:
        return self.nanousd / self.calls / 1e9 if self.calls else None


def cost(
    store: LedgerStore,
    start: float,
    end: float,
    *,
    project: str,
    workflow: str | None = None,
    rollout_id: str | None = None,
) -> Cost:
    """The answered, priced calls of ``project`` (and ``workflow``, and ``rollout_id``) that
    started in [start, end)."""
    c = calls.c
    where = [
        c.project == project,
        c.started_at >= start,
        c.started_at < end,
        c.status == "ok",
        c.cost_nanousd.is_not(None),
    ]
    if workflow is not None:
        where.append(c.workflow == workflow)
    if rollout_id is not None:
        where.append(c.rollout_id == rollout_id)
    query = (
        sa.select(c.deployment, sa.func.count(), sa.func.sum(c.cost_nanousd))
        .where(*where)
        .group_by(c.deployment)
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    return Cost(
        sum(int(n) for _, n, _ in rows),
        sum(int(total or 0) for _, _, total in rows),
        tuple(sorted(str(d) for d, _, _ in rows)),
    )


def experiment_spend(store: LedgerStore, rollout_id: str) -> Cost:
    """The rollout's mirrored (shadow) calls: billed to project ``experiment``."""
    return cost(store, 0.0, float("inf"), project=EXPERIMENT_PROJECT, rollout_id=rollout_id)


def arms(store: LedgerStore, rollout_id: str) -> dict[str, int]:
    """The rollout's calls by ``rollout_arm`` (control, candidate, shadow)."""
    c = calls.c
    query = (
        sa.select(c.rollout_arm, sa.func.count())
        .where(c.rollout_id == rollout_id)
        .group_by(c.rollout_arm)
    )
    with store.connect() as conn:
        return {str(arm): int(n) for arm, n in conn.execute(query)}


def rows_of(store: LedgerStore, projects: tuple[str, ...]) -> int:
    """The ledger's calls of these projects, all of them."""
    query = sa.select(sa.func.count()).where(calls.c.project.in_(projects))
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())


def served(
    store: LedgerStore, prompt: str, start: float, end: float
) -> dict[tuple[str | None, int | None], int]:
    """The prompt's calls that started in [start, end), by (``rollout_arm``,
    ``prompt_version``)."""
    c = calls.c
    query = (
        sa.select(c.rollout_arm, c.prompt_version, sa.func.count())
        .where(c.prompt_name == prompt, c.started_at >= start, c.started_at < end)
        .group_by(c.rollout_arm, c.prompt_version)
    )
    with store.connect() as conn:
        return {
            (arm, None if version is None else int(version)): int(n)
            for arm, version, n in conn.execute(query)
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One rollout event as the audit trail's control stream chained it."""

    seq: int
    at: float
    kind: str
    subject: str
    actor: str
    #: The rollout after the event: its status, its stage, and why (the reason, or a
    #: retirement's "why").
    status: str
    stage: str
    why: str


def rollout_entries(store: LedgerStore) -> list[AuditEntry]:
    """The ``rollout.*`` entries of the control stream, in chain order."""
    a = audit_entries.c
    query = (
        sa.select(a.seq, a.at, a.kind, a.subject, a.actor, a.data)
        .where(a.stream == CONTROL, a.kind.like("rollout.%"))
        .order_by(a.seq)
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    return [_entry(*row) for row in rows]


def _entry(seq: int, at: float, kind: str, subject: str, actor: str, data: str) -> AuditEntry:
    entry: Any = orjson.loads(data)
    body = entry.get("body") if isinstance(entry, dict) else None
    after = body.get("after") if isinstance(body, dict) else None
    after = after if isinstance(after, dict) else {}
    why = str(after.get("why") or after.get("reason") or "")
    status, stage = str(after.get("status", "")), str(after.get("stage", ""))
    return AuditEntry(int(seq), float(at), kind, subject, actor, status, stage, why)

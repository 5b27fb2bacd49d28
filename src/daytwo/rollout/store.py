"""Rollouts in the ledger's database: created, moved and read by every replica and the CLI.

Every change is one transaction with its admin event (``rollout.start``, ``rollout.advance``,
``rollout.wait``, ``rollout.approve``, ``rollout.pause``, ``rollout.resume``,
``rollout.rollback``, ``rollout.complete``, ``rollout.retire``), which the audit trail chains
in the same commit. A change applies only to the version it was read at
(:meth:`RolloutStore.move`): two replicas deciding the same stage at once make one change, and
the other learns it lost.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from daytwo.keys.store import KeyStore, write_event
from daytwo.rollout.model import LIVE, Criteria, Rollout, RolloutError, Stage
from daytwo.rollout.schema import rollouts


class RolloutStore:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    @classmethod
    def open(cls, url: str) -> RolloutStore:
        return cls(KeyStore.open(url))

    def close(self) -> None:
        self.keys.close()

    def create(self, rollout: Rollout, actor: str) -> Rollout:
        """Store a new rollout; RolloutError when its target already has one that is live or
        still overriding it (finish or retire that one first)."""
        with self.keys.transaction() as conn:
            busy = conn.execute(
                sa.select(rollouts.c.id, rollouts.c.status).where(
                    rollouts.c.kind == rollout.kind,
                    rollouts.c.target == rollout.target,
                    rollouts.c.retired.is_(False),
                )
            ).first()
            if busy is not None:
                raise RolloutError(
                    f"{rollout.kind} `{rollout.target}` already has rollout {busy.id} "
                    f"({busy.status}): roll it back, finish or retire it first"
                )
            conn.execute(rollouts.insert().values(**_row(rollout)))
            write_event(
                conn, rollout.created_at, actor, "rollout.start", rollout.id, None,
                _event(rollout),
            )  # fmt: skip
        return rollout

    def move(self, before: Rollout, after: Rollout, actor: str, action: str) -> bool:
        """Replace ``before`` by ``after`` (``after.version`` must be ``before``'s + 1) with its
        event; False when the stored rollout is no longer ``before`` (someone moved it)."""
        assert after.version == before.version + 1
        with self.keys.transaction() as conn:
            done = conn.execute(
                rollouts.update()
                .where(rollouts.c.id == before.id, rollouts.c.version == before.version)
                .values(**_row(after))
            ).rowcount
            if done != 1:
                return False
            write_event(
                conn, after.updated_at, actor, action, after.id, _event(before), _event(after)
            )
        return True

    def get(self, rollout_id: str) -> Rollout | None:
        row = self.keys.row_where(rollouts, rollouts.c.id == rollout_id)
        return None if row is None else _rollout(row)

    def active(self) -> list[Rollout]:
        """Every rollout that routes calls: live ones, and finished ones not yet retired (they
        keep their target on the arm they finished on)."""
        query = sa.select(rollouts).where(rollouts.c.retired.is_(False))
        return [_rollout(r) for r in self.keys.rows(query.order_by(rollouts.c.created_at))]

    def list(self, limit: int = 50) -> list[Rollout]:
        query = sa.select(rollouts).order_by(rollouts.c.created_at.desc()).limit(limit)
        return [_rollout(r) for r in self.keys.rows(query)]

    def retire(self, rollout: Rollout, actor: str, why: str) -> bool:
        """Stop a finished rollout from overriding its target (the label file or config now
        says what it finished on, or an operator says so)."""
        if rollout.status in LIVE:
            raise RolloutError(f"rollout {rollout.id} is {rollout.status}: finish it first")
        now = time.time()
        with self.keys.transaction() as conn:
            done = conn.execute(
                rollouts.update()
                .where(rollouts.c.id == rollout.id, rollouts.c.retired.is_(False))
                .values(retired=True, updated_at=now, version=rollout.version + 1)
            ).rowcount
            if done == 1:
                write_event(
                    conn, now, actor, "rollout.retire", rollout.id, None,
                    {**_event(rollout), "why": why},
                )  # fmt: skip
        return done == 1


def _event(r: Rollout) -> dict[str, Any]:
    """What the event log and audit trail keep of a rollout's state."""
    return {
        "kind": r.kind,
        "target": r.target,
        "control": r.control,
        "candidate": r.candidate,
        "stage": str(r.current),
        "status": r.status,
        "reason": r.reason,
        "evidence": list(r.evidence),
    }


def _row(r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "target": r.target,
        "control": r.control,
        "candidate": r.candidate,
        "stages": orjson.dumps([{"kind": s.kind, "percent": s.percent} for s in r.stages]).decode(),
        "stage": r.stage,
        "status": r.status,
        "sticky": r.sticky,
        "approve_each": r.approve_each,
        "criteria": orjson.dumps(r.criteria.to_json()).decode(),
        "created_at": r.created_at,
        "created_by": r.created_by,
        "stage_started_at": r.stage_started_at,
        "updated_at": r.updated_at,
        "version": r.version,
        "reason": r.reason,
        "evidence": orjson.dumps(list(r.evidence)).decode(),
        "retired": False,
    }


def _rollout(row: RowMapping) -> Rollout:
    return Rollout(
        id=row["id"],
        kind=row["kind"],
        target=row["target"],
        control=row["control"],
        candidate=row["candidate"],
        stages=tuple(Stage(s["kind"], float(s["percent"])) for s in orjson.loads(row["stages"])),
        stage=int(row["stage"]),
        status=row["status"],
        sticky=row["sticky"],
        approve_each=bool(row["approve_each"]),
        criteria=Criteria.from_json(orjson.loads(row["criteria"])),
        created_at=float(row["created_at"]),
        created_by=row["created_by"],
        stage_started_at=float(row["stage_started_at"]),
        updated_at=float(row["updated_at"]),
        version=int(row["version"]),
        reason=row["reason"],
        evidence=tuple(orjson.loads(row["evidence"])),
    )

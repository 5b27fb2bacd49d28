"""Rollouts for tests: stored as the CLI and the controller store them."""

from __future__ import annotations

import time

from daytwo.rollout.model import Criteria, Kind, Rollout, Sticky, new_id, parse_stages
from daytwo.rollout.store import RolloutStore


def make_rollout(
    kind: Kind,
    target: str,
    control: str,
    candidate: str,
    stages: str = "canary:50%",
    *,
    stage: int = 0,
    sticky: Sticky = "session",
    criteria: Criteria | None = None,
) -> Rollout:
    now = time.time()
    return Rollout(
        id=new_id(),
        kind=kind,
        target=target,
        control=control,
        candidate=candidate,
        stages=parse_stages(stages),
        stage=stage,
        status="running",
        sticky=sticky,
        approve_each=False,
        criteria=criteria or Criteria(),
        created_at=now,
        created_by="test",
        stage_started_at=now,
        updated_at=now,
    )


def start(url: str, rollout: Rollout) -> Rollout:
    store = RolloutStore.open(url)
    try:
        return store.create(rollout, "test")
    finally:
        store.close()

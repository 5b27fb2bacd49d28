"""The controller on the pairwise judge's verdicts, over real HTTP with the simulator: a
candidate whose answers the judge finds worse than the control's on the shadow pairs is
rolled back at the shadow stage on the pairwise metric (with its evidence line in the admin
event); one it cannot tell apart (ties) passes the shadow stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.gateway.harness import RunningGateway, running_gateway, wait_for
from tests.rollout.controller_harness import drive, on_board, rollout_events
from tests.rollout.harness import make_rollout, start
from tests.rollout.test_pairwise import REFUND, ask, pairwise_config

from daytwo.rollout.model import Criteria

pytestmark = pytest.mark.integration

#: Quick stages; latency and cost wide enough that only quality can decide (both arms are the
#: same simulator; the candidate, gpt-4o-mini, is the cheaper).
CRITERIA = Criteria(
    min_duration_s=0.3,
    min_calls=30,
    max_error_increase=0.15,
    max_refusal_increase=0.15,
    max_latency_ratio=10.0,
    max_cost_ratio=1.0,
)


def controlled(tmp_path: Path, quality: dict[str, Any] | None = None) -> dict[str, Any]:
    """``smart`` (gpt-4o) rolled out to ``cheap`` (gpt-4o-mini), judged every 50 ms."""
    cfg = pairwise_config(tmp_path)
    if quality is not None:
        cfg["providers"]["sim"]["sim"]["quality"] = quality
    cfg["models"]["smart"] = {"deployments": [{"provider": "sim", "model": "gpt-4o"}]}
    cfg["models"]["cheap"] = {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}
    cfg["rollouts"]["evaluate_s"] = 0.05
    return cfg


def shadow_then_canary(gw: RunningGateway) -> str:
    stored = make_rollout(
        "alias", "smart", "smart", "cheap", "shadow:100%,canary:50%,100%", criteria=CRITERIA
    )
    r = start(gw.app.config.ledger.url, stored)
    wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
    return r.id


def test_a_candidate_judged_worse_is_rolled_back_at_the_shadow_stage(tmp_path: Path) -> None:
    sim = {
        "answers": [
            {
                "match": {"regex": "(?i)refund"},
                "answer": "To get a refund for your order, open the order page and press refund.",
                "wrong": "Our office opens at nine.",
            }
        ],
        "personalities": {"gpt-4o-mini": {"correct_rate": 0.0}},  # the candidate errs
    }
    with running_gateway(controlled(tmp_path, sim)) as gw:
        rollout_id = shadow_then_canary(gw)
        drive(
            lambda i: ask(gw, REFUND, f"s{i}", model="smart"),
            lambda: on_board(gw, rollout_id).status != "running",
            what="the rollback",
        )
        back = on_board(gw, rollout_id)
        events = rollout_events(gw.app.config.ledger.url, rollout_id)
    assert (back.status, back.stage) == ("rolled_back", 0)
    assert back.reason == "shadow 100% failed: pairwise"
    (line,) = [x for x in back.evidence if x.startswith("pairwise judge ")]
    assert line.startswith("pairwise judge 0 better, 0 tie, ")
    assert line.endswith("margin 5.0 pt): worse")
    assert [e.action for e in events] == ["rollout.start", "rollout.rollback"]
    assert events[1].after is not None and line in events[1].after["evidence"]


def test_a_candidate_the_judge_cannot_tell_apart_passes_the_shadow_stage(
    tmp_path: Path,
) -> None:
    with running_gateway(controlled(tmp_path)) as gw:
        rollout_id = shadow_then_canary(gw)
        drive(
            lambda i: ask(gw, f"question number {i}", f"s{i}", model="smart"),
            lambda: on_board(gw, rollout_id).stage > 0,
            what="the shadow stage to pass",
        )
        moved = on_board(gw, rollout_id)
    assert (moved.status, str(moved.current)) == ("running", "canary 50%")
    (line,) = [x for x in moved.evidence if x.startswith("pairwise judge ")]
    assert line.startswith("pairwise judge 0 better, ")
    assert ", 0 worse of " in line  # every pair a tie: the judge's position bias flips

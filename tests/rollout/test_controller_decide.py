"""What a judgement does to a running rollout (the controller's pure step)."""

from __future__ import annotations

from tests.rollout.harness import make_rollout

from daytwo.rollout.controller import candidate_arm, decide
from daytwo.rollout.criteria import Check, Judgement
from daytwo.rollout.model import Rollout

PASSED = Judgement("pass", (Check("errors", "not worse", "errors …: not worse"),))
FAILED = Judgement(
    "fail",
    (
        Check("errors", "not worse", "errors …: not worse"),
        Check("refusals", "worse", "refusals …: worse"),
    ),
)
UNDECIDED = Judgement("undecided", (Check("errors", "unsure", "errors …: unsure"),))


def _rollout(stage: int = 0, *, approve_each: bool = False) -> Rollout:
    r = make_rollout(
        "prompt", "support-reply@production", "1", "2", "shadow:10%,canary:25%,100%", stage=stage
    )
    return r.moved(r.updated_at, approve_each=approve_each)


def test_a_passed_stage_advances_and_starts_the_next_stages_clock() -> None:
    r = _rollout(0)
    change = decide(r, PASSED, r.stage_started_at + 100, "shadow 10%: 40 candidate calls")
    assert change is not None
    action, after = change
    assert action == "rollout.advance"
    assert (after.stage, after.status, after.version) == (1, "running", r.version + 1)
    assert after.stage_started_at == r.stage_started_at + 100
    assert after.reason == "shadow 10% passed"
    assert after.evidence == ("shadow 10%: 40 candidate calls", "errors …: not worse")


def test_a_passed_stage_waits_for_an_approval_when_asked() -> None:
    r = _rollout(1, approve_each=True)
    change = decide(r, PASSED, r.stage_started_at + 5)
    assert change is not None
    action, after = change
    assert action == "rollout.wait"
    assert (after.stage, after.status) == (1, "waiting")  # the next stage waits for a person
    assert after.stage_started_at == r.stage_started_at


def test_the_last_stage_passed_completes_even_when_each_stage_is_approved() -> None:
    r = _rollout(2, approve_each=True)
    change = decide(r, PASSED, r.stage_started_at + 5)
    assert change is not None
    assert change[0] == "rollout.complete"
    assert (change[1].status, change[1].reason) == ("completed", "full passed")


def test_a_failed_metric_rolls_back_with_the_evidence() -> None:
    r = _rollout(1)
    change = decide(r, FAILED, r.stage_started_at + 5)
    assert change is not None
    action, after = change
    assert action == "rollout.rollback"
    assert (after.stage, after.status) == (1, "rolled_back")
    assert after.reason == "canary 25% failed: refusals"
    assert after.evidence == FAILED.lines


def test_an_undecided_stage_stays() -> None:
    assert decide(_rollout(1), UNDECIDED, 0.0) is None


def test_the_candidates_calls_are_the_mirrored_ones_while_shadowing() -> None:
    assert candidate_arm(_rollout(0)) == "shadow"
    assert candidate_arm(_rollout(1)) == "candidate"
    assert candidate_arm(_rollout(2)) == "candidate"

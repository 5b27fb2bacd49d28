"""The controller moves rollouts by itself over real HTTP with the simulator: a prompt version
that makes the simulator refuse is rolled back at its first canary step (admin event, audit
entry, alert notification); a cheaper alias of equal quality goes through every stage to
``completed``; ``approve_each`` stops at ``waiting``; a restarted gateway resumes the stored
stage."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from tests.alerts.harness import HMAC_ENV, HMAC_KEY
from tests.alerts.receiver import receiving
from tests.gateway.harness import running_gateway, wait_for
from tests.rollout.controller_harness import (
    QUICK,
    chat,
    cheaper,
    controller_config,
    drive,
    on_board,
    rollout_events,
    ticket,
)
from tests.rollout.harness import make_rollout, start

from daytwo.alerts.history import AlertHistory
from daytwo.audit.chain import CONTROL

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)


def test_a_prompt_that_refuses_more_is_rolled_back_at_its_first_canary_step(
    tmp_path: Path,
) -> None:
    criteria = replace(QUICK, max_refusal_increase=0.02, min_calls=25)
    # A refusal SLO on the prompt (the candidate burns it), and one on another prompt (no
    # events in the rollout: not judged).
    slos = [
        {"name": "support-refusal", "sli": "refusal", "objective": 0.95,
         "scope": {"prompt": "support-reply"}},
        {"name": "elsewhere", "sli": "refusal", "objective": 0.95,
         "scope": {"prompt": "another-prompt"}},
    ]  # fmt: skip
    with (
        receiving() as receiver,
        running_gateway(
            {**controller_config(tmp_path, hook=receiver.url, ttft_ms=5), "slos": slos}
        ) as gw,
    ):
        url = gw.app.config.ledger.url
        stages = "canary:30%,60%,100%"
        stored = make_rollout(
            "prompt", "support-reply@production", "1", "2", stages, criteria=criteria
        )
        r = start(url, stored)
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        n = drive(
            lambda i: ticket(gw, i),
            lambda: on_board(gw, r.id).status != "running",
            what="the rollback",
        )
        back = on_board(gw, r.id)
        after = [ticket(gw, i) for i in range(n, n + 20)]
        bodies = receiver.wait(
            lambda b: any(x["rule"] == "rollout_rollback" for x in b), path="/hook"
        )
        rows = {row["id"]: row for row in gw.records()}
    assert (back.status, back.stage) == ("rolled_back", 0)
    assert back.reason.startswith("canary 30% failed: refusals")
    refusals = next(line for line in back.evidence if line.startswith("refusals "))
    assert refusals.endswith("margin 2.0 pt): worse")
    burn = [line for line in back.evidence if line.startswith("SLO ")]
    assert len(burn) == 1 and burn[0].startswith("SLO support-refusal burn ×")
    assert burn[0].endswith("budget 5.0%): worse")
    # every call after the rollback is served by the control's version
    assert {rows[a["call_id"]]["prompt_version"] for a in after} == {1}
    assert {rows[a["call_id"]]["rollout_arm"] for a in after} == {"control"}
    events = rollout_events(url, r.id)
    assert [e.action for e in events] == ["rollout.start", "rollout.rollback"]
    assert events[1].actor == "rollout-controller"
    assert events[1].after is not None and events[1].after["status"] == "rolled_back"
    assert refusals in events[1].after["evidence"]
    with sqlite3.connect(str(gw.db)) as conn:
        chained = conn.execute(
            "SELECT actor FROM audit_entries WHERE stream = ? AND kind = ? AND subject = ?",
            (CONTROL, "rollout.rollback", r.id),
        ).fetchall()
    conn.close()
    assert chained == [("rollout-controller",)]
    (alert,) = [b for b in bodies if b["rule"] == "rollout_rollback"]
    assert alert["labels"] == {"rollout": r.id, "kind": "prompt", "target": r.target}
    assert alert["summary"].startswith(
        f"rollout_rollback (kind=prompt, rollout={r.id}, target=support-reply@production): "
        "support-reply@v2 rolled back to support-reply@v1 at canary 30%: refusals "
    )
    assert refusals in alert["detail"]["evidence"]
    wait_for(  # `daytwo alerts history` lists it, and its delivery
        lambda: _history_kinds(url, "rollout_rollback") == {"transition", "delivery"},
        what="the alert history",
    )


def _history_kinds(url: str, rule: str) -> set[str]:
    history = AlertHistory.open(url)
    try:
        return {row.kind for row in history.since(0, rules=[rule])}
    finally:
        history.close()


def test_a_cheaper_alias_of_equal_quality_goes_through_every_stage(tmp_path: Path) -> None:
    with running_gateway(controller_config(tmp_path, ttft_ms=20)) as gw:
        url = gw.app.config.ledger.url
        r = start(url, cheaper())
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        n = drive(lambda i: chat(gw, i), lambda: on_board(gw, r.id).status == "completed")
        after = [chat(gw, i) for i in range(n, n + 10)]
        done = on_board(gw, r.id)
        rows = {row["id"]: row for row in gw.records()}
    events = rollout_events(url, r.id)
    assert [e.action for e in events] == ["rollout.start", "rollout.advance", "rollout.complete"]
    assert events[1].after is not None and events[1].after["stage"] == "full"
    assert done.reason == "full passed"
    assert done.evidence[0].startswith("full: ")
    cost = next(line for line in done.evidence if line.startswith("cost per call"))
    assert cost.endswith("limit ×1.00): not worse")
    assert {rows[a["call_id"]]["deployment"] for a in after} == {"sim/gpt-4o-mini"}


def test_approve_each_stops_at_waiting_and_tells_the_sinks(tmp_path: Path) -> None:
    with (
        receiving() as receiver,
        running_gateway(controller_config(tmp_path, hook=receiver.url, ttft_ms=20)) as gw,
    ):
        url = gw.app.config.ledger.url
        r = start(url, replace(cheaper(), approve_each=True))
        wait_for(lambda: gw.app.rollouts is not None and gw.app.rollouts.any, what="the poll")
        n = drive(lambda i: chat(gw, i), lambda: on_board(gw, r.id).status != "running")
        bodies = receiver.wait(lambda b: len(b) >= 1, path="/hook")
        for i in range(n, n + 30):  # more evidence, more rounds: still waiting for a person
            chat(gw, i)
        controller = gw.app.rollout_controller
        assert controller is not None
        seen = controller.rounds
        wait_for(
            lambda: controller.rounds >= seen + 6, what="six more rounds, which must not move it"
        )
        waiting = on_board(gw, r.id)
    assert (waiting.status, waiting.stage) == ("waiting", 0)
    assert [e.action for e in rollout_events(url, r.id)] == ["rollout.start", "rollout.wait"]
    (note,) = bodies
    assert note["rule"] == "rollout_waiting" and note["severity"] == "info"
    assert "alias cheap passed canary 50%; waiting for approval" in note["summary"]
    assert note["summary"].endswith("runbook: daytwo runbook show failed-rollout"), note


def test_a_restarted_gateway_resumes_the_stored_stage(tmp_path: Path) -> None:
    cfg = controller_config(tmp_path, ttft_ms=20)
    stages = "canary:30%,60%,100%"
    with running_gateway(cfg) as first:
        url = first.app.config.ledger.url
        r = start(url, cheaper(stages))
        wait_for(lambda: first.app.rollouts is not None and first.app.rollouts.any, what="poll")
        n = drive(lambda i: chat(first, i), lambda: on_board(first, r.id).stage == 1)
    moved = on_board(first, r.id)
    with running_gateway(cfg) as second:
        resumed = on_board(second, r.id)  # read at start, before any call
        drive(
            lambda i: chat(second, i),
            lambda: on_board(second, r.id).status == "completed",
            start=n,
        )
    assert (resumed.stage, resumed.status, resumed.version) == (1, "running", moved.version)
    assert resumed.stage_started_at == moved.stage_started_at
    events = rollout_events(url, r.id)
    assert [(e.action, e.after and e.after["stage"]) for e in events] == [
        ("rollout.start", "canary 30%"),
        ("rollout.advance", "canary 60%"),
        ("rollout.advance", "full"),
        ("rollout.complete", "full"),
    ]

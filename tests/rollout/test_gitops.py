"""Rollouts declared in git: ``rollouts.yaml`` read with every problem named, the pure
decisions of a label that moved (start, supersede, retire, leave alone), and over real HTTP a
label change that starts a rollout instead of flipping, a completed rollout retired, a rolled
back one overriding the label until the file changes again, and a restart that resumes from the
label served before."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.admin.client import admin_client
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir, write_labels
from tests.rollout.harness import make_rollout

from daytwo.keys.store import KeyStore
from daytwo.prompts import PromptSet, load_prompts
from daytwo.rollout.assign import bucket
from daytwo.rollout.gitops import ACTOR, POLICY_FILE, Policy, note, plan, read_policies
from daytwo.rollout.model import Criteria, Rollout, parse_stages
from daytwo.rollout.store import RolloutStore

SUPPORT_V3: dict[str, Any] = {**SUPPORT_V2, "version": 3, "max_tokens": 300}
TARGET = "support-reply@production"
POLICY = Policy(parse_stages("canary:30%,100%"), "user", True, {"min_calls": 5})
DEFAULTS = Criteria(min_duration_s=60)


# -- the policy file ------------------------------------------------------------------------


def _policies(tmp_path: Path, text: str) -> tuple[dict[tuple[str, str], Policy], list[str]]:
    root = tmp_path / "prompts"
    root.mkdir(exist_ok=True)
    (root / POLICY_FILE).write_text(text)
    return read_policies(root)


def test_a_policy_file_declares_stages_sticky_approval_and_criteria(tmp_path: Path) -> None:
    policies, problems = _policies(
        tmp_path,
        "support-reply:\n"
        "  production: {stages: 'shadow:10%,canary:5%,25%,100%', sticky: user,"
        " approve_each: true, criteria: {min_calls: 200, max_cost_ratio: 1.1}}\n"
        "  staging: {stages: 'canary:50%'}\n",
    )
    assert problems == []
    prod = policies[("support-reply", "production")]
    assert [str(s) for s in prod.stages] == ["shadow 10%", "canary 5%", "canary 25%", "full"]
    assert (prod.sticky, prod.approve_each) == ("user", True)
    assert prod.criteria == {"min_calls": 200, "max_cost_ratio": 1.1}  # only what it sets
    staging = policies[("support-reply", "staging")]
    assert (staging.sticky, staging.approve_each, staging.criteria) == ("session", False, {})
    assert read_policies(tmp_path / "nowhere") == ({}, [])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "support-reply: {production: {stages: 'canary:50%,10%'}}",
            "prompts/rollouts.yaml: support-reply.production.stages: canary shares must increase",
        ),
        (
            "support-reply: {production: {stages: '5%', sticky: tenant}}",
            "prompts/rollouts.yaml: support-reply.production.sticky: ",
        ),
        (
            "support-reply: {production: {stages: '5%', patience: 3}}",
            "prompts/rollouts.yaml: support-reply.production.patience: unknown key",
        ),
        (
            "support-reply: {production: {stages: '5%', criteria: {min_calls: 0}}}",
            "prompts/rollouts.yaml: support-reply.production.criteria.min_calls: ",
        ),
        (
            "support-reply: {production: {sticky: user}}",
            "prompts/rollouts.yaml: support-reply.production.stages: required key is missing",
        ),
        (
            "Support Reply: {production: {stages: '5%'}}",
            "prompts/rollouts.yaml: Support Reply.[key]: String should match",
        ),
        ("support-reply: [production", "prompts/rollouts.yaml: invalid YAML"),
    ],
)
def test_a_bad_policy_file_names_the_key_and_declares_nothing(
    tmp_path: Path, text: str, problem: str
) -> None:
    policies, problems = _policies(tmp_path, text)
    assert policies == {}
    assert len(problems) == 1 and problems[0].startswith(problem), problems


# -- the decisions --------------------------------------------------------------------------


def _set(tmp_path: Path, production: int, *specs: dict[str, Any]) -> PromptSet:
    labels = {"support-reply": {"production": production, "staging": 1}}
    root = prompt_dir(tmp_path / f"set-{time.monotonic_ns()}", *specs, labels=labels)
    return load_prompts(root)


def _ours(control: int, candidate: int, status: str = "running") -> Rollout:
    r = make_rollout("prompt", TARGET, str(control), str(candidate))
    return replace(r, created_by=ACTOR, status=status)  # type: ignore[arg-type]  # a Status


ALL = (SUPPORT_V1, SUPPORT_V2, SUPPORT_V3)
WHEN = 1_000.0


def test_a_moved_label_with_a_policy_starts_its_rollout_from_the_version_served(
    tmp_path: Path,
) -> None:
    now = _set(tmp_path, 2, *ALL)
    got = plan(
        {"support-reply": {"production": 1}},
        now,
        {("support-reply", "production"): POLICY},
        [],
        DEFAULTS,
        WHEN,
    )
    assert got.stops == () and got.notes == ()
    (r,) = got.starts
    assert (r.kind, r.target, r.control, r.candidate) == ("prompt", TARGET, "1", "2")
    assert (r.stages, r.sticky, r.approve_each, r.status, r.stage) == (
        POLICY.stages,
        "user",
        True,
        "running",
        0,
    )
    assert r.criteria == replace(DEFAULTS, min_calls=5)
    assert (r.created_by, r.created_at, r.stage_started_at) == (ACTOR, WHEN, WHEN)
    assert r.reason == "labels.yaml moved support-reply@production from v1 to v2"


def test_labels_that_did_not_move_or_have_no_policy_start_nothing(tmp_path: Path) -> None:
    now = _set(tmp_path, 2, *ALL)
    policies = {("support-reply", "production"): POLICY}
    assert not plan({"support-reply": {"production": 1}}, now, {}, [], DEFAULTS, WHEN)
    assert not plan(None, now, policies, [], DEFAULTS, WHEN)  # nothing known before
    assert not plan({"support-reply": {"production": 2}}, now, policies, [], DEFAULTS, WHEN)
    assert not plan({}, now, policies, [], DEFAULTS, WHEN)  # a new label serves at once


def test_a_finished_rollout_of_the_files_is_retired_once_the_file_says_what_it_serves(
    tmp_path: Path,
) -> None:
    now = _set(tmp_path, 2, *ALL)
    completed = _ours(1, 2, "completed")
    got = plan(None, now, {}, [completed], DEFAULTS, WHEN)
    assert [(s.rollout.id, s.why) for s in got.stops] == [(completed.id, "labels.yaml says v2")]
    assert got.starts == ()
    # rolled back: serving v1 while the file says v2: it stays, overriding the label
    assert not plan(None, now, {}, [_ours(1, 2, "rolled_back")], DEFAULTS, WHEN)
    # still splitting, or someone else's: not the file's to retire while nothing moved
    assert not plan(None, now, {}, [_ours(1, 2)], DEFAULTS, WHEN)
    theirs = replace(completed, created_by="adm_1 (ann)")
    assert not plan(None, now, {}, [theirs], DEFAULTS, WHEN)


def test_after_a_rollback_the_next_label_change_retires_it_and_starts_from_the_control(
    tmp_path: Path,
) -> None:
    policies = {("support-reply", "production"): POLICY}
    back = _ours(1, 2, "rolled_back")
    before = {"support-reply": {"production": 2}}
    reverted = plan(before, _set(tmp_path, 1, *ALL), policies, [back], DEFAULTS, WHEN)
    assert [s.why for s in reverted.stops] == ["labels.yaml says v1 now"]
    assert reverted.starts == ()
    onwards = plan(before, _set(tmp_path, 3, *ALL), policies, [back], DEFAULTS, WHEN)
    assert [s.rollout.id for s in onwards.stops] == [back.id]
    ((r),) = onwards.starts
    assert (r.control, r.candidate) == ("1", "3")
    # without a policy the label simply moves on: the old rollout stops overriding it
    moved = plan(before, _set(tmp_path, 3, *ALL), {}, [back], DEFAULTS, WHEN)
    assert ([s.rollout.id for s in moved.stops], moved.starts) == ([back.id], ())


def test_a_label_moved_again_mid_rollout(tmp_path: Path) -> None:
    policies = {("support-reply", "production"): POLICY}
    running = _ours(1, 2)
    before = {"support-reply": {"production": 2}}
    superseded = plan(before, _set(tmp_path, 3, *ALL), policies, [running], DEFAULTS, WHEN)
    assert [s.why for s in superseded.stops] == ["labels.yaml says v3 now"]
    assert [(r.control, r.candidate) for r in superseded.starts] == [("1", "3")]
    reverted = plan(before, _set(tmp_path, 1, *ALL), policies, [running], DEFAULTS, WHEN)
    assert ([s.why for s in reverted.stops], reverted.starts) == (["labels.yaml says v1 again"], ())
    # another replica already started this very change
    same = plan(
        {"support-reply": {"production": 1}},
        _set(tmp_path, 2, *ALL),
        policies,
        [running],
        DEFAULTS,
        WHEN,
    )
    assert not same and same.notes == ()
    # a person's rollout runs on; the file is told
    theirs = replace(running, created_by="adm_1 (ann)")
    left = plan(before, _set(tmp_path, 3, *ALL), policies, [theirs], DEFAULTS, WHEN)
    assert not left
    assert left.notes == (
        f"{TARGET}: labels.yaml says v3 while rollout {theirs.id} (started by adm_1 (ann)) "
        "moves v1 → v2: it goes on",
    )


def test_a_control_no_longer_in_the_directory_cannot_be_rolled_out_from(tmp_path: Path) -> None:
    now = load_prompts(
        prompt_dir(tmp_path / "p", SUPPORT_V2, labels={"support-reply": {"production": 2}})
    )
    got = plan(
        {"support-reply": {"production": 1}},
        now,
        {("support-reply", "production"): POLICY},
        [],
        DEFAULTS,
        WHEN,
    )
    assert not got
    assert got.notes == (
        f"{TARGET}: cannot roll out v1 → v2: v1 is no longer in the directory; "
        "the label moves at once",
    )


def test_the_note_says_what_the_label_file_should_say() -> None:
    labels = {"support-reply": {"production": 2}}
    assert note(_ours(1, 2, "rolled_back"), labels) == (
        "labels.yaml says v2; rolled back to v1: revert the label"
    )
    assert note(_ours(1, 3, "rolled_back"), labels) == (
        "labels.yaml says v2; rolled back to v1: set the label to v1"
    )
    assert note(_ours(2, 3, "completed"), labels) == (
        "labels.yaml says v2; completed on v3: set the label to v3"
    )
    assert note(_ours(1, 3), labels) == "labels.yaml says v2; this rollout moves v1 → v3"
    assert (
        note(_ours(2, 3), labels) == "labels.yaml says v2: set it to v3 once the rollout completes"
    )
    assert note(_ours(1, 2), labels) is None
    assert note(_ours(1, 2, "completed"), labels) is None  # the gateway retires it
    theirs = replace(_ours(1, 2, "completed"), created_by="adm_1 (ann)")
    assert note(theirs, labels) == "labels.yaml says v2 too: retire this rollout"
    assert note(_ours(1, 2), {}) == "labels.yaml names no label `production` for support-reply"
    alias = make_rollout("alias", "chat", "chat", "cheap")
    assert note(alias, labels) is None


# -- over real HTTP -------------------------------------------------------------------------

POLICY_YAML = (
    "support-reply:\n  production: {stages: 'canary:30%,100%', sticky: session,"
    " criteria: {min_calls: 5}}\n"
)


def _config(tmp_path: Path, production: int = 1) -> tuple[dict[str, Any], Path]:
    root = prompt_dir(
        tmp_path / "prompts", *ALL, labels={"support-reply": {"production": production}}
    )
    (root / POLICY_FILE).write_text(POLICY_YAML)
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    cfg["rollouts"] = {"poll_s": 0.05, "evaluate_s": 0.05}
    return cfg, root


@contextmanager
def _store(gw: RunningGateway) -> Iterator[RolloutStore]:
    store = RolloutStore.open(gw.app.config.ledger.url)
    try:
        yield store
    finally:
        store.close()


def _versions(gw: RunningGateway, sessions: list[str]) -> dict[str, int]:
    """Each session's prompt version, asked by label over HTTP."""
    out = {}
    for session in sessions:
        body = {
            "model": "prompt:support-reply",
            "messages": [],
            "variables": {"customer": "ann", "topic": "a refund"},
        }
        status, headers, raw = http(
            "POST",
            f"{gw.base_url}/chat/completions",
            orjson.dumps(body),
            {"x-daytwo-session": session},
        )
        assert status == 200, raw
        out[session] = gw.record(headers["x-daytwo-call-id"])["prompt_version"]
    return out


def _on_board(gw: RunningGateway) -> Rollout | None:
    assert gw.app.rollouts is not None
    return gw.app.rollouts.prompt("support-reply", "production")


def _events(gw: RunningGateway, target: str) -> list[tuple[str, str, Any]]:
    with KeyStore.open(gw.app.config.ledger.url) as store:
        return [(e.actor, e.action, e.after) for e in store.events(target=target)]


@pytest.mark.integration
def test_a_label_change_starts_the_declared_rollout_and_its_completion_retires_it(
    tmp_path: Path,
) -> None:
    cfg, root = _config(tmp_path)
    sessions = [f"s-{i}" for i in range(60)]
    with running_gateway(cfg) as gw:
        assert _on_board(gw) is None
        write_labels(root, {"support-reply": {"production": 2}})
        r = wait_for(lambda: _on_board(gw), what="the file's rollout")
        assert (r.created_by, r.control, r.candidate, str(r.current)) == (
            ACTOR,
            "1",
            "2",
            "canary 30%",
        )
        assert r.criteria.min_calls == 5
        # routed by before it is stored (no call sees the label without it): wait for the row
        ((actor, action, after),) = wait_for(lambda: _events(gw, r.id), what="the start event")
        assert (actor, action) == ("prompts", "rollout.start")
        assert after["reason"] == "labels.yaml moved support-reply@production from v1 to v2"
        # not flipped: each session on its arm
        for session, version in _versions(gw, sessions).items():
            assert version == (2 if bucket(r.id, session) < 30 else 1), session

        with _store(gw) as store:  # the controller's doing: every stage passed
            assert store.move(
                r, r.moved(time.time(), status="completed"), "controller", "rollout.complete"
            )
            wait_for(lambda: store.active() == [], what="the retirement")
        assert _events(gw, r.id)[-1][:2] == ("prompts", "rollout.retire")
        assert _events(gw, r.id)[-1][2]["why"] == "labels.yaml says v2"
        wait_for(lambda: _on_board(gw) is None, what="the board")
        assert set(_versions(gw, sessions[:10]).values()) == {2}


@pytest.mark.integration
def test_a_rolled_back_rollout_holds_the_control_until_the_label_file_changes_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg, root = _config(tmp_path)
    sessions = [f"s-{i}" for i in range(20)]
    with running_gateway(cfg) as gw, admin_client(gw) as admin:
        op = admin.token("operator")
        write_labels(root, {"support-reply": {"production": 2}})
        first = wait_for(lambda: _on_board(gw), what="the file's rollout")
        # routed by before it is stored (no call sees the label without it): wait for the row
        wait_for(lambda: admin.call("GET", f"/admin/rollouts/{first.id}", op)[0] == 200)
        status, data = admin.call(
            "POST", f"/admin/rollouts/{first.id}/rollback", op, {"reason": "refusals"}
        )
        assert status == 200, data
        assert data["note"] == "labels.yaml says v2; rolled back to v1: revert the label"

        # an unrelated edit reloads the directory: the rollback still holds
        (root / "support-reply" / "v3.yaml").write_text(
            (root / "support-reply" / "v3.yaml").read_text() + "\n"
        )
        loads = len(_events(gw, str(root)))
        wait_for(lambda: len(_events(gw, str(root))) > loads, what="the reload")
        assert _on_board(gw) is not None and set(_versions(gw, sessions).values()) == {1}

        # the file moves on to v3: the old rollout is retired, v3 rolls out from v1
        write_labels(root, {"support-reply": {"production": 3}})
        second = wait_for(
            lambda: (r := _on_board(gw)) is not None and r.id != first.id and r, what="v3's rollout"
        )
        assert (second.control, second.candidate) == ("1", "3")
        wait_for(lambda: admin.call("GET", f"/admin/rollouts/{second.id}", op)[0] == 200)
        assert _events(gw, first.id)[-1][:2] == ("prompts", "rollout.retire")
        status, data = admin.call(
            "POST", f"/admin/rollouts/{second.id}/rollback", op, {"reason": "no"}
        )
        assert status == 200

        # reverted to the control: retired, the label serves v1 by itself
        write_labels(root, {"support-reply": {"production": 1}})
        wait_for(lambda: _on_board(gw) is None, what="the retirement")
        assert _events(gw, second.id)[-1][2]["why"] == "labels.yaml says v1 now"
        assert set(_versions(gw, sessions).values()) == {1}
        with _store(gw) as store:
            assert len(store.list()) == 2


@pytest.mark.integration
def test_a_restart_with_a_moved_label_starts_the_rollout_before_serving(tmp_path: Path) -> None:
    cfg, root = _config(tmp_path)
    with running_gateway(cfg):
        pass  # its load is in the event log: production served v1
    write_labels(root, {"support-reply": {"production": 2}})
    with running_gateway(cfg) as gw:
        r = _on_board(gw)  # no wait: there before the first call
        assert r is not None and (r.control, r.candidate, r.created_by) == ("1", "2", ACTOR)
    with running_gateway(cfg) as gw:  # restarted mid-rollout: the same one, none started
        assert _on_board(gw) == r
        with _store(gw) as store:
            assert [x.id for x in store.list()] == [r.id]


@pytest.mark.integration
def test_a_refused_policy_file_is_logged_and_the_label_moves_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="daytwo.rollout")
    cfg, root = _config(tmp_path)
    (root / POLICY_FILE).write_text("support-reply: {production: {stages: 'canary:50%,10%'}}\n")
    with running_gateway(cfg) as gw:
        loads = len(_events(gw, str(root)))
        write_labels(root, {"support-reply": {"production": 2}})
        wait_for(lambda: len(_events(gw, str(root))) > loads, what="the reload")
        lines = [r.getMessage() for r in caplog.records if r.name == "daytwo.rollout"]
        assert len(lines) == 2  # at start and at the reload
        assert set(lines) == {
            "rollouts: rollouts.yaml refused, labels move at once until it is fixed: "
            "prompts/rollouts.yaml: support-reply.production.stages: canary shares must increase"
        }
        assert set(_versions(gw, ["a", "b", "c"]).values()) == {2}
        assert _on_board(gw) is None

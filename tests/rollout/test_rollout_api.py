"""``/admin/rollouts`` over real HTTP: a rollout started through the API routes calls on this
gateway at once (its board is never polled here), every hand move is an audited event with its
reason, bad targets and stages are 400s naming the field, wrong states 409s, and every answer
matches the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.admin.client import Admin, admin_client, error_of
from tests.gateway.harness import RunningGateway, http, route, running_gateway, sim_config
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir

from daytwo.rollout.assign import bucket
from daytwo.rollout.store import RolloutStore

pytestmark = pytest.mark.integration

PROMPT = {"target": "prompt:support-reply@v2", "stages": "canary:50%"}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    labels = {"support-reply": {"production": 1, "staging": 2}}
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(prompt_dir(tmp_path / "p", SUPPORT_V1, SUPPORT_V2, labels=labels))}
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    # The board is never polled during a test: what routes, the API applied itself.
    cfg["rollouts"] = {"poll_s": 3600, "criteria": {"min_duration_s": 60}}
    with running_gateway(cfg) as g:
        yield g


@pytest.fixture
def admin(gw: RunningGateway) -> Iterator[Admin]:
    with admin_client(gw) as a:
        yield a


def _ticket(user: str) -> tuple[bytes, dict[str, str]]:
    body = {
        "model": "prompt:support-reply",
        "messages": [],
        "variables": {"customer": "ann", "topic": "a refund"},
    }
    return orjson.dumps(body), {"x-daytwo-user": user}


def test_a_prompt_rollout_started_through_the_api_routes_at_once_and_is_audited(
    admin: Admin,
) -> None:
    op = admin.token("operator", name="ann")
    criteria = {"min_calls": 10, "max_pairwise_loss": 0.1}
    body = {**PROMPT, "sticky": "user", "reason": "v2 is clearer", "criteria": criteria}
    status, r = admin.call("POST", "/admin/rollouts", op, body)
    assert status == 201, r
    assert (r["kind"], r["target"], r["control"], r["candidate"]) == (
        "prompt",
        "support-reply@production",
        "1",
        "2",
    )
    assert [(s["name"], s["state"]) for s in r["stages"]] == [
        ("canary 50%", "current"),
        ("full", "next"),
    ]
    assert (r["status"], r["serving_percent"], r["sticky"]) == ("running", 50.0, "user")
    # the override given, the gateway's configured default, the built-in default
    assert r["criteria"]["min_calls"] == 10
    assert r["criteria"]["min_duration_s"] == 60
    assert r["criteria"]["max_cost_ratio"] == 1.25
    assert r["criteria"]["max_pairwise_loss"] == 0.1
    assert r["created_by"].endswith("(ann)") and r["reason"] == "v2 is clearer"
    assert r["note"] == "labels.yaml says v1: set it to v2 once the rollout completes"
    ((event),) = r["history"]
    assert (event["action"], event["actor"]) == ("rollout.start", r["created_by"])
    assert event["after"]["reason"] == "v2 is clearer"

    board = admin.gw.app.rollouts
    assert board is not None and board.prompt("support-reply", "production") is not None
    for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
        raw, headers = _ticket(user)
        status, _, answer = http("POST", f"{admin.gw.base_url}/chat/completions", raw, headers)
        assert status == 200, answer
    rows = admin.gw.records()
    assert {row["rollout_id"] for row in rows} == {r["id"]}
    for row in rows:
        want = 2 if bucket(r["id"], row["user"]) < 50 else 1
        assert row["prompt_version"] == want, row

    status, listed = admin.call("GET", "/admin/rollouts", admin.token("viewer"))
    assert status == 200
    assert [(x["id"], x["retired"]) for x in listed["data"]] == [(r["id"], False)]
    status, events = admin.call("GET", f"/admin/events?target={r['id']}", op)
    assert [e["action"] for e in events["data"]] == ["rollout.start"]


def test_steering_by_hand_moves_the_board_at_once_and_records_every_reason(
    admin: Admin,
) -> None:
    op = admin.token("operator")
    body = {**PROMPT, "stages": "shadow:10%,canary:5%,25%"}
    status, r = admin.call("POST", "/admin/rollouts", op, body)
    assert status == 201, r
    rid = r["id"]
    board = admin.gw.app.rollouts
    assert board is not None

    def act(action: str, reason: str, want: int = 200) -> dict[str, Any]:
        status, data = admin.call("POST", f"/admin/rollouts/{rid}/{action}", op, {"reason": reason})
        assert status == want, data
        return data  # type: ignore[no-any-return]  # JSON

    def on_board() -> Any:
        assert board is not None
        return board.prompt("support-reply", "production")

    assert act("pause", "look at the shadow pairs")["status"] == "paused"
    err = error_of(act("pause", "again", 409))
    assert err["code"] == "rollout_state"
    assert err["message"] == (
        f"rollout {rid} is paused: only a running or waiting rollout can be paused"
    )
    moved = act("promote", "shadow looks fine")  # by hand, still paused
    assert (moved["current"], moved["status"], moved["shadow_percent"]) == (
        "canary 5%",
        "paused",
        0,
    )
    assert on_board().current.percent == 5.0 and on_board().status == "paused"
    assert act("resume", "go on")["status"] == "running"
    assert error_of(act("resume", "again", 409))["code"] == "rollout_state"
    assert "roll it back or promote it to the end" in error_of(act("retire", "x", 409))["message"]

    # the controller's doing: the stage passed and waits for an approval
    store = RolloutStore.open(admin.gw.app.config.ledger.url)
    try:
        before = store.get(rid)
        assert before is not None
        store.move(
            before, before.moved(time.time(), status="waiting"), "controller", "rollout.wait"
        )
    finally:
        store.close()
    approved = act("promote", "approved")
    assert (approved["current"], approved["status"]) == ("canary 25%", "running")
    assert [s["state"] for s in approved["stages"]] == ["done", "done", "current", "next"]
    assert act("promote", "skip")["current"] == "full"
    done = act("promote", "all good")
    assert (done["status"], done["serving_percent"]) == ("completed", 100.0)
    assert [s["state"] for s in done["stages"]] == ["done"] * 4
    assert done["note"] == "labels.yaml says v1; completed on v2: set the label to v2"
    assert on_board().status == "completed"

    back = act("rollback", "p95 doubled in the dashboards")
    assert (back["status"], back["serving_percent"]) == ("rolled_back", 0.0)
    assert back["note"] == "labels.yaml says v1 too: retire this rollout"
    assert [s["state"] for s in back["stages"]] == ["done", "done", "done", "stopped"]
    assert on_board().status == "rolled_back"
    assert (
        error_of(act("rollback", "again", 409))["message"]
        == f"rollout {rid} is already rolled back"
    )

    retired = act("retire", "the label file says v1")
    assert retired["retired"] is True
    assert on_board() is None
    for action in ("pause", "rollback", "retire"):
        assert error_of(act(action, "late", 409))["code"] == "rollout_retired"
    status, active = admin.call("GET", "/admin/rollouts?active=true", op)
    assert active["data"] == []

    status, shown = admin.call("GET", f"/admin/rollouts/{rid}", admin.token("viewer"))
    assert status == 200
    history = [
        (e["actor"] == "controller", e["action"], e["after"].get("why", e["after"]["reason"]))
        for e in shown["history"]
    ]
    assert history == [
        (False, "rollout.start", ""),
        (False, "rollout.pause", "look at the shadow pairs"),
        (False, "rollout.promote", "shadow looks fine"),
        (False, "rollout.resume", "go on"),
        (True, "rollout.wait", "go on"),
        (False, "rollout.approve", "approved"),
        (False, "rollout.promote", "skip"),
        (False, "rollout.complete", "all good"),
        (False, "rollout.rollback", "p95 doubled in the dashboards"),
        (False, "rollout.retire", "the label file says v1"),
    ]


def test_a_hand_move_needs_a_reason(admin: Admin) -> None:
    op = admin.token("operator")
    status, r = admin.call("POST", "/admin/rollouts", op, PROMPT)
    assert status == 201
    for body in ({}, {"reason": "  "}, {"reason": 3}):
        status, data = admin.call("POST", f"/admin/rollouts/{r['id']}/pause", op, body)
        assert status == 400, data
        assert error_of(data)["param"] == "reason"
    assert admin.gw.app.rollouts is not None
    rollout = admin.gw.app.rollouts.prompt("support-reply", "production")
    assert rollout is not None and rollout.status == "running"


@pytest.mark.parametrize(
    ("change", "param", "message"),
    [
        ({"target": "model:gpt-4o"}, "target", "expected prompt:NAME@vN, prompt:NAME@LABEL=vN"),
        ({"target": "prompt:Support@v2"}, "target", "expected prompt:NAME@vN"),
        ({"target": "prompt:nope@v2"}, "target", "no prompt named `nope`"),
        ({"target": "prompt:support-reply@v9"}, "target", "has no version 9 (versions: v1, v2)"),
        ({"target": "prompt:support-reply@canary=v2"}, "target", "has no label `canary`"),
        (
            {"target": "prompt:support-reply@staging=v2"},
            "target",
            "`staging` of `support-reply` already names v2",
        ),
        ({"candidate": "cheap"}, "candidate", "the version in `target`"),
        (
            {"target": "alias:nope", "candidate": "cheap"},
            "target",
            "`nope` is not a configured alias",
        ),
        ({"target": "alias:gpt-4o-mini"}, "candidate", "needs the alias that serves the candidate"),
        (
            {"target": "alias:gpt-4o-mini", "candidate": "nope"},
            "candidate",
            "`nope` is not a configured alias",
        ),
        (
            {"target": "alias:gpt-4o-mini", "candidate": "gpt-4o-mini"},
            "candidate",
            "is the alias being rolled out",
        ),
        (
            {"target": "alias:gpt-4o-mini", "candidate": "text-embedding-3-small"},
            "candidate",
            "serves embeddings and `gpt-4o-mini` chat",
        ),
        ({"stages": "canary:50%,10%"}, "stages", "`stages`: canary shares must increase"),
        ({"stages": "warp:5%"}, "stages", "unknown stage `warp`"),
        ({"stages": ""}, "stages", None),
        ({"sticky": "tenant"}, "sticky", None),
        ({"approve_each": "yes"}, "approve_each", None),
        ({"criteria": {"min_calls": 0}}, "criteria.min_calls", None),
        ({"criteria": {"max_latency_ratio": 0.5}}, "criteria.max_latency_ratio", None),
        ({"criteria": {"patience": 1}}, "criteria.patience", None),
        ({"criteria": {"max_pairwise_loss": 1.5}}, "criteria.max_pairwise_loss", None),
    ],
)
def test_a_bad_start_is_a_400_naming_the_field(
    admin: Admin, change: dict[str, Any], param: str, message: str | None
) -> None:
    status, data = admin.call(
        "POST", "/admin/rollouts", admin.token("operator"), {**PROMPT, **change}
    )
    assert status == 400, data
    err = error_of(data)
    assert err["param"] == param, err
    if message is not None:
        assert message in err["message"], err
    assert admin.call("GET", "/admin/rollouts", admin.token("viewer"))[1]["data"] == []


def test_an_alias_rollout_and_a_second_one_on_the_same_target(admin: Admin) -> None:
    op = admin.token("operator")
    body = {"target": "alias:gpt-4o-mini", "candidate": "cheap", "stages": "canary:5%,50%"}
    status, r = admin.call("POST", "/admin/rollouts", op, body)
    assert status == 201, r
    assert (r["kind"], r["target"], r["control"], r["candidate"]) == (
        "alias",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "cheap",
    )
    assert r["note"] is None
    assert admin.gw.app.rollouts is not None and admin.gw.app.rollouts.alias("gpt-4o-mini")
    status, data = admin.call("POST", "/admin/rollouts", op, body)
    assert status == 409
    err = error_of(data)
    assert err["code"] == "rollout_exists" and r["id"] in err["message"]


def test_roles_project_tokens_and_unknown_ids(admin: Admin) -> None:
    viewer = admin.token("viewer")
    status, data = admin.call("POST", "/admin/rollouts", viewer, PROMPT)
    assert status == 403 and error_of(data)["code"] == "insufficient_role"
    scoped = admin.token("operator", project="acme")
    for method, path, body in (
        ("GET", "/admin/rollouts", None),
        ("GET", "/admin/rollouts/ro_nothing", None),
        ("POST", "/admin/rollouts", PROMPT),
        ("POST", "/admin/rollouts/ro_nothing/rollback", {"reason": "x"}),
    ):
        status, data = admin.call(method, path, scoped, body)
        assert status == 403, (path, data)
        err = error_of(data)
        assert err["code"] == "project_scope" and "every project's calls" in err["message"]
    op = admin.token("operator")
    for method, path, body in (
        ("GET", "/admin/rollouts/ro_nothing", None),
        ("POST", "/admin/rollouts/ro_nothing/pause", {"reason": "x"}),
        ("POST", "/admin/rollouts/ro_nothing/retire", {"reason": "x"}),
    ):
        status, data = admin.call(method, path, op, body)
        assert status == 404, (path, data)
        assert error_of(data)["code"] == "rollout_not_found"


def test_a_shadow_stage_needs_a_shadow_key_when_keys_are_required(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    with running_gateway(cfg) as g, admin_client(g) as a:
        op = a.token("operator")
        body = {
            "target": "alias:gpt-4o-mini",
            "candidate": "cheap",
            "stages": "shadow:10%,100%",
            "reason": "cheaper",
        }
        status, data = a.call("POST", "/admin/rollouts", op, body)
        assert status == 400, data
        assert "set rollouts.shadow.key" in data["error"]["message"]
        # a canary-only rollout needs no mirrored calls
        status, data = a.call("POST", "/admin/rollouts", op, {**body, "stages": "canary:10%"})
        assert status == 201, data


def test_rollout_sinks_must_be_alert_sinks(tmp_path: Path) -> None:
    from daytwo.config.load import validate_config
    from daytwo.core.errors import ConfigError

    cfg = sim_config(tmp_path)
    cfg["rollouts"] = {"sinks": ["pager"]}
    with pytest.raises(ConfigError, match=r"rollouts\.sinks\.0: unknown alert sink `pager`"):
        validate_config(cfg)

"""``daytwo rollout`` against a real running gateway (CliRunner, real HTTP): start, status,
list and every hand move; usage errors are one line with exit 2 and never reach the gateway,
refusals one line with exit 1."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.gateway.harness import RunningGateway, route, running_gateway, sim_config
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir

from daytwo.cli.main import cli
from daytwo.keys.admin_tokens import AdminTokens, Role
from daytwo.keys.store import KeyStore
from daytwo.rollout.store import RolloutStore

pytestmark = pytest.mark.integration

STAGES = "shadow:10%,canary:5%,25%,100%"


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    labels = {"support-reply": {"production": 1}}
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(prompt_dir(tmp_path / "p", SUPPORT_V1, SUPPORT_V2, labels=labels))}
    cfg["models"]["cheap"] = route("sim", "gpt-3.5-turbo")
    cfg["rollouts"] = {"poll_s": 3600}
    with running_gateway(cfg) as g:
        yield g


def token(gw: RunningGateway, role: Role) -> str:
    with KeyStore.open(gw.app.config.ledger.url) as store:
        return AdminTokens(store).create(role, actor="test", name="cli").secret


def run(gw: RunningGateway | None, secret: str | None, *args: str) -> Result:
    env = {"DAYTWO_GATEWAY_URL": "" if gw is None else gw.url, "DAYTWO_ADMIN_TOKEN": secret or ""}
    return CliRunner().invoke(cli, ["rollout", *args], env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def one_line_error(result: Result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo rollout: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def stored(gw: RunningGateway) -> int:
    store = RolloutStore.open(gw.app.config.ledger.url)
    try:
        return len(store.list())
    finally:
        store.close()


def test_start_watch_and_steer_a_prompt_rollout(gw: RunningGateway) -> None:
    op = token(gw, "operator")
    out = ok(run(gw, op, "start", "prompt:support-reply@v2", "--stages", STAGES, "--reason", "v2"))
    m = re.fullmatch(
        r"started (ro_[0-9a-f]+): prompt support-reply@production v1 → v2 "
        r"\(shadow 10% → canary 5% → canary 25% → full\)\n"
        r"note: labels.yaml says v1: set it to v2 once the rollout completes\n",
        out,
    )
    assert m is not None, out
    rid = m.group(1)
    board = gw.app.rollouts
    assert board is not None
    assert board.prompt("support-reply", "production") is not None

    screen = ok(run(gw, op, "status", rid))
    assert f"{rid}  prompt support-reply@production: v1 → v2  running" in screen
    assert "split: 0% of calls to v2, 100% to v1; 10% mirrored to v2 (shadow)" in screen
    assert re.search(r"1\s*│\s*shadow 10%\s*│\s*▶ current", screen), screen
    assert re.search(r"│\s*start\s*│\s*shadow 10%\s*│\s*running\s*│\s*v2", screen), screen
    assert ok(run(gw, op, "status")) == screen  # the one rollout routing calls

    assert ok(run(gw, op, "pause", rid, "--reason", "read the pairs")) == (
        f"paused {rid} (prompt support-reply@production): paused at shadow 10%\n"
        "note: labels.yaml says v1: set it to v2 once the rollout completes\n"
    )
    assert ok(run(gw, op, "promote", rid, "--reason", "fine")).startswith(
        f"promoted {rid} (prompt support-reply@production): now at canary 5% (still paused)\n"
    )
    assert ok(run(gw, op, "resume", rid, "--reason", "go")).startswith(
        f"resumed {rid} (prompt support-reply@production): running at canary 5%\n"
    )
    one_line_error(run(gw, op, "resume", rid, "--reason", "again"), 1, "(409)", "is running")
    assert ok(run(gw, op, "rollback", rid, "--reason", "refusals")) == (
        f"rolled back {rid} (prompt support-reply@production): every call goes to v1\n"
        "note: labels.yaml says v1 too: retire this rollout\n"
    )
    rollout = board.prompt("support-reply", "production")
    assert rollout is not None and rollout.status == "rolled_back"
    screen = ok(run(gw, op, "status", rid))
    assert re.search(r"2\s*│\s*canary 5%\s*│\s*✗ rolled back here", screen), screen
    assert ok(run(gw, op, "retire", rid, "--reason", "file says v1")) == (
        f"retired {rid} (prompt support-reply@production): rolled back at canary 5%\n"
    )
    assert board.prompt("support-reply", "production") is None
    assert ok(run(gw, op, "status")).startswith("no rollout routes calls now")

    shown = json.loads(ok(run(gw, op, "status", rid, "--json")))
    assert [e["action"] for e in shown["history"]] == [
        "rollout.start",
        "rollout.pause",
        "rollout.promote",
        "rollout.resume",
        "rollout.rollback",
        "rollout.retire",
    ]
    assert shown["retired"] is True
    listed = json.loads(ok(run(gw, token(gw, "viewer"), "list", "--json")))
    assert [r["id"] for r in listed["data"]] == [rid]
    table = ok(run(gw, op, "list"))
    assert rid in table and "rolled back, retired" in table


def test_start_an_alias_rollout_with_criteria(gw: RunningGateway) -> None:
    op = token(gw, "operator")
    args = ["start", "alias:gpt-4o-mini", "--to", "cheap", "--stages", "canary:5%,50%"]
    out = ok(run(gw, op, *args, "--criteria", "min_calls=20", "--criteria", "max_cost_ratio=0.9"))
    assert out.startswith("started ro_") and ": alias gpt-4o-mini gpt-4o-mini → cheap (" in out
    data = json.loads(ok(run(gw, op, "list", "--json")))["data"][0]
    assert (data["criteria"]["min_calls"], data["criteria"]["max_cost_ratio"]) == (20, 0.9)
    assert data["sticky"] == "session" and data["approve_each"] is False
    one_line_error(run(gw, op, *args), 1, "(409)", data["id"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("start", "model:gpt-4o", "--stages", "canary:5%"), "TARGET: expected prompt:NAME@vN"),
        (("start", "prompt:support-reply", "--stages", "canary:5%"), "TARGET: `prompt:support"),
        (("start", "alias:gpt-4o-mini", "--stages", "canary:5%"), "needs --to"),
        (("start", "prompt:support-reply@v2", "--to", "cheap", "--stages", "5%"), "--to: a prompt"),
        (("start", "prompt:support-reply@v2", "--stages", "50%,10%"), "--stages: canary shares"),
        (("start", "prompt:support-reply@v2"), "Missing option '--stages'"),
        (("start", "prompt:support-reply@v2", "--stages", "5%", "--sticky", "tenant"), "--sticky"),
        (
            ("start", "prompt:support-reply@v2", "--stages", "5%", "--criteria", "patience=3"),
            "NAME one of",
        ),
        (
            ("start", "prompt:support-reply@v2", "--stages", "5%", "--criteria", "min_calls=1.5"),
            "min_calls: expected a whole number",
        ),
        (("pause", "ro_abc"), "Missing option '--reason'"),
        (("rollback", "ro_abc", "--reason", " "), "--reason: must not be empty"),
        (("status", "ro_abc", "--gateway", "ftp://x"), "--gateway: expected an http"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_never_reach_the_gateway(
    gw: RunningGateway, args: tuple[str, ...], needle: str
) -> None:
    one_line_error(run(gw, token(gw, "operator"), *args), 2, needle)
    assert stored(gw) == 0


def test_no_token_is_a_usage_error(gw: RunningGateway) -> None:
    one_line_error(run(gw, None, "list"), 2, "no admin token: set $DAYTWO_ADMIN_TOKEN")


def test_refusals_are_one_line_exit_1(gw: RunningGateway) -> None:
    op = token(gw, "operator")
    one_line_error(
        run(gw, op, "start", "prompt:support-reply@v9", "--stages", "5%"),
        1,
        "the gateway refused (400): `target`: prompt `support-reply` has no version 9",
    )
    one_line_error(
        run(gw, token(gw, "viewer"), "start", "prompt:support-reply@v2", "--stages", "5%"),
        1,
        "(403)",
        "`operator` role",
    )
    one_line_error(run(gw, op, "status", "ro_nothing"), 1, "(404): No rollout `ro_nothing`.")
    one_line_error(run(gw, op, "retire", "ro_nothing", "--reason", "x"), 1, "(404)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    one_line_error(
        run(None, op, "list", "--gateway", f"http://127.0.0.1:{port}"),
        1,
        "cannot reach the gateway",
    )
    assert stored(gw) == 0

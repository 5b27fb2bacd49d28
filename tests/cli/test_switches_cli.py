"""``daytwo kill`` / ``daytwo revive`` against a real running gateway, and the
``daytwo admin tokens`` commands that mint the token they use (CliRunner, real HTTP)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config
from tests.gateway.spend_harness import chat_body

from daytwo.cli.main import cli
from daytwo.cli.switches import SCOPE_FLAGS
from daytwo.control.switches import SWITCH_FIELDS
from daytwo.keys.admin_tokens import TOKEN_PREFIX
from daytwo.keys.format import is_well_formed
from daytwo.keys.hashing import PEPPER_ENV

pytestmark = pytest.mark.integration

ACME = {"x-daytwo-project": "acme"}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(sim_config(tmp_path)) as g:
        yield g


def _ledger(gw: RunningGateway) -> str:
    return gw.app.config.ledger.url


def run(*args: str, **env: str) -> Result:
    base = {PEPPER_ENV: "", "DAYTWO_CONFIG": "", "DAYTWO_GATEWAY_URL": ""}
    return CliRunner().invoke(cli, list(args), env={**base, **env})


def one_line_error(result: Result, code: int, prefix: str, *needles: str) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prefix}: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def new_token(gw: RunningGateway, role: str, *extra: str) -> str:
    result = run("admin", "tokens", "create", "--role", role, "--ledger", _ledger(gw), *extra)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert is_well_formed(token, TOKEN_PREFIX)
    return token


def _chat(gw: RunningGateway) -> tuple[int, dict[str, object]]:
    status, _, body = http("POST", f"{gw.base_url}/chat/completions", chat_body(), ACME)
    return status, orjson.loads(body)


def test_the_cli_knows_every_switch_scope_field() -> None:
    assert SCOPE_FLAGS == SWITCH_FIELDS


def test_admin_tokens_create_list_revoke(gw: RunningGateway) -> None:
    url = _ledger(gw)
    result = run(
        "admin",
        "tokens",
        "create",
        "--role",
        "operator",
        "--project",
        "acme",
        "--name",
        "ci",
        "--ledger",
        url,
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # the secret alone on stdout: easy to pipe
    assert "role operator" in result.stderr and "project acme" in result.stderr

    listed = run("admin", "tokens", "list", "--ledger", url, "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)["tokens"]
    assert (row["role"], row["project"], row["name"], row["state"]) == (
        "operator",
        "acme",
        "ci",
        "active",
    )
    assert token not in listed.stdout
    table = run("admin", "tokens", "list", "--ledger", url)
    assert row["id"] in table.stdout and token not in table.stdout

    revoked = run("admin", "tokens", "revoke", row["id"], "--ledger", url)
    assert (revoked.exit_code, revoked.stdout) == (0, f"revoked {row['id']} ({row['prefix']})\n")
    one_line_error(
        run("admin", "tokens", "revoke", row["id"], "--ledger", url),
        1,
        "daytwo admin",
        "already revoked",
    )
    one_line_error(
        run("admin", "tokens", "revoke", "adm_nothing", "--ledger", url),
        1,
        "daytwo admin",
        "no admin token with id adm_nothing",
    )
    one_line_error(
        run("admin", "tokens", "create", "--role", "root", "--ledger", url),
        2,
        "daytwo admin",
        "--role",
    )
    # the revoked token no longer opens the admin API
    bad = run(
        "kill", "--project", "acme", "--reason", "x", "--gateway", gw.url, DAYTWO_ADMIN_TOKEN=token
    )
    one_line_error(bad, 1, "daytwo kill", "401")


def test_kill_and_revive_switch_a_scope_off_and_on(gw: RunningGateway) -> None:
    token = new_token(gw, "operator")
    assert _chat(gw)[0] == 200

    result = run(
        "kill",
        "--project",
        "acme",
        "--reason",
        "runaway agent",
        "--gateway",
        gw.url,
        DAYTWO_ADMIN_TOKEN=token,
    )
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "killed project=acme: runaway agent\n",
        "",
    )
    status, body = _chat(gw)
    assert status == 403
    assert body["error"]["type"] == "feature_disabled"  # type: ignore[index]

    # the gateway URL from the environment; the token from a variable named on the command line
    result = run(
        "revive",
        "--project",
        "acme",
        "--token-env",
        "OPS_TOKEN",
        OPS_TOKEN=token,
        DAYTWO_GATEWAY_URL=gw.url,
    )
    assert (result.exit_code, result.stdout) == (0, "revived project=acme\n")
    assert _chat(gw)[0] == 200
    result = run("revive", "--project", "acme", "--gateway", gw.url, DAYTWO_ADMIN_TOKEN=token)
    assert (result.exit_code, result.stdout) == (
        0,
        "project=acme was not switched off: nothing to revive\n",
    )

    result = run(
        "kill",
        "--project",
        "acme",
        "--feature",
        "chat",
        "--reason",
        "cost",
        "--gateway",
        gw.url,
        "--json",
        DAYTWO_ADMIN_TOKEN=token,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["scope"], data["fields"]) == (
        "project=acme,feature=chat",
        {"project": "acme", "feature": "chat"},
    )
    assert gw.app.spend is not None
    assert set(gw.app.spend.switches.active()) == {"project=acme,feature=chat"}


def test_refusals_are_one_line_with_the_servers_message(gw: RunningGateway) -> None:
    kill = ("kill", "--project", "acme", "--reason", "x", "--gateway", gw.url)
    one_line_error(
        run(*kill, DAYTWO_ADMIN_TOKEN="dt2_adm_" + "A" * 38),
        1,
        "daytwo kill",
        "refused (401)",
        "Incorrect admin token",
    )
    viewer = new_token(gw, "viewer")
    one_line_error(
        run(*kill, DAYTWO_ADMIN_TOKEN=viewer),
        1,
        "daytwo kill",
        "refused (403)",
        "`viewer` role",
        "`operator`",
    )
    scoped = new_token(gw, "operator", "--project", "globex")
    one_line_error(
        run(*kill, DAYTWO_ADMIN_TOKEN=scoped),
        1,
        "daytwo kill",
        "refused (403)",
        "scoped to project `globex`",
    )
    assert gw.app.spend is not None and gw.app.spend.switches.active() == {}
    assert _chat(gw)[0] == 200


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_usage_and_connection_failures_are_one_line() -> None:
    token = "dt2_adm_" + "A" * 38
    down = f"http://127.0.0.1:{_closed_port()}"
    line = one_line_error(
        run(
            "kill",
            "--project",
            "acme",
            "--reason",
            "x",
            "--gateway",
            down,
            DAYTWO_ADMIN_TOKEN=token,
        ),
        1,
        "daytwo kill",
        f"cannot reach the gateway at {down}",
    )
    assert token not in line
    one_line_error(
        run("kill", "--reason", "x", "--gateway", down, DAYTWO_ADMIN_TOKEN=token),
        2,
        "daytwo kill",
        "name the scope",
        "--project",
    )
    one_line_error(
        run("revive", "--gateway", down, DAYTWO_ADMIN_TOKEN=token),
        2,
        "daytwo revive",
        "name the scope",
    )
    one_line_error(
        run("kill", "--project", "acme", "--gateway", down, DAYTWO_ADMIN_TOKEN=token),
        2,
        "daytwo kill",
        "--reason",
    )
    one_line_error(
        run("kill", "--project", "acme", "--reason", "x", "--gateway", down),
        2,
        "daytwo kill",
        "$DAYTWO_ADMIN_TOKEN",
    )
    one_line_error(
        run("kill", "--project", "*", "--reason", "x", "--gateway", down, DAYTWO_ADMIN_TOKEN=token),
        2,
        "daytwo kill",
        "--project",
    )
    one_line_error(
        run(
            "kill",
            "--project",
            "acme",
            "--reason",
            "x",
            "--gateway",
            "file:///etc/passwd",
            DAYTWO_ADMIN_TOKEN=token,
        ),
        2,
        "daytwo kill",
        "--gateway",
    )
    # a token value on the command line is not accepted at all
    one_line_error(
        run("kill", "--project", "acme", "--reason", "x", "--token", token),
        2,
        "daytwo kill",
        "--token",
    )


def test_degrade_answers_the_scope_with_the_message_and_revive_ends_it(gw: RunningGateway) -> None:
    token = new_token(gw, "operator")
    message = "Chat is paused; email help@example.com."
    result = run(
        "degrade",
        "--project",
        "acme",
        "--mode",
        "static",
        "--message",
        message,
        "--reason",
        "provider outage",
        "--gateway",
        gw.url,
        DAYTWO_ADMIN_TOKEN=token,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "degraded project=acme (static): provider outage\n"
    status, headers, raw = http("POST", f"{gw.base_url}/chat/completions", chat_body(), ACME)
    assert status == 200 and headers["x-daytwo-degraded"] == "static; scope=project=acme"
    assert orjson.loads(raw)["choices"][0]["message"]["content"] == message

    result = run("revive", "--project", "acme", "--gateway", gw.url, DAYTWO_ADMIN_TOKEN=token)
    assert result.stdout == "revived project=acme\n"
    status, headers, _ = http("POST", f"{gw.base_url}/chat/completions", chat_body(), ACME)
    assert status == 200 and "x-daytwo-degraded" not in headers


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--mode", "alias"), "--mode alias needs --alias"),
        (("--mode", "static", "--alias", "x"), "--alias: mode static answers with a message"),
        (("--mode", "alias", "--alias", "x", "--message", "m"), "--message: mode alias"),
        (("--mode", "static", "--message", " "), "--message: must not be empty"),
        (("--mode", "nap"), "--mode"),
    ],
)
def test_degrade_usage_errors_are_one_line_and_exit_2(
    gw: RunningGateway, args: tuple[str, ...], needle: str
) -> None:
    result = run(
        "degrade",
        "--project",
        "acme",
        "--reason",
        "r",
        *args,
        "--gateway",
        gw.url,
        DAYTWO_ADMIN_TOKEN="t",
    )
    one_line_error(result, 2, "daytwo degrade", needle)


def test_degrade_to_an_unknown_alias_is_the_gateways_one_line_refusal(gw: RunningGateway) -> None:
    token = new_token(gw, "operator")
    result = run(
        "degrade",
        "--project",
        "acme",
        "--mode",
        "alias",
        "--alias",
        "nope",
        "--reason",
        "r",
        "--gateway",
        gw.url,
        DAYTWO_ADMIN_TOKEN=token,
    )
    one_line_error(result, 1, "daytwo degrade", "refused (400)", "`nope` is not a configured alias")

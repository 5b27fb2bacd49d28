"""``daytwo providers status`` against a real running gateway (CliRunner, real HTTP): the table
and the JSON after real traffic, a dead deployment shown open, and the one-line failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.gateway.harness import RunningGateway, gateway_config, http, running_gateway

from daytwo.cli.main import cli
from daytwo.keys.admin_tokens import AdminTokens, Role
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

TOKEN_ENV = "DT_TEST_ADMIN_TOKEN"  # a variable's name, not a token


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    providers = {
        "dead": {"type": "openai", "base_url": f"http://127.0.0.1:{_closed_port()}/v1"},
        "live": {"type": "sim", "sim": {"seed": 3, "min_output_tokens": 4}},
    }
    models = {
        "chat": {
            "deployments": [
                {"provider": "dead", "model": "gpt-4o-mini"},
                {"provider": "live", "model": "gpt-4o-mini"},
            ]
        },
        "idle": {"deployments": [{"provider": "live", "model": "gpt-4o"}]},
    }
    cfg = gateway_config(tmp_path / "ledger.db", providers, models)
    cfg["resilience"] = {
        "defaults": {"deadline_s": 8, "try_timeout_s": 2},
        "aliases": {"idle": {"strategy": "least_latency", "max_attempts": 2}},
        "breaker": {"consecutive_failures": 2, "open_s": 60, "max_open_s": 120},
    }
    with running_gateway(cfg) as g:
        yield g


def _token(gw: RunningGateway, role: Role = "viewer") -> str:
    with KeyStore.open(gw.app.config.ledger.url) as store:
        return AdminTokens(store).create(role, actor="test").secret


def run(*args: str, **env: str) -> Result:
    base = {"DAYTWO_GATEWAY_URL": "", TOKEN_ENV: ""}
    args = ("providers", "status", "--token-env", TOKEN_ENV, *args)
    return CliRunner().invoke(cli, list(args), env={**base, **env})


def _traffic(gw: RunningGateway, n: int) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    for _ in range(n):
        status, _, _ = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
        assert status == 200


def one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo providers: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_table_shows_the_breakers_latency_and_budget(gw: RunningGateway) -> None:
    token = _token(gw)
    before = run("--gateway", gw.url, **{TOKEN_ENV: token})
    assert before.exit_code == 0, before.output
    assert "closed" in before.stdout and "open" not in before.stdout.replace("closed", "")

    _traffic(gw, 4)
    result = run("--gateway", gw.url, **{TOKEN_ENV: token})
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    dead, live = lines["dead/gpt-4o-mini"], lines["live/gpt-4o-mini"]
    assert "open (" in dead and "s left)" in dead  # two refused connections opened it
    assert "closed" in live and "0% of 4" in live and " ms" in live
    assert "chat" in live
    idle = lines["live/gpt-4o"]
    assert idle.count("–") >= 4 and "idle" in idle  # never called: no figures
    assert "least_latency" in out
    assert "retry budget: 2 retries for 4 requests in the last 10 s" in out
    assert "(allowed: 20% of requests + 10)" in out


def test_json_is_the_gateway_answer(gw: RunningGateway) -> None:
    _traffic(gw, 3)
    result = run("--json", **{TOKEN_ENV: _token(gw, "operator"), "DAYTWO_GATEWAY_URL": gw.url})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {r["deployment"]: r for r in data["data"]}
    assert rows["dead/gpt-4o-mini"]["state"] == "open"
    assert rows["live/gpt-4o-mini"]["window_calls"] == 3
    assert rows["live/gpt-4o"]["p50_ms"] is None
    assert data["retry_budget"]["requests"] == 3
    assert data["aliases"]["idle"]["max_attempts"] == 2


def test_failures_are_one_line(gw: RunningGateway) -> None:
    one_line_error(run("--gateway", gw.url), 2, f"${TOKEN_ENV}")
    one_line_error(run("--gateway", "ftp://gw", **{TOKEN_ENV: "x"}), 2, "--gateway", "http://")
    one_line_error(
        run("--gateway", gw.url, **{TOKEN_ENV: "dt2_adm_" + "A" * 38}),
        1,
        "refused (401)",
        "Incorrect admin token",
    )
    dead = f"http://127.0.0.1:{_closed_port()}"
    one_line_error(run("--gateway", dead, **{TOKEN_ENV: "x"}), 1, "cannot reach", dead)

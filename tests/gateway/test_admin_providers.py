"""``GET /admin/providers`` over real HTTP: every configured deployment is listed (never-called
ones with null figures), and real traffic through the simulator moves the figures -- a dead
deployment (a closed port) opens its breaker, a flaky one shows its error rate, a healthy one
its latency, time to first token and the upstream's quota. Every answer is checked against the
OpenAPI document."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import orjson
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, http, running_gateway

from daytwo.admin.app import document
from daytwo.config.schema import SimFaults, SimSettings
from daytwo.keys.admin_tokens import AdminTokens, Role
from daytwo.keys.store import KeyStore
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

DOC = document()
PATH = "/admin/providers"
DEAD = "dead/gpt-4o-mini"
LIVE = "live/gpt-4o-mini"
FLAKY = "flaky/gpt-4o-mini"
SPARE = "spare-gpt-4o"


def _resolve(node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolve(DOC["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sim(seed: int, **faults: Any) -> SimSettings:
    return SimSettings(
        seed=seed, min_output_tokens=4, max_output_tokens=8, faults=SimFaults(**faults)
    )


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_sim_server(_sim(1)) as good, running_sim_server(_sim(2, rate_503=0.5)) as bad:
        providers = {
            "dead": {"type": "openai", "base_url": f"http://127.0.0.1:{_closed_port()}/v1"},
            "live": {"type": "openai", "base_url": good},
            "flaky": {"type": "openai", "base_url": bad},
            "spare": {"type": "openai", "base_url": good},
        }
        chain = [
            {"provider": "dead", "model": "gpt-4o-mini"},
            {"provider": "live", "model": "gpt-4o-mini"},
        ]
        models = {
            "chat": {"deployments": chain},
            # the same deployments again: one row each, naming both aliases
            "chat-too": {"deployments": chain[1:]},
            "flaky": {"deployments": [{"provider": "flaky", "model": "gpt-4o-mini"}]},
            # never called: listed with null figures
            "spare": {"deployments": [{"provider": "spare", "model": "gpt-4o", "name": SPARE}]},
        }
        cfg = gateway_config(tmp_path / "ledger.db", providers, models)
        cfg["resilience"] = {
            "defaults": {"deadline_s": 8, "try_timeout_s": 2},
            "aliases": {"flaky": {"max_attempts": 1}, "spare": {"strategy": "lowest_cost"}},
            "retry_budget": {"ratio": 0.5, "min_retries": 20, "window_s": 60},
            # 3 failures in a row open a breaker; the flaky deployment's seeded 503s never
            # come 3 in a row, and a rate alone never opens it (only 100 % would)
            "breaker": {
                "consecutive_failures": 3,
                "error_rate": 1.0,
                "open_s": 60,
                "max_open_s": 120,
            },
        }
        with running_gateway(cfg) as g:
            yield g


def _token(gw: RunningGateway, role: Role) -> str:
    with KeyStore.open(gw.app.config.ledger.url) as store:
        return AdminTokens(store).create(role, actor="test").secret


def _get(gw: RunningGateway, token: str | None) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    status, _, raw = http("GET", gw.url + PATH, None, headers)
    data = orjson.loads(raw)
    responses = DOC["paths"][PATH]["get"]["responses"]
    assert str(status) in responses, f"undocumented {status}"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator(_resolve(schema)).validate(data)
    return status, data


def _chat(gw: RunningGateway, alias: str, *, stream: bool = False) -> int:
    body: dict[str, Any] = {
        "model": alias,
        "messages": [{"role": "user", "content": "Say something."}],
        "max_tokens": 8,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    status, _, _ = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
    return status


def _by_id(data: Any) -> dict[str, dict[str, Any]]:
    return {row["deployment"]: row for row in data["data"]}


def test_no_token_is_401_and_every_role_reads_it(gw: RunningGateway) -> None:
    status, data = _get(gw, None)
    assert status == 401
    assert data["error"]["code"] == "invalid_admin_token"
    assert _get(gw, "dt2_adm_" + "A" * 38)[0] == 401
    for role in ("viewer", "operator", "admin"):
        assert _get(gw, _token(gw, role))[0] == 200, role


def test_every_deployment_is_listed_before_any_call_with_null_figures(
    gw: RunningGateway,
) -> None:
    status, data = _get(gw, _token(gw, "viewer"))
    assert status == 200
    rows = _by_id(data)
    assert list(rows) == [DEAD, LIVE, FLAKY, SPARE]
    assert rows[LIVE]["aliases"] == ["chat", "chat-too"]
    assert rows[SPARE] == {
        "deployment": SPARE,
        "provider": "spare",
        "provider_type": "openai",
        "model": "gpt-4o",
        "aliases": ["spare"],
        "state": "closed",
        "consecutive_failures": None,
        "window_calls": None,
        "error_rate": None,
        "slow_rate": None,
        "p50_ms": None,
        "p95_ms": None,
        "latency_ewma_ms": None,
        "ttft_ewma_ms": None,
        "open_for_s": None,
        "openings": None,
        "throttled_for_s": None,
        "remaining_requests": None,
        "remaining_tokens": None,
    }
    assert data["retry_budget"] == {
        "requests": 0,
        "retries": 0,
        "ratio": 0.5,
        "min_retries": 20,
        "window_s": 60,
    }
    assert data["aliases"]["flaky"] == {
        "strategy": "ordered",
        "max_attempts": 1,
        "deadline_s": 8,
        "try_timeout_s": 2,
    }
    assert data["aliases"]["spare"]["strategy"] == "lowest_cost"
    assert data["aliases"]["chat"]["max_attempts"] == 3


def test_real_traffic_moves_the_figures(gw: RunningGateway) -> None:
    viewer = _token(gw, "viewer")
    for _ in range(5):
        assert _chat(gw, "chat") == 200
    assert _chat(gw, "chat", stream=True) == 200
    flaky = [_chat(gw, "flaky") for _ in range(12)]
    assert 200 in flaky and 503 in flaky, flaky  # seeded: both outcomes occur

    status, data = _get(gw, viewer)
    assert status == 200
    rows = _by_id(data)

    dead = rows[DEAD]
    # Three refused connections in a row opened the breaker; later calls skipped it.
    assert dead["state"] == "open"
    assert dead["openings"] == 1
    assert 0 < dead["open_for_s"] <= 60
    assert dead["p50_ms"] is None  # it never answered

    live = rows[LIVE]
    assert live["state"] == "closed"
    assert live["window_calls"] == 6
    assert live["error_rate"] == 0.0 and live["consecutive_failures"] == 0
    assert live["p50_ms"] is not None and live["p95_ms"] >= live["p50_ms"] > 0
    assert live["latency_ewma_ms"] > 0
    assert live["ttft_ewma_ms"] is not None and live["ttft_ewma_ms"] > 0  # the streamed call
    assert live["remaining_requests"] is not None  # the simulator reports its quota

    bad = rows[FLAKY]
    failed = flaky.count(503)
    assert bad["window_calls"] == 12
    assert bad["error_rate"] == pytest.approx(failed / 12, abs=0.001)  # rounded to 3 places
    assert bad["state"] == "closed"

    assert rows[SPARE]["window_calls"] is None  # still never called

    budget = data["retry_budget"]
    assert budget["requests"] == 6 + 12
    # one failover per call until the dead deployment's breaker opened (the flaky alias
    # allows one attempt: never retried)
    assert budget["retries"] == 3

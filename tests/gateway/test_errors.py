"""Bad input and upstream failures become the client's wire-format error, never a traceback,
and every one of them leaves a ledger record."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.gateway.harness import RunningGateway, http, sim_config

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
OK_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _error(body: bytes) -> dict[str, Any]:
    err: dict[str, Any] = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in err["message"]
    return err


def test_body_over_the_limit_is_413(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["server"] = {"max_body_bytes": 2048}
    gw = gateway_factory(cfg)
    big = json.dumps({**OK_BODY, "messages": [{"role": "user", "content": "x" * 4096}]})
    status, _, body = http("POST", gw.url + CHAT, big.encode())
    assert status == 413
    assert "exceeds the limit of 2048 bytes" in _error(body)["message"]
    status, _, _ = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
    assert status == 200
    assert [r["http_status"] for r in gw.records()] == [413, 200]


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"model": "gpt-4o-mini", "messages": [', None),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user"}], "max_tokens": "9"}',
            "max_tokens",
        ),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": 1}]}', "messages[0].role"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(
    gw: RunningGateway, raw: bytes, param: str | None
) -> None:
    status, headers, body = http("POST", gw.url + CHAT, raw)
    err = _error(body)
    assert (status, err["type"], err["param"]) == (400, "invalid_request_error", param)
    (row,) = gw.records()
    assert (row["status"], row["http_status"], row["id"]) == (
        "rejected",
        400,
        headers["x-daytwo-call-id"],
    )


def test_unknown_routes_and_methods(gw: RunningGateway) -> None:
    status, _, body = http("GET", gw.url + "/v1/nope")
    assert status == 404 and "Unknown request URL" in _error(body)["message"]
    status, _, body = http("GET", gw.url + CHAT)
    assert status == 405


def test_health_and_readiness(gw: RunningGateway) -> None:
    assert http("GET", gw.url + "/healthz")[0] == 200
    status, _, body = http("GET", gw.url + "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"


def test_upstream_429_keeps_class_and_retry_after(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(sim_config(tmp_path, faults={"rate_429": 1.0, "retry_after_s": 7}))
    status, headers, body = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
    assert status == 429 and headers["retry-after"] == "7"
    assert _error(body)["type"] == "rate_limit_error"
    with (
        openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as client,
        pytest.raises(openai.RateLimitError),
    ):
        client.chat.completions.create(**OK_BODY)  # type: ignore[call-overload]
    rows = gw.records()
    assert {(r["status"], r["http_status"], r["error_class"]) for r in rows} == {
        ("error", 429, "UpstreamStatusError")
    }


def test_failover_to_the_next_deployment_before_any_byte(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["providers"]["down"] = {"type": "sim", "sim": {"faults": {"rate_503": 1.0}}}
    cfg["models"]["gpt-4o-mini"]["deployments"].insert(
        0, {"provider": "down", "model": "gpt-4o-mini"}
    )
    gw = gateway_factory(cfg)
    status, _, _ = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
    stream_body = {**OK_BODY, "stream": True}
    s_status, _, s_body = http("POST", gw.url + CHAT, json.dumps(stream_body).encode())
    assert (status, s_status) == (200, 200)
    assert s_body.endswith(b"data: [DONE]\n\n")
    rows = gw.records()
    assert [(r["status"], r["attempts"], r["provider"]) for r in rows] == [("ok", 2, "sim")] * 2


def test_upstream_connection_refused_is_502(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    from daytwo.gateway.server import free_port

    cfg = sim_config(tmp_path)
    cfg["providers"]["dead"] = {"type": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    cfg["models"]["gpt-4o-mini"]["deployments"] = [{"provider": "dead", "model": "gpt-4o-mini"}]
    gw = gateway_factory(cfg)
    status, _, body = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
    err = _error(body)
    assert (status, err["type"]) == (502, "api_connection_error")
    (row,) = gw.records()
    assert (row["status"], row["error_class"]) == ("error", "UpstreamUnavailable")


def test_secrets_never_reach_clients_logs_or_the_ledger(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from daytwo.config.schema import SimSettings
    from daytwo.providers.sim.run import running_sim_server

    secret = "sk-proj-THISisTHEsecretVALUE0123456789"
    monkeypatch.setenv("DT_TEST_UPSTREAM_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with running_sim_server(SimSettings(), require_key="the-right-key") as sim_url:
        cfg = sim_config(tmp_path)
        cfg["logging"] = {"level": "debug", "access_log": True}
        cfg["providers"]["up"] = {
            "type": "openai",
            "base_url": sim_url,
            "api_key": "env:DT_TEST_UPSTREAM_KEY",
        }
        cfg["models"]["gpt-4o-mini"]["deployments"] = [{"provider": "up", "model": "gpt-4o-mini"}]
        gw = gateway_factory(cfg)
        status, _, body = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
        rows = gw.records()
    err = _error(body)
    # The upstream echoed the key in its message; the client sees the message, not the key.
    assert status == 401 and "Incorrect API key provided: [REDACTED]" in err["message"]
    assert secret not in body.decode()
    assert secret not in json.dumps(rows)
    assert rows[0]["error_message"].startswith("Incorrect API key provided: [REDACTED]")
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert secret not in logged


def test_upstream_that_hangs_times_out_as_504(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    from daytwo.config.schema import SimFaults, SimSettings
    from daytwo.providers.sim.run import running_sim_server

    hang = SimSettings(faults=SimFaults(rate_timeout=1.0, hang_s=60))
    with running_sim_server(hang) as sim_url:
        cfg = sim_config(tmp_path)
        cfg["providers"]["slow"] = {"type": "openai", "base_url": sim_url, "timeout_s": 0.5}
        cfg["models"]["gpt-4o-mini"]["deployments"] = [{"provider": "slow", "model": "gpt-4o-mini"}]
        gw = gateway_factory(cfg)
        status, _, body = http("POST", gw.url + CHAT, json.dumps(OK_BODY).encode())
        (row,) = gw.records()
    assert (status, _error(body)["type"]) == (504, "timeout")
    assert (row["status"], row["error_class"]) == ("error", "UpstreamTimeout")
    assert 400 < row["latency_ms"] < 5_000

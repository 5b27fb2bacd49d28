"""Per-deployment adjustments (params, drop_params, system_prefix): unit tests of the body
rewrite, and over real HTTP, what a capturing upstream receives when a call fails over."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import gateway_config, http, running_gateway

from daytwo.config.schema import DeploymentConfig
from daytwo.core.types import LLMRequest, NativeRequest
from daytwo.gateway.adjust import adjust

BODY: dict[str, Any] = {
    "model": "chat",
    "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
    "max_tokens": 100,
    "temperature": 1.0,
    "seed": 7,
}


def req(**over: Any) -> LLMRequest:
    return LLMRequest("chat", "chat", {**BODY, **over})


def test_a_relayed_anthropic_body_gets_the_same_adjustments_in_its_own_words() -> None:
    native = NativeRequest(
        "anthropic",
        {
            "model": "chat",
            "max_tokens": 100,
            "system": [
                {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1.0,
            "top_k": 40,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
    )
    dep = DeploymentConfig(
        provider="p",
        model="m",
        params={"temperature": 0.2, "stop": "END", "seed": 3},
        drop_params=("top_k",),
        system_prefix="House rules.",
    )
    out = adjust(LLMRequest("chat", "chat", dict(BODY), native=native), dep).native
    assert out is not None and out.body == {
        "model": "chat",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "House rules."},
            {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "stop_sequences": ["END"],  # `seed` has no Anthropic name: not sent
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    assert native.body["temperature"] == 1.0  # the client's request is never changed


def test_no_adjustment_is_the_same_request() -> None:
    r = req()
    assert adjust(r, DeploymentConfig(provider="p", model="m")) is r


def test_params_set_drop_and_prefix_without_touching_the_original() -> None:
    dep = DeploymentConfig(
        provider="p",
        model="m",
        params={"temperature": 0.2, "top_p": 0.9},
        drop_params=["seed"],
        system_prefix="Answer in French.",
    )
    r = req()
    out = adjust(r, dep).body
    assert out["temperature"] == 0.2 and out["top_p"] == 0.9
    assert "seed" not in out
    assert out["messages"][0] == {"role": "system", "content": "Answer in French.\n\nBe kind."}
    assert r.body == BODY  # a failover to another deployment starts from the client's request


def test_a_prefix_without_a_system_prompt_adds_one_and_parts_are_kept() -> None:
    dep = DeploymentConfig(provider="p", model="m", system_prefix="Short answers.")
    out = adjust(req(messages=[{"role": "user", "content": "hi"}]), dep).body
    assert out["messages"][0] == {"role": "system", "content": "Short answers."}
    parts = [{"type": "text", "text": "Be kind."}]
    out = adjust(req(messages=[{"role": "developer", "content": parts}]), dep).body
    assert out["messages"][0]["content"] == [{"type": "text", "text": "Short answers."}, *parts]


def test_max_tokens_only_ever_lowers_the_clients() -> None:
    dep = DeploymentConfig(provider="p", model="m", params={"max_tokens": 50})
    assert adjust(req(max_tokens=100), dep).body["max_tokens"] == 50
    assert adjust(req(max_tokens=20), dep).body["max_tokens"] == 20


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"params": {"model": "other"}}, "cannot change model"),
        ({"drop_params": ["messages"]}, "cannot change messages"),
        ({"params": {"max_tokens": 0}}, "positive integer"),
        ({"params": {"temperature": {"nested": 1}}}, "params.temperature"),
    ],
)
def test_bad_adjustments_are_refused_at_load(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        DeploymentConfig.model_validate({"provider": "p", "model": "m", **spec})


class _Capture(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]
    status: int

    def do_POST(self) -> None:  # http.server's naming
        length = int(self.headers["content-length"])
        body = json.loads(self.rfile.read(length))
        type(self).bodies.append(body)
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.send_header("content-type", "application/json")
            payload = b'{"error": {"message": "down", "type": "server_error"}}'
        else:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            payload = orjson.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "ok"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
                }
            )
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def capturing_upstream(status: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Handler", (_Capture,), {"bodies": [], "status": status})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1", handler.bodies
    finally:
        server.shutdown()
        server.server_close()


def test_each_deployment_gets_its_own_adjustments_on_failover(tmp_path: Path) -> None:
    with capturing_upstream(503) as (down, first), capturing_upstream(200) as (up, second):
        cfg = gateway_config(
            tmp_path / "ledger.db",
            {"a": {"type": "openai", "base_url": down}, "b": {"type": "openai", "base_url": up}},
            {
                "chat": {
                    "deployments": [
                        {"provider": "a", "model": "gpt-4o", "params": {"temperature": 0.5}},
                        {
                            "provider": "b",
                            "model": "local-llama",
                            "params": {"max_tokens": 64},
                            "drop_params": ["seed"],
                            "system_prefix": "You are terse.",
                        },
                    ]
                }
            },
        )
        cfg["resilience"] = {"defaults": {"max_attempts": 2}}
        with running_gateway(cfg) as gw:
            status, _, raw = http("POST", f"{gw.url}/v1/chat/completions", orjson.dumps(BODY))
            assert status == 200, raw
        (to_a,) = first
        (to_b,) = second
        assert to_a["temperature"] == 0.5 and to_a["seed"] == 7 and to_a["max_tokens"] == 100
        assert to_a["messages"][0]["content"] == "Be kind."
        assert to_b["temperature"] == 1.0 and "seed" not in to_b and to_b["max_tokens"] == 64
        assert to_b["messages"][0]["content"] == "You are terse.\n\nBe kind."
        assert (to_a["model"], to_b["model"]) == ("gpt-4o", "local-llama")

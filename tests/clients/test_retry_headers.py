"""Refusals that waiting will not cure come back at once through the Python SDKs, with their
default retries, on every door; a rate limit still says how short a wait cures it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from tests.clients.harness import keyed_gateway, month_end, spent_budget
from tests.gateway.harness import RunningGateway
from tests.gateway.spend_harness import MODEL, on_gateway_loop

pytestmark = pytest.mark.integration

MESSAGES: list[Any] = [{"role": "user", "content": "hello there"}]


def _clients(gw: RunningGateway, key: str) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    # Default retries (2 each): what users run.
    return openai.OpenAI(base_url=gw.base_url, api_key=key), anthropic.Anthropic(
        base_url=gw.url, api_key=key
    )


def test_a_spent_budget_is_one_refusal_at_once_on_every_door(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    resets_at = month_end()
    spend = spent_budget()
    limit = spend["budgets"][0]["usd"]  # the cap in USD, as the gateway shows it
    gw, key = keyed_gateway(tmp_path, gateway_factory, spend)
    oai, claude = _clients(gw, key)
    t0 = time.perf_counter()
    with pytest.raises(openai.RateLimitError) as chat:
        oai.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as responses:
        oai.responses.create(model=MODEL, input="hello there", max_output_tokens=20)
    with pytest.raises(anthropic.RateLimitError) as messages:
        claude.messages.create(model=MODEL, max_tokens=20, messages=MESSAGES)
    assert time.perf_counter() - t0 < 2.0  # three refusals, no backoff between tries
    assert [r["http_status"] for r in gw.records()] == [429, 429, 429]  # no SDK tried again
    for err in (chat.value, responses.value, messages.value):
        assert err.response.headers["x-should-retry"] == "false"
        assert "retry-after" not in err.response.headers
    body = chat.value.body
    assert isinstance(body, dict)
    assert (body["type"], body["resets_at"]) == ("budget_exceeded", int(resets_at))
    # The message shows exact USD (it read `$0.0000 (nanousd)`), as the body's `limit` does.
    exact = f"${limit}"
    assert f"limit {exact}, committed $0." in body["message"]
    assert "nanousd" not in body["message"] and body["limit"] == limit


def test_per_request_caps_and_kill_switches_say_do_not_retry(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    caps = {"request_caps": [{"scope": {"project": "acme"}, "usd": "0.000001"}]}
    gw, key = keyed_gateway(tmp_path, gateway_factory, caps)
    oai, claude = _clients(gw, key)
    with pytest.raises(openai.RateLimitError) as capped:
        oai.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20)
    assert capped.value.code == "request_cap"
    assert capped.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in capped.value.response.headers
    assert "the cap for scope `project=acme` is $0.000001 per request" in capped.value.message
    assert gw.app.spend is not None
    on_gateway_loop(gw, gw.app.spend.switches.kill({"project": "acme"}, reason="test", who="t"))
    with pytest.raises(anthropic.PermissionDeniedError) as off:
        claude.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    assert off.value.response.headers["x-should-retry"] == "false"
    assert len(gw.records()) == 2


def test_a_rate_limit_keeps_a_short_retry_after_and_says_retry(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    limits = {"rate_limits": [{"name": "acme-rpm", "scope": {"project": "acme"}, "rpm": 1}]}
    gw, key = keyed_gateway(tmp_path, gateway_factory, limits)
    oai = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    oai.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5)
    headers = limited.value.response.headers
    assert headers["x-should-retry"] == "true"
    assert 1 <= int(headers["retry-after"]) <= 60  # the minute's end, never more

"""The Node clients, as their users run them: the official openai SDK (openai-node) and the
Vercel AI SDK (`ai` + `@ai-sdk/openai`), each a subprocess against a real gateway over loopback.

The case that hung before: a spent budget answered `429` with `retry-after` set to the window's
reset, and openai-node slept the whole of it. Now it carries `x-should-retry: false` and no
`retry-after`, and the SDK, with its default retries, returns the refusal at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.clients.harness import keyed_gateway, month_end, node_call, spent_budget
from tests.gateway.harness import RunningGateway
from tests.gateway.spend_harness import MODEL

pytestmark = pytest.mark.integration


def _case(gw: RunningGateway, key: str, client: str = "openai", **extra: Any) -> dict[str, Any]:
    return {"client": client, "baseURL": gw.base_url, "apiKey": key, "model": MODEL, **extra}


def test_openai_node_with_default_retries_returns_a_budget_refusal_within_a_second(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    resets_at = month_end()
    gw, key = keyed_gateway(tmp_path, gateway_factory, spent_budget())
    out = node_call(_case(gw, key), timeout_s=30)  # default maxRetries (2)
    assert out["ok"] is False
    err = out["error"]
    assert (err["name"], err["status"]) == ("RateLimitError", 429)
    assert err["body"]["type"] == "budget_exceeded"
    assert err["headers"]["x-should-retry"] == "false"
    assert "retry-after" not in err["headers"]
    assert err["body"]["resets_at"] == int(resets_at)  # when it resets stays in the body
    assert out["elapsedMs"] < 1000
    (row,) = gw.records()  # the SDK did not try again
    assert (row["status"], row["http_status"], row["project"]) == ("rejected", 429, "acme")
    assert err["requestId"] == row["id"]  # openai-node's error.requestID is daytwo's call id


def test_openai_node_sees_a_rate_limit_as_worth_a_short_wait(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    limits = {"rate_limits": [{"name": "acme-rpm", "scope": {"project": "acme"}, "rpm": 1}]}
    gw, key = keyed_gateway(tmp_path, gateway_factory, limits)
    assert node_call(_case(gw, key, maxRetries=0))["ok"] is True
    out = node_call(_case(gw, key, maxRetries=0))
    err = out["error"]
    assert (err["status"], err["body"]["type"]) == (429, "rate_limited")
    assert err["headers"]["x-should-retry"] == "true"
    assert 1 <= int(err["headers"]["retry-after"]) <= 60  # the minute's end, never more


def test_openai_node_request_ids_are_daytwo_call_ids(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = keyed_gateway(tmp_path, gateway_factory, {})
    plain = node_call(_case(gw, key))
    streamed = node_call(_case(gw, key, stream=True))
    assert plain["ok"] and streamed["ok"], (plain, streamed)
    rows = {r["id"]: r for r in gw.records()}
    assert set(rows) == {plain["result"]["requestId"], streamed["result"]["requestId"]}
    usage = streamed["result"]["usage"]
    row = rows[streamed["result"]["requestId"]]
    assert (row["stream"], row["input_tokens"], row["output_tokens"]) == (
        1,
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_ai_sdk_gets_answers_and_a_budget_refusal_without_waiting_for_the_reset(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, key = keyed_gateway(tmp_path, gateway_factory, {})
    ok = node_call(_case(gw, key, client="ai-sdk"))
    assert ok["ok"] is True, ok
    (row,) = gw.records()
    assert row["project"] == "acme"  # the key's
    assert ok["result"]["usage"]["inputTokens"] == row["input_tokens"]
    assert ok["result"]["usage"]["outputTokens"] == row["output_tokens"]
    streamed = node_call(_case(gw, key, client="ai-sdk", stream=True))
    assert streamed["ok"] is True and streamed["result"]["text"], streamed

    month_end()
    (tmp_path / "spent").mkdir()
    refusing, key2 = keyed_gateway(tmp_path / "spent", gateway_factory, spent_budget())
    # maxRetries 0: the refusal at once, with daytwo's error body.
    out = node_call(_case(refusing, key2, client="ai-sdk", maxRetries=0))
    err = out["error"]
    assert (err["name"], err["status"]) == ("APICallError", 429)
    assert err["headers"]["x-should-retry"] == "false"
    assert out["elapsedMs"] < 1000
    # Default retries: the AI SDK decides on the status alone (it does not read
    # x-should-retry) and backs off 2 s then 4 s -- no longer, as there is no retry-after.
    out = node_call(_case(refusing, key2, client="ai-sdk"), timeout_s=30)
    err = out["error"]
    assert (err["name"], err["lastName"], err["attempts"]) == ("RetryError", "APICallError", 3)
    assert 5_000 < out["elapsedMs"] < 9_000

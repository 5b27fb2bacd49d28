"""The simulator's admin usage and cost reports over real HTTP: built from what it served."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import openai
import pytest
from tests.gateway.harness import http

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

ADMIN = {"authorization": "Bearer sk-admin-sim"}
PRICES = {"gpt-4o-mini": {"input": "0.15", "output": "0.60"}}
DAY = 86_400


def _today() -> int:
    return int(time.time()) // DAY * DAY


def _get(root: str, path: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    status, hdrs, body = http("GET", f"{root}{path}?{urlencode(params, doseq=True)}", None, headers)
    return status, hdrs, json.loads(body)


def test_openai_usage_and_costs_count_what_was_served() -> None:
    settings = SimSettings(billing={"prices": PRICES})
    with running_sim_server(settings) as url:
        client = openai.OpenAI(base_url=url, api_key="k", max_retries=0)
        answers = [
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {i}"}]
            )
            for i in range(3)
        ]
        root = url.removesuffix("/v1")
        start = _today()
        params = {"start_time": start, "group_by": ["model", "api_key_id"], "bucket_width": "1d"}
        status, _, page = _get(root, "/v1/organization/usage/completions", params, ADMIN)
        assert status == 200 and page["object"] == "page" and page["has_more"] is False
        (result,) = page["data"][0]["results"]
        assert result["object"] == "organization.usage.completions.result"
        assert result["num_model_requests"] == 3
        assert result["input_tokens"] == sum(a.usage.prompt_tokens for a in answers if a.usage)
        assert result["output_tokens"] == sum(a.usage.completion_tokens for a in answers if a.usage)
        assert (result["model"], result["api_key_id"]) == ("gpt-4o-mini", "key_daytwo")
        params = {"start_time": start, "group_by": ["line_item"]}
        status, _, costs = _get(root, "/v1/organization/costs", params, ADMIN)
        lines = {
            r["line_item"]: Decimal(str(r["amount"]["value"])) for r in costs["data"][0]["results"]
        }
        assert lines["gpt-4o-mini, input"] == Decimal("0.15") * result["input_tokens"] / 10**6
        assert lines["gpt-4o-mini, output"] == Decimal("0.60") * result["output_tokens"] / 10**6


def test_anthropic_cost_report_is_in_cents_as_decimal_strings() -> None:
    settings = SimSettings(
        billing={"prices": {"claude-3-5-haiku": {"input": "0.8", "output": "4"}}}
    )
    with running_sim_server(settings) as url:
        root = url.removesuffix("/v1")
        body = json.dumps(
            {
                "model": "claude-3-5-haiku",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "hello"}],
            }
        ).encode()
        status, _, raw = http(
            "POST",
            f"{root}/v1/messages",
            body,
            {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        assert status == 200
        usage = json.loads(raw)["usage"]
        start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime())
        key = {"x-api-key": "sk-admin-sim", "anthropic-version": "2023-06-01"}
        status, _, report = _get(root, "/v1/organizations/cost_report", {"starting_at": start}, key)
        assert status == 200
        amounts = {r["token_type"]: r["amount"] for r in report["data"][0]["results"]}
        assert all(isinstance(a, str) for a in amounts.values())
        # $4 per million output tokens = 0.0004 cents a token
        assert Decimal(amounts["output_tokens"]) == Decimal("0.0004") * usage["output_tokens"]
        _, _, msgs = _get(
            root,
            "/v1/organizations/usage_report/messages",
            {"starting_at": start, "group_by[]": "model"},
            key,
        )
        (result,) = msgs["data"][0]["results"]
        assert result["output_tokens"] == usage["output_tokens"]
        assert result["cache_creation"]["ephemeral_5m_input_tokens"] == usage.get(
            "cache_creation_input_tokens", 0
        )


def test_pages_rate_limits_and_admin_keys() -> None:
    settings = SimSettings(billing={"rate_limit_every": 2})
    with running_sim_server(settings, require_key="inference-key") as url:
        root = url.removesuffix("/v1")
        params: dict[str, Any] = {"start_time": _today() - 2 * DAY, "limit": 1}
        status, _, first = _get(root, "/v1/organization/usage/completions", params, ADMIN)
        assert status == 200 and first["has_more"] is True and len(first["data"]) == 1
        status, headers, _ = _get(root, "/v1/organization/usage/completions", params, ADMIN)
        assert status == 429 and headers["retry-after"] == "0"
        params["page"] = first["next_page"]
        status, _, second = _get(root, "/v1/organization/usage/completions", params, ADMIN)
        assert status == 200 and second["data"][0]["start_time"] == first["data"][0]["end_time"]
        # the inference key is not an admin key
        status, _, err = _get(
            root, "/v1/organization/costs", params, {"authorization": "Bearer inference-key"}
        )
        assert status == 401 and "admin key" in err["error"]["message"]

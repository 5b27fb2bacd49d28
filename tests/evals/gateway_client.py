"""A small real EvalClient for the assertion tests: judge and embedding calls over HTTP to a
running gateway's OpenAI door, attributed to project ``evals`` and tagged with the purpose.
(The runner's own client, ``daytwo.evals.client``, is not on main yet.)"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from daytwo.evals.model import CallFailed, Output, ToolCall


class GatewayEvalClient:
    def __init__(self, base_url: str, run_id: str = "test-run") -> None:
        self.base_url = base_url.rstrip("/")
        self.run_id = run_id
        #: Every chat body sent, in order (what the judge was asked).
        self.sent: list[dict[str, Any]] = []

    def _headers(self, purpose: str) -> dict[str, str]:
        return {
            "x-daytwo-project": "evals",
            "x-daytwo-tags": f"run={self.run_id},purpose={purpose}",
        }

    async def chat(
        self,
        body: Mapping[str, Any],
        *,
        purpose: str,
        headers: Mapping[str, str] | None = None,
    ) -> Output:
        self.sent.append(dict(body))
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(
                f"{self.base_url}/v1/chat/completions",
                json=dict(body),
                headers={**self._headers(purpose), **(headers or {})},
            )
        if resp.status_code != 200:
            raise CallFailed(f"HTTP {resp.status_code}: {resp.text[:200]}")
        data = resp.json()
        choice = data["choices"][0]
        message = choice["message"]
        calls = tuple(
            ToolCall(c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        )
        usage = data.get("usage") or {}
        return Output(
            text=message.get("content") or "",
            tool_calls=calls,
            finish_reason=choice.get("finish_reason"),
            refusal=message.get("refusal"),
            served_model=data.get("model"),
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            cost_usd=float(resp.headers.get("x-daytwo-cost-usd", "0")),
            latency_ms=(time.perf_counter() - started) * 1000,
            call_id=resp.headers.get("x-daytwo-call-id"),
        )

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], float]:
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(
                f"{self.base_url}/v1/embeddings",
                json={"model": model, "input": texts},
                headers=self._headers("embedding"),
            )
        if resp.status_code != 200:
            raise CallFailed(f"HTTP {resp.status_code}: {resp.text[:200]}")
        rows = sorted(resp.json()["data"], key=lambda r: r["index"])
        return [r["embedding"] for r in rows], float(resp.headers.get("x-daytwo-cost-usd", "0"))

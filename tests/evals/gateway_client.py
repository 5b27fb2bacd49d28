"""The assertion tests' EvalClient: the runner's own :class:`~daytwo.evals.client.GatewayClient`
(judge and embedding calls over HTTP to a running gateway's OpenAI door, attributed to project
``evals`` and tagged with the run id and purpose), uncached, recording what the judge was
asked. Each grading runs its own event loop (``asyncio.run``), so each call gets a session of
its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from daytwo.evals.client import Attribution, GatewayClient, Meter
from daytwo.evals.model import Output


class GatewayEvalClient:
    def __init__(self, base_url: str, run_id: str = "test-run") -> None:
        self.base_url = base_url
        self.attribution = Attribution(project="evals", workflow="eval:tests", run_id=run_id)
        self.meter = Meter()
        #: Every chat body sent, in order (what the judge was asked).
        self.sent: list[dict[str, Any]] = []

    def _client(self, session: aiohttp.ClientSession) -> GatewayClient:
        return GatewayClient(
            self.base_url,
            session,
            self.attribution,
            identity=lambda model: model,
            cache=None,
            meter=self.meter,
            use_cache=False,
        )

    async def chat(
        self,
        body: Mapping[str, Any],
        *,
        purpose: str,
        headers: Mapping[str, str] | None = None,
    ) -> Output:
        self.sent.append(dict(body))
        async with aiohttp.ClientSession() as session:
            return await self._client(session).chat(body, purpose=purpose, headers=headers)

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], float]:
        async with aiohttp.ClientSession() as session:
            return await self._client(session).embed(texts, model)

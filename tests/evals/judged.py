"""A real gateway in front of the in-process simulator, serving the aliases the judged
assertion tests use, and a grading context whose client calls it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.evals.gateway_client import GatewayEvalClient
from tests.evals.grading import context, spec
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway

from daytwo.evals.assertions import grade
from daytwo.evals.model import Grade, JudgeSettings, Output

#: The judge: another family (Anthropic) than the graded gpt-4o-mini.
JUDGE = JudgeSettings(model="judge", embedding_model="embed")


@contextmanager
def judging_gateway(tmp: Path) -> Iterator[RunningGateway]:
    models: dict[str, Any] = {
        "gpt-4o-mini": route("sim", "gpt-4o-mini"),
        "judge": route("sim", "claude-haiku-4-5"),
        "judge-openai": route("sim", "gpt-4o"),
        # A judge deployment that drops structured outputs: it answers in prose.
        "judge-prose": {
            "deployments": [
                {"provider": "sim", "model": "claude-haiku-4-5", "drop_params": ["response_format"]}
            ]
        },
        "embed": route("sim", "text-embedding-3-small", "embeddings"),
    }
    cfg = gateway_config(tmp / "ledger.db", {"sim": {"type": "sim", "sim": {"seed": 7}}}, models)
    with running_gateway(cfg) as gw:
        yield gw


def judged(
    gw: RunningGateway,
    raws: list[dict[str, Any]],
    answer: str | Output,
    *,
    judge: JudgeSettings = JUDGE,
    client: GatewayEvalClient | None = None,
    **kw: Any,
) -> tuple[Grade, ...]:
    client = client or GatewayEvalClient(gw.url)
    if isinstance(answer, str):
        answer = Output(text=answer, served_model="gpt-4o-mini")
    ctx = context(answer, client=client, judge=judge, **kw)
    return asyncio.run(grade([spec(r) for r in raws], ctx))

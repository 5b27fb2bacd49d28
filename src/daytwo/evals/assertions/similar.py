"""``similar``: the cosine similarity of the answer's embedding and the expected text's, through
the gateway's embeddings route (``EvalClient.embed``), or on this machine for a ``local:``
model (evals/local_embeddings.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from daytwo.evals import local_embeddings
from daytwo.evals.assertions.base import (
    Kind,
    Place,
    Verdict,
    error,
    scored,
    text_value,
    threshold_of,
)
from daytwo.evals.model import AssertionSpec, GradeContext

#: ``similar`` cosine needed without a threshold (promptfoo's default).
SIMILAR_THRESHOLD = 0.75


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity (0.0 when either vector is zero)."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / norm if norm else 0.0


def embedding_model(spec: AssertionSpec, ctx: GradeContext, key: str = "provider") -> str | None:
    own = spec.config.get(key)
    return own if isinstance(own, str) else ctx.judge.embedding_model


async def embed(ctx: GradeContext, texts: list[str], model: str) -> tuple[list[list[float]], float]:
    """Vectors of ``texts`` and their cost: a ``local:`` model runs here (off the event
    loop, free), any other is the gateway's embeddings alias."""
    if local_embeddings.is_local(model):
        return await asyncio.to_thread(local_embeddings.embed, texts, model), 0.0
    return await ctx.client.embed(texts, model)


def _parse(value: Any, place: Place) -> tuple[str, ...]:
    if isinstance(value, list) and value:
        return tuple(text_value(v, place) for v in value)
    return (text_value(value, place),)


async def _similar(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    refs: tuple[str, ...] | None = spec.parsed
    if refs is None:
        refs = (ctx.case.expected,) if ctx.case.expected is not None else None
    if refs is None:
        return error("no value and no expected answer to compare with")
    model = embedding_model(spec, ctx)
    if model is None:
        return error("no embedding model: set `embedding_model` in the suite or `provider`")
    vectors, cost = await embed(ctx, [ctx.output.text, *refs], model)
    best = max(cosine(vectors[0], v) for v in vectors[1:])
    return scored(best, threshold_of(spec, SIMILAR_THRESHOLD), "cosine similarity", cost)


KINDS = (
    Kind(
        "similar",
        _similar,
        value="reference",
        parse=_parse,
        needs=frozenset({"embeddings"}),
        default_threshold=SIMILAR_THRESHOLD,
        config_keys=frozenset({"provider"}),
    ),
)

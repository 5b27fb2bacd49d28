"""Realistic synthetic call records, for benchmarks and demos (deterministic for a seed).

The traffic has the shape of a real organisation rather than independent random columns:
workflows belong to projects, features and agents to workflows, keys (and so environments) to
projects; each workflow has a primary model and a fallback; users follow a long-tailed
popularity. Traffic grows over the period, and in its last week one workflow moves to a pricier
model, so a week-over-week report has a clear top driver. About 3% of calls fail, a few are
retried, refused or cancelled, 5% are unattributed (project ``default``) and one self-hosted
model has no price (its calls are unpriced).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from daytwo.core.record import CallRecord, CallStatus

#: (provider, model, nano-dollars per input token, per output token); None = unpriced.
MODELS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("openai", "gpt-4o", 2_500, 10_000),
    ("openai", "gpt-4o-mini", 150, 600),
    ("openai", "o3-mini", 1_100, 4_400),
    ("anthropic", "claude-sonnet-4", 3_000, 15_000),
    ("anthropic", "claude-haiku-3.5", 800, 4_000),
    ("anthropic", "claude-opus-4", 15_000, 75_000),
    ("google", "gemini-2.0-flash", 100, 400),
    ("google", "gemini-1.5-pro", 1_250, 5_000),
    ("google", "text-embedding-004", 25, 0),
    ("selfhosted", "llama-3.1-70b", None, None),
    ("selfhosted", "qwen-2.5-32b", 200, 200),
    ("selfhosted", "mistral-small", 100, 300),
)
PROJECTS = ("search", "support", "sales", "legal", "finance", "growth", "platform", "research")
ENVIRONMENTS = ("production", "staging", "development")


@dataclass(frozen=True)
class Shape:
    """Cardinalities of the generated traffic."""

    projects: int = 8
    workflows: int = 40
    features: int = 30
    agents: int = 20
    users: int = 2_000
    keys: int = 200
    models: int = len(MODELS)
    providers: int = len({m[0] for m in MODELS})
    environments: int = len(ENVIRONMENTS)
    error_rate: float = 0.03
    unattributed_rate: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class _Workflow:
    project: str
    name: str
    features: tuple[str, ...]
    agent: str | None
    keys: tuple[tuple[str, str], ...]  # (key id, environment)
    model: int
    fallback: int
    pricier: int  # the model it moves to in the last week (itself when it does not move)
    embeddings: bool
    input_scale: float


def _build(shape: Shape, rng: random.Random) -> list[_Workflow]:
    projects = [
        PROJECTS[i % len(PROJECTS)] + ("" if i < len(PROJECTS) else f"-{i}")
        for i in range(shape.projects)
    ]
    keys_by_project: dict[str, list[tuple[str, str]]] = {p: [] for p in projects}
    for k in range(shape.keys):
        env = ENVIRONMENTS[0 if k % 20 < 12 else 1 if k % 20 < 17 else 2]
        keys_by_project[projects[k % len(projects)]].append((f"key-{k:04d}", env))
    chat_models = [i for i, m in enumerate(MODELS) if "embedding" not in m[1] and m[2] is not None]
    embedding = next(i for i, m in enumerate(MODELS) if "embedding" in m[1])
    unpriced = next(i for i, m in enumerate(MODELS) if m[2] is None)
    per_project = max(1, shape.workflows // len(projects))
    workflows = []
    for w in range(shape.workflows):
        project = projects[w % len(projects)]
        own_keys = keys_by_project[project]
        features = tuple(
            f"feature-{(w + j * shape.workflows // 4) % shape.features:02d}"
            for j in range(1 + w % 2)
        )
        # The last (least used) workflow runs on the unpriced model; every 4th falls back to it;
        # every 10th is an embeddings workflow.
        model = chat_models[rng.randrange(len(chat_models))]
        if w == shape.workflows - 1:
            model = unpriced
        elif w % 10 == 9:
            model = embedding
        fallback = unpriced if w % 4 == 3 else chat_models[(w + 1) % len(chat_models)]
        # Each project's keys are shared out among its workflows (all of them in use).
        slot = w // len(projects)
        share = max(1, len(own_keys) // per_project)
        keys = tuple(own_keys[(slot * share + j) % len(own_keys)] for j in range(share))
        workflows.append(
            _Workflow(
                project=project,
                name=f"{project}/wf-{w:02d}",
                features=features,
                agent=f"agent-{(w // 2) % shape.agents:02d}" if w % 2 == 0 else None,
                keys=keys,
                model=model,
                fallback=fallback,
                pricier=5 if w == 1 else model,  # claude-opus-4: the week's top driver
                embeddings=model == embedding,
                input_scale=rng.uniform(0.3, 3.0),
            )
        )
    return workflows


class Synth:
    """An endless, chronological source of plausible call records."""

    def __init__(self, shape: Shape | None = None, *, seed: int = 0) -> None:
        self.shape = shape or Shape()
        self._rng = random.Random(seed)
        self._workflows = _build(self.shape, self._rng)
        # Zipf-like weights: a few heavy workflows, a long tail.
        self._wf_weights = [1 / (i + 1) ** 0.8 for i in range(len(self._workflows))]

    def records(
        self, n: int, *, start: float, end: float, growth: float = 0.5
    ) -> Iterator[CallRecord]:
        """``n`` records over [start, end); the rate rises linearly by ``growth`` (0.5 = +50%)."""
        rng = self._rng
        span = end - start
        shape = self.shape
        last_week = end - 7 * 86_400
        wf_pick = rng.choices(self._workflows, weights=self._wf_weights, k=min(n, 1 << 16))
        for i in range(n):
            # Inverse CDF of a linearly rising rate, at evenly spaced quantiles (chronological).
            u = (i + 0.5) / n
            x = u if growth == 0 else (-1 + math.sqrt(1 + growth * (2 + growth) * u)) / growth
            t = start + span * x
            wf = wf_pick[i % len(wf_pick)] if i % 7 else rng.choice(self._workflows)
            yield self._record(i, t, wf, shape, last_week)

    def _record(
        self, i: int, t: float, wf: _Workflow, shape: Shape, last_week: float
    ) -> CallRecord:
        rng = self._rng
        roll = rng.random()
        status: CallStatus = "ok"
        if roll < shape.error_rate:
            status = "error"
        elif roll < shape.error_rate + 0.004:
            status = "rejected"
        elif roll < shape.error_rate + 0.008:
            status = "cancelled"
        attempts = 1 if rng.random() > 0.04 else rng.choice((2, 2, 3))
        model_i = wf.pricier if t >= last_week else wf.model
        if attempts > 1 and rng.random() < 0.5 and not wf.embeddings:
            model_i = wf.fallback
        provider, model, p_in, p_out = MODELS[model_i]
        key_id, env = wf.keys[i % len(wf.keys)]
        attributed = rng.random() >= shape.unattributed_rate
        user_rank = int(shape.users * rng.random() ** 2.5)  # long tail of light users
        in_tok = 0 if status == "rejected" else int(rng.lognormvariate(6.5, 1.0) * wf.input_scale)
        out_tok = 0 if status != "ok" or wf.embeddings else int(rng.lognormvariate(5.0, 0.8))
        cached = in_tok // 2 if rng.random() < 0.3 else 0
        cost: int | None = None
        if p_in is not None and p_out is not None:
            cost = in_tok * p_in + out_tok * p_out
        latency = 0.0 if status == "rejected" else rng.lognormvariate(6.8, 0.6)
        return CallRecord(
            id=f"{int(t * 1000):013d}{i:013d}",
            started_at=t,
            ended_at=t + latency / 1000,
            latency_ms=latency,
            status=status,
            http_status={"ok": 200, "error": 502, "rejected": 429, "cancelled": 499}[status],
            operation="embeddings" if wf.embeddings else "chat",
            alias=wf.name.split("/")[0] + "-default",
            trace_id=f"{i:032x}",
            ttft_ms=latency / 4 if status == "ok" else None,
            error_class="UpstreamStatusError" if status == "error" else None,
            error_message="upstream answered 502" if status == "error" else None,
            stream=i % 3 == 0,
            project=wf.project if attributed else "default",
            workflow=wf.name if attributed else None,
            feature=wf.features[i % len(wf.features)] if attributed else None,
            agent=wf.agent if attributed else None,
            session=f"s-{i // 20:08d}" if wf.agent else None,
            user=f"user-{user_rank:05d}",
            environment=env,
            tags={"team": wf.project} if i % 4 == 0 else {},
            attributed=attributed,
            key_id=key_id,
            provider=provider if status != "rejected" else None,
            deployment=f"{provider}/{model}" if status != "rejected" else None,
            served_model=model if status != "rejected" else None,
            # OpenAI's answers carry a system fingerprint; the others' have no such field.
            fingerprint=f"fp_{model_i:010x}"
            if provider == "openai" and status != "rejected"
            else None,
            attempts=0 if status == "rejected" else attempts,
            upstream_request_id=f"req-{i:012x}" if status == "ok" else None,
            input_tokens=in_tok,
            output_tokens=out_tok,
            cached_input_tokens=cached,
            reasoning_tokens=out_tok // 3 if model.startswith("o3") else 0,
            tokens_estimated=i % 50 == 0,
            cost_nanousd=cost,
            price_ref=f"catalog:{model}" if cost is not None else None,
        )

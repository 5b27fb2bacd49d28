"""Simulated apps calling the gateway over real HTTP, each with its own attribution and shape:

* support bot (project ``support``): triage on gpt-4o-mini, streamed answers on gpt-4o
* RAG search (project ``search``): an embedding, then an answer grounded in retrieved passages
* nightly batch agent (project ``batch``): multi-step tool-calling runs, one session per run
* review replies (project ``reviews``): a reply to each new product review, on Claude -- the
  model that is silently changed midway
* an ad-hoc script with no attribution (counted as unattributed)
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_orders",
        "description": "Look up a customer's recent orders",
        "parameters": {
            "type": "object",
            "properties": {"customer_id": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["customer_id"],
        },
    },
}
PASSAGE = (
    "Refunds are issued to the original payment method within 5 business days. "
    "Orders shipped internationally may take up to 14 days. "
)


#: Error types that are a rule saying no (a kill switch, a budget, a rate limit), not a failure.
POLICY_ERRORS = frozenset(
    {"feature_disabled", "budget_exceeded", "rate_limited", "permission_error"}
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One call as an app saw it."""

    #: When it was sent (Unix seconds).
    at: float
    model: str
    latency_ms: float
    #: The HTTP status (0: no answer, the connection failed or timed out).
    status: int
    #: The error body's ``type``, or the exception's name; "" when it succeeded.
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def failed(self) -> bool:
        """An error the app had to handle that no rule asked for (a refusal is not a failure)."""
        return not self.ok and self.error not in POLICY_ERRORS


@dataclass
class AppStats:
    name: str
    project: str
    calls: int = 0
    errors: int = 0
    tokens: int = 0
    last_error: str = ""
    disabled: bool = False
    samples: list[Sample] = field(default_factory=list)

    def p50_ms(self) -> float:
        recent = sorted(s.latency_ms for s in self.samples[-200:] if s.ok)
        return recent[len(recent) // 2] if recent else 0.0


class Client:
    """A tiny OpenAI-wire client over aiohttp that records what each app saw."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url

    async def call(
        self, stats: AppStats, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        at, t0 = time.time(), time.perf_counter()
        stats.calls += 1
        model = str(body.get("model", ""))

        def sample(status: int, error: str = "") -> Sample:
            ms = (time.perf_counter() - t0) * 1000
            return Sample(at, model, ms, status, error)

        try:
            async with self._session.post(
                self._base + path, data=orjson.dumps(body), headers=headers
            ) as resp:
                if body.get("stream"):
                    data: dict[str, Any] | None = await _read_stream(resp, stats)
                else:
                    data = orjson.loads(await resp.read())
                if resp.status != 200:
                    kind = str((data or {}).get("error", {}).get("type", ""))
                    stats.errors += 1
                    stats.last_error = f"{resp.status} {kind}"
                    stats.samples.append(sample(resp.status, kind))
                    # A switched-off feature degrades gracefully: the app pauses, not hammers.
                    stats.disabled = resp.status == 403
                    return None
        except (TimeoutError, aiohttp.ClientError) as exc:
            stats.errors += 1
            stats.last_error = type(exc).__name__
            stats.samples.append(sample(0, type(exc).__name__))
            return None
        stats.samples.append(sample(200))
        usage = (data or {}).get("usage") or {}
        stats.tokens += int(usage.get("total_tokens") or 0)
        return data


async def _read_stream(resp: aiohttp.ClientResponse, stats: AppStats) -> dict[str, Any]:
    if resp.status != 200:
        return orjson.loads(await resp.read())  # type: ignore[no-any-return]
    usage: dict[str, Any] = {}
    async for line in resp.content:
        if line.startswith(b"data: {"):
            chunk = orjson.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
    return {"usage": usage}


def _headers(project: str | None, **fields: str) -> dict[str, str]:
    h = {"content-type": "application/json"}
    if project:
        h["X-Daytwo-Project"] = project
    for key, value in fields.items():
        h[f"X-Daytwo-{key.capitalize()}"] = value
    return h


async def support_bot(client: Client, stats: AppStats, rng: random.Random) -> None:
    user = f"customer-{rng.randint(1, 60)}"
    session = f"chat-{rng.randint(1, 10_000)}"
    q = rng.choice(["Where is my order?", "I want a refund", "How do I reset my password?"])
    await client.call(
        stats,
        "/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Classify the ticket: billing, shipping, account."},
                {"role": "user", "content": q},
            ],
            "max_tokens": 12,
        },
        _headers(
            "support", workflow="triage", feature="ticket-classifier", user=user, session=session
        ),
    )
    await client.call(
        stats,
        "/chat/completions",
        {
            # prompts as code: the system prompt is the gateway's `support-reply` (production)
            "model": "prompt:support-reply",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [],
            "variables": {"topic": q, "shop": "daytwo's shop"},
        },
        _headers("support", workflow="answer", feature="chat-reply", user=user, session=session),
    )


async def rag_search(client: Client, stats: AppStats, rng: random.Random) -> None:
    query = rng.choice(["refund policy", "international shipping", "warranty claims"])
    hdrs = _headers("search", workflow="rag", feature="semantic-search", environment="prod")
    await client.call(
        stats, "/embeddings", {"model": "text-embedding-3-small", "input": query}, hdrs
    )
    context = PASSAGE * rng.randint(4, 12)
    await client.call(
        stats,
        "/chat/completions",
        {
            "model": "gemini-flash",
            "messages": [
                {"role": "system", "content": f"Answer from these passages:\n{context}"},
                {"role": "user", "content": query},
            ],
        },
        hdrs,
    )


async def batch_agent(client: Client, stats: AppStats, rng: random.Random) -> None:
    session = f"nightly-{rng.randint(1, 1_000_000)}"
    hdrs = _headers("batch", workflow="nightly-digest", agent="summarizer", session=session)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Summarise each customer's week."},
        {"role": "user", "content": f"Customer {rng.randint(1, 500)}"},
    ]
    for _ in range(rng.randint(2, 5)):
        data = await client.call(
            stats,
            "/chat/completions",
            {
                "model": "claude-sonnet",
                "messages": messages,
                "tools": [LOOKUP_TOOL],
                "max_tokens": 400,
            },
            hdrs,
        )
        if data is None:
            return
        msg = data["choices"][0]["message"]
        messages.append(msg)
        for call in msg.get("tool_calls") or []:
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": '{"orders": 3}'}
            )
        if not msg.get("tool_calls"):
            return


REVIEW_TOPICS = ("late delivery", "great quality", "wrong size", "broken zip", "fast refund")


async def review_replies(client: Client, stats: AppStats, rng: random.Random) -> None:
    """One reply to one product review: every review is another question (the simulator's
    refusals are drawn per question)."""
    review = rng.randint(1, 10_000_000)
    await client.call(
        stats,
        "/chat/completions",
        {
            "model": "claude-sonnet",
            "messages": [
                {"role": "system", "content": "Draft a short, friendly reply to the review."},
                {
                    "role": "user",
                    "content": f"Review #{review} ({rng.choice(REVIEW_TOPICS)}): "
                    f"{rng.randint(1, 5)} stars.",
                },
            ],
            "max_tokens": 60,
        },
        _headers("reviews", workflow="reply", feature="review-replies"),
    )


async def adhoc_script(client: Client, stats: AppStats, rng: random.Random) -> None:
    await client.call(
        stats,
        "/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "quick question"}]},
        _headers(None),
    )


#: How long an app waits after daytwo said its feature is switched off (403 feature_disabled).
DISABLED_PAUSE_S = 2.0

AppFn = Callable[[Client, AppStats, random.Random], Awaitable[None]]

#: name, project, app, concurrent workers, pause between runs (seconds)
APPS: list[tuple[str, str, AppFn, int, float]] = [
    ("support bot", "support", support_bot, 4, 0.2),
    ("RAG search", "search", rag_search, 3, 0.15),
    ("nightly batch agent", "batch", batch_agent, 2, 0.1),
    ("review replies", "reviews", review_replies, 8, 0.05),
    ("ad-hoc script", "default", adhoc_script, 1, 1.0),
]


async def drive(base_url: str, seconds: float, stats: list[AppStats], seed: int = 0) -> None:
    """Run every app's workers against ``base_url`` for ``seconds``."""
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = Client(session, base_url)

        async def worker(app: AppFn, st: AppStats, pause: float, rng: random.Random) -> None:
            while time.monotonic() < deadline:
                st.disabled = False
                await app(client, st, rng)
                await asyncio.sleep(
                    DISABLED_PAUSE_S if st.disabled else pause * rng.uniform(0.5, 1.5)
                )

        tasks = []
        by_name = {s.name: s for s in stats}
        for i, (name, _, app, workers, pause) in enumerate(APPS):
            for w in range(workers):
                rng = random.Random(seed * 1000 + i * 10 + w)
                tasks.append(worker(app, by_name[name], pause, rng))
        await asyncio.gather(*tasks)


def new_stats() -> list[AppStats]:
    return [AppStats(name, project) for name, project, *_ in APPS]

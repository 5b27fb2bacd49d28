"""The incident demo's support app: customers' questions sent to ``prompt:support-reply``
with variables over real HTTP, as long as the incident lasts, and what the app saw of each
answer -- its status, its error type, and the ``x-daytwo-degraded`` header of a degraded one.

The questions come from a fixed pool (:data:`TOPICS`): customers ask the same things, which is
what gives the response cache (and so degraded ``cached`` mode) answers to give, while the
pool is large enough that a refusal rate is measured over many different questions (the
simulator decides each question's fate by its hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp
import orjson

from daytwo.demo.incident_config import PROJECT, PROMPT, WORKFLOW

_ISSUES = (
    "arrived broken",
    "never arrived",
    "is the wrong size",
    "was charged twice",
    "cannot be returned online",
    "shows the wrong address",
    "came without a manual",
    "stopped working after a week",
    "is missing a part",
    "was delivered to a neighbour",
    "has a scratch on the screen",
    "was cancelled without notice",
)
_ITEMS = (
    "kettle",
    "running shoes",
    "desk lamp",
    "phone case",
    "backpack",
    "coffee grinder",
    "winter jacket",
    "headphones",
    "yoga mat",
    "blender",
    "camera strap",
    "office chair",
    "water bottle",
    "toaster",
    "rain boots",
)
#: Every question a customer asks: 180 of them.
TOPICS = tuple(f"My {item} {issue}. What can I do?" for issue in _ISSUES for item in _ITEMS)
SHOP = "daytwo's shop"
#: Workers calling at once, and the pause between one's calls (seconds).
WORKERS = 4
#: The shop's customers asking (the ledger's ``user``: the postmortem counts those affected).
CUSTOMERS = 300
PAUSE_S = 0.04


@dataclass(frozen=True, slots=True)
class Seen:
    """One answer as the app saw it."""

    #: When it was sent (Unix seconds).
    at: float
    status: int
    #: The error body's ``type`` (or the exception's name); "" when answered.
    error: str = ""
    #: How a degraded answer was made (``static``, ``cached``), from ``x-daytwo-degraded``.
    degraded: str | None = None


@dataclass
class SupportApp:
    """The app's workers and everything they saw."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stop.set()

    def since(self, start: float) -> list[Seen]:
        return [s for s in self.seen if s.at >= start]

    async def run(self, seed: int = 0) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(
                *(self._worker(session, random.Random(seed * 100 + w)) for w in range(WORKERS))
            )

    async def _worker(self, session: aiohttp.ClientSession, rng: random.Random) -> None:
        while not self._stop.is_set():
            customer = f"customer-{rng.randint(1, CUSTOMERS)}"
            self.seen.append(await self._ask(session, rng.choice(TOPICS), customer))
            with contextlib.suppress(TimeoutError):  # the pause, cut short by stop()
                await asyncio.wait_for(self._stop.wait(), PAUSE_S * rng.uniform(0.5, 1.5))

    async def _ask(self, session: aiohttp.ClientSession, topic: str, customer: str) -> Seen:
        body = {
            "model": f"prompt:{PROMPT}",
            "messages": [],
            "variables": {"topic": topic, "shop": SHOP},
        }
        headers = {
            "content-type": "application/json",
            "x-daytwo-project": PROJECT,
            "x-daytwo-workflow": WORKFLOW,
            "x-daytwo-feature": "chat-reply",
            "x-daytwo-user": customer,
        }
        at = time.time()
        try:
            async with session.post(
                f"{self.url}/v1/chat/completions", data=orjson.dumps(body), headers=headers
            ) as resp:
                raw = await resp.read()
                degraded = resp.headers.get("x-daytwo-degraded")
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Seen(at, 0, type(exc).__name__)
        if status != 200:
            return Seen(at, status, _error_type(raw))
        how = degraded.partition(";")[0].strip() if degraded else None
        return Seen(at, status, degraded=how)


def _error_type(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "unreadable"
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


@dataclass(frozen=True, slots=True)
class Tally:
    """What the app saw over a span: answers, degraded answers by how, refusals by rule
    (403), other failures."""

    calls: int
    answered: int
    degraded: dict[str, int]
    forbidden: int
    failed: int

    @property
    def degraded_total(self) -> int:
        return sum(self.degraded.values())


def tally(seen: Iterable[Seen]) -> Tally:
    calls = answered = forbidden = failed = 0
    degraded: dict[str, int] = {}
    for s in seen:
        calls += 1
        if s.status == 200:
            answered += 1
            if s.degraded is not None:
                degraded[s.degraded] = degraded.get(s.degraded, 0) + 1
        elif s.status == 403:
            forbidden += 1
        else:
            failed += 1
    return Tally(calls, answered, dict(sorted(degraded.items())), forbidden, failed)

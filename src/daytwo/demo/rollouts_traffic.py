"""The rollouts demo's two apps, calling the gateway over real HTTP for as long as the story
lasts: the helpdesk's ticket triage (alias ``smart``, workflow ``triage``) and the support
app (``prompt:support-reply``, workflow ``answer``).

Each worker plays conversations: a new session (``x-daytwo-session``) of one to
:data:`MAX_TURNS` calls, so a rollout's sticky split by session sees many sessions, and each
session stays on one arm. Questions come from fixed pools large enough that a refusal rate
is measured over many different questions (the simulator decides each one's fate by its
hash).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from daytwo.demo.incident_config import PROMPT
from daytwo.demo.incident_traffic import SHOP, TOPICS
from daytwo.demo.rollouts_config import (
    CONTROL_ALIAS,
    SUPPORT_PROJECT,
    SUPPORT_WORKFLOW,
    TRIAGE_PROJECT,
    TRIAGE_WORKFLOW,
)

_SYSTEMS = (
    "payments",
    "the mobile app",
    "login",
    "search",
    "checkout",
    "the warehouse scanner",
    "invoices",
    "notifications",
    "the partner API",
    "shipping labels",
    "the admin console",
    "data exports",
)
_SYMPTOMS = (
    "has been failing since this morning",
    "is slow for every customer",
    "shows the wrong currency",
    "times out for a few users",
    "returns an empty page",
    "sends duplicate emails",
    "rejects valid passwords",
    "logs people out at random",
    "charges the wrong amount",
    "crashes when a filter is set",
    "lost yesterday's data",
    "ignores the new settings",
    "is down in Europe only",
    "shows another user's name",
    "refuses uploads over 1 MB",
)
#: Every ticket the helpdesk triages: 180 of them.
TICKETS = tuple(f"Ticket: {s} {p}." for s in _SYSTEMS for p in _SYMPTOMS)
TRIAGE_SYSTEM = (
    "You triage helpdesk tickets. Answer with the team that owns it, a priority from P1 to P4 "
    "and one sentence of reasoning."
)
#: Workers of each app, calls per session at most, and the pause between calls (seconds).
WORKERS = 4
MAX_TURNS = 3
PAUSE_S = 0.03


@dataclass(frozen=True, slots=True)
class Seen:
    """One answer as the app saw it."""

    at: float
    status: int
    #: The error body's ``type`` (or the exception's name); "" when answered.
    error: str = ""


def triage_body(rng: random.Random) -> dict[str, Any]:
    return {
        "model": CONTROL_ALIAS,
        "messages": [
            {"role": "system", "content": TRIAGE_SYSTEM},
            {"role": "user", "content": rng.choice(TICKETS)},
        ],
    }


def support_body(rng: random.Random) -> dict[str, Any]:
    return {
        "model": f"prompt:{PROMPT}",
        "messages": [],
        "variables": {"topic": rng.choice(TOPICS), "shop": SHOP},
    }


@dataclass
class App:
    """One app's workers and everything they saw."""

    name: str
    url: str
    project: str
    workflow: str
    body: Callable[[random.Random], dict[str, Any]]
    seed: int = 0
    seen: list[Seen] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    #: Sessions started so far.
    sessions: int = 0

    def stop(self) -> None:
        self._stop.set()

    def since(self, start: float) -> list[Seen]:
        return [s for s in self.seen if s.at >= start]

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(
                *(self._worker(session, random.Random(self.seed * 100 + w)) for w in range(WORKERS))
            )

    async def _worker(self, http: aiohttp.ClientSession, rng: random.Random) -> None:
        while not self._stop.is_set():
            self.sessions += 1
            session = f"{self.name}-{self.sessions}"
            for _ in range(rng.randint(1, MAX_TURNS)):
                if self._stop.is_set():
                    return
                self.seen.append(await self._ask(http, rng, session))
                with contextlib.suppress(TimeoutError):  # the pause, cut short by stop()
                    await asyncio.wait_for(self._stop.wait(), PAUSE_S * rng.uniform(0.5, 1.5))

    async def _ask(self, http: aiohttp.ClientSession, rng: random.Random, session: str) -> Seen:
        headers = {
            "content-type": "application/json",
            "x-daytwo-project": self.project,
            "x-daytwo-workflow": self.workflow,
            "x-daytwo-session": session,
        }
        at = time.time()
        try:
            async with http.post(
                f"{self.url}/v1/chat/completions",
                data=orjson.dumps(self.body(rng)),
                headers=headers,
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Seen(at, 0, type(exc).__name__)
        return Seen(at, status, "" if status == 200 else _error_type(raw))


def triage_app(url: str) -> App:
    return App("triage", url, TRIAGE_PROJECT, TRIAGE_WORKFLOW, triage_body, seed=1)


def support_app(url: str) -> App:
    return App("support", url, SUPPORT_PROJECT, SUPPORT_WORKFLOW, support_body, seed=2)


def _error_type(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "unreadable"
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("type", "")) if isinstance(error, dict) else ""


def failures(seen: Iterable[Seen]) -> dict[str, int]:
    """Calls not answered, by error type (empty: every call answered)."""
    out: dict[str, int] = {}
    for s in seen:
        if s.status != 200:
            key = f"{s.status} {s.error}".strip()
            out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))

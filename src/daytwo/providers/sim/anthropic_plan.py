"""What the simulator's Anthropic door models beyond the format-neutral engine: prompt caching
and extended thinking, decided per request from the Messages body (pure, deterministic).

* **Prompt caching.** The cacheable prefix runs, in Anthropic's order ``tools`` → ``system`` →
  ``messages``, up to the last block carrying ``cache_control`` (or to the end of ``messages``
  with a top-level ``cache_control``, Anthropic's automatic caching). The first request with a
  prefix writes it (``cache_creation_input_tokens``); a later one with the same prefix and model
  reads it (``cache_read_input_tokens``); ``input_tokens`` is what is left. Unlike Anthropic
  there is no minimum prefix length and no expiry (a simulator lives minutes).
* **Thinking.** ``thinking: {type: enabled, budget_tokens}`` or ``{type: adaptive}`` gives a
  ``thinking`` block of prose before the answer, never longer than the budget, with a signature;
  ``display: omitted`` leaves its text empty. Thinking counts as output (and in
  ``output_tokens_details.thinking_tokens``) and inside ``max_tokens``, as Anthropic counts it.

The same seed and the same requests give the same caches, thinking and signatures.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from random import Random
from typing import Any

import orjson

from daytwo.core.tokens import tokens_for_chars
from daytwo.providers.sim.fakedata import prose_pieces

#: Prefixes the simulator remembers (oldest forgotten first).
MAX_CACHED_PREFIXES = 10_000
#: Thinking length (tokens) when the budget allows: a deterministic draw in this range.
THINKING_TOKENS = (24, 64)


@dataclass(frozen=True, slots=True)
class Thinking:
    pieces: tuple[str, ...]
    tokens: int
    signature: str
    shown: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces) if self.shown else ""


@dataclass(frozen=True, slots=True)
class Plan:
    """One Messages request's cache use and thinking."""

    prefix_key: str | None = None
    prefix_tokens: int = 0
    cache_hit: bool = False
    thinking: Thinking | None = None

    def usage(self, input_tokens: int, output_tokens: int) -> dict[str, Any]:
        """Anthropic ``usage`` for an answer whose whole input is ``input_tokens`` and whose
        text/tool output is ``output_tokens`` (thinking is added here)."""
        cached = min(self.prefix_tokens, input_tokens)
        read, write = (cached, 0) if self.cache_hit else (0, cached)
        thinking = self.thinking.tokens if self.thinking is not None else 0
        usage: dict[str, Any] = {
            "input_tokens": input_tokens - cached,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": output_tokens + thinking,
            "service_tier": "standard",
        }
        if self.thinking is not None:
            usage["output_tokens_details"] = {"thinking_tokens": thinking}
        return usage


class PromptCache:
    """The prefixes this simulator has seen (per server: every replica of a real provider
    shares its cache, and so do all requests to one simulator)."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._seen

    def add(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_CACHED_PREFIXES:
            self._seen.popitem(last=False)


def plan(body: dict[str, Any], cache: PromptCache, seed: int) -> Plan:
    """The plan of a (checked) Messages body."""
    key, tokens = _prefix(body)
    return Plan(
        prefix_key=key,
        prefix_tokens=tokens,
        cache_hit=key is not None and key in cache,
        thinking=_thinking(body, seed),
    )


def _units(body: dict[str, Any]) -> list[tuple[Any, int, bool]]:
    """The request's cacheable units in Anthropic's order: (unit, characters, breakpoint)."""
    out: list[tuple[Any, int, bool]] = []
    for tool in body.get("tools") or ():
        out.append((tool, len(orjson.dumps(tool)), _marked(tool)))
    system = body.get("system")
    if isinstance(system, str):
        out.append((system, len(system), False))
    elif isinstance(system, list):
        out.extend((b, _chars(b), _marked(b)) for b in system)
    for msg in body.get("messages") or ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str):
            out.append(((msg.get("role"), content), len(content), False))
        elif isinstance(content, list):
            out.extend(((msg.get("role"), b), _chars(b), _marked(b)) for b in content)
    return out


def _marked(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("cache_control"), dict)


def _chars(block: Any) -> int:
    if isinstance(block, dict) and isinstance(block.get("text"), str):
        return len(block["text"])
    return len(orjson.dumps(block))


def _prefix(body: dict[str, Any]) -> tuple[str | None, int]:
    units = _units(body)
    marks = [i for i, (_, _, marked) in enumerate(units) if marked]
    if isinstance(body.get("cache_control"), dict) and units:
        marks.append(len(units) - 1)
    if not marks:
        return None, 0
    prefix = units[: max(marks) + 1]
    digest = hashlib.sha256(str(body.get("model")).encode())
    for unit, _, _ in prefix:
        digest.update(orjson.dumps(unit, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest(), tokens_for_chars(sum(chars for _, chars, _ in prefix))


def _thinking(body: dict[str, Any], seed: int) -> Thinking | None:
    config = body.get("thinking")
    if not isinstance(config, dict) or config.get("type") not in ("enabled", "adaptive"):
        return None
    limit = body.get("max_tokens")
    room = limit - 1 if isinstance(limit, int) and limit > 1 else 1
    budget = config.get("budget_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool):
        room = min(room, budget)
    digest = hashlib.sha256(orjson.dumps(body.get("messages"), option=orjson.OPT_SORT_KEYS))
    rng = Random(f"{seed}/thinking/{digest.hexdigest()}")
    tokens = min(room, rng.randint(*THINKING_TOKENS))
    pieces = tuple(prose_pieces(rng, tokens))
    signature = "sig_" + hashlib.sha256("".join(pieces).encode()).hexdigest()[:48]
    return Thinking(pieces, tokens, signature, shown=config.get("display") != "omitted")

"""What the doors that answer in another format than OpenAI's (Anthropic Messages, the
Responses API) share when they encode an OpenAI-shaped answer: reading a ``chat.completion``'s
first choice, and reading ``chat.completion.chunk`` dicts for a per-call stream encoder.

Both doors give one answer per call (the first choice), frame events as ``event: <type>`` +
``data: <json>``, take usage from the upstream's usage chunk (cache writes included: see
:func:`~daytwo.providers.openai_wire.usage_from_openai`), and count the text relayed for when
the upstream reports no usage.
"""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.core.types import StreamChunk, Usage
from daytwo.providers.openai_wire import usage_from_openai


def sse_event(data: dict[str, Any]) -> bytes:
    """One event, named after its ``type``."""
    kind: str = data["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def first_choice(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ``chat.completion``'s first choice and its message (empty when missing or malformed:
    an answer the door encodes as it can rather than fail after the upstream was paid)."""
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    msg = choice.get("message")
    return choice, msg if isinstance(msg, dict) else {}


class ChunkEncoder:
    """The bookkeeping of a door's stream encoder: ``chat.completion.chunk`` dicts in, the
    door's events out. :meth:`chunk` starts the answer on the first chunk, keeps the usage,
    and hands the first choice's text, tool-call deltas and finish to the subclass's hooks;
    ``_chars`` counts the text and arguments relayed."""

    def __init__(self) -> None:
        self._started = False
        self._usage: Usage | None = None
        self._chars = 0

    def _start(self, data: dict[str, Any]) -> bytes:
        """The answer's opening events, from its first chunk (``{}`` when there was none)."""
        raise NotImplementedError

    def _text(self, text: str) -> bytes:
        raise NotImplementedError

    def _tool(self, call: dict[str, Any]) -> bytes:
        """One tool-call delta (``index``; ``id`` and ``name`` first, then arguments)."""
        raise NotImplementedError

    def _on_finish(self, choice: dict[str, Any]) -> None:
        """The choice that carries the answer's ``finish_reason``."""
        raise NotImplementedError

    def _opening(self, data: dict[str, Any]) -> bytes:
        return b"" if self._started else self._start(data)

    def chunk(self, chunk: StreamChunk) -> bytes:
        data = chunk.data
        out = self._opening(data)
        usage = usage_from_openai(data.get("usage"))
        if usage is not None:
            self._usage = usage
        for choice in (data.get("choices") or ())[:1]:  # one answer per call
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                self._chars += len(text)
                out += self._text(text)
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    out += self._tool(call)
            if choice.get("finish_reason") is not None:
                self._on_finish(choice)
        return out

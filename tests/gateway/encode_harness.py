"""What the door encoders' tests share (tests/gateway/test_anthropic_encode.py,
test_responses_encode.py): OpenAI-shaped input, and the reading of the SSE events that come out.

Input chunks follow OpenAI's Chat streaming reference
(https://platform.openai.com/docs/api-reference/chat-streaming/streaming): a role delta, content
deltas, tool-call deltas (``index``, ``id`` and ``name`` first, then argument fragments), a chunk
with ``finish_reason``, then the usage chunk with empty ``choices``. Complete answers follow the
``chat.completion`` object (https://platform.openai.com/docs/api-reference/chat/object).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from daytwo.core.types import StreamChunk


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> StreamChunk:
    """A ``chat.completion.chunk`` with one choice (``extra``: more fields of the choice)."""
    choice = {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
    data = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [{**choice, **extra}],
    }
    return StreamChunk(data=data)


def usage_chunk(prompt: int, completion: int, cached: int = 0) -> StreamChunk:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    return StreamChunk(data={"id": "chatcmpl-abc123", "choices": [], "usage": usage})


def call(index: int, args: str, head: bool = False) -> dict[str, Any]:
    """A tool-call delta of ``get_weather``: its head (``id``, ``name``) or a fragment of its
    arguments."""
    tc: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if head:
        tc.update(id=f"call_{index}", type="function")
        tc["function"]["name"] = "get_weather"
    return {"tool_calls": [tc]}


#: Two calls (the first one's arguments in pieces), the finish and the usage: what follows an
#: answer's text when it calls tools.
TWO_CALLS = [
    chunk(call(0, "", head=True)),
    chunk(call(0, '{"city": ')),
    chunk(call(0, '"Paris"}')),
    chunk(call(1, '{"city": "Oslo"}', head=True)),
    chunk({}, "tool_calls"),
    usage_chunk(30, 12),
]


def completion(msg: dict[str, Any], finish: str, **choice: Any) -> dict[str, Any]:
    """A ``chat.completion`` with one choice (``choice``: more fields of it)."""
    return {
        "id": "chatcmpl-xyz",
        "object": "chat.completion",
        "created": 1_700_000_123,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": msg, "logprobs": None, "finish_reason": finish, **choice}
        ],
    }


def sse_events(raw: bytes, check: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """SSE frames → event dicts; each ``event:`` name must be its data's ``type``, and each
    event passes ``check`` (the official SDK's model of it)."""
    out = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {data['type']}"
        check(data)
        out.append(data)
    return out

"""Writing OpenAI-shaped answers, for the adapters that translate another wire format's
(Anthropic Messages, Gemini, Bedrock Converse); pure functions, no I/O.

The pieces every one of them writes the same way: a ``chat.completion`` with its choices and
assistant message, ``chat.completion.chunk`` dicts (deltas, tool-call deltas, the usage chunk),
an embeddings ``list`` (floats, or base64 little-endian float32 as OpenAI sends them), and the
usage estimated from an answer when the upstream reported none. Shapes follow OpenAI's API
reference (https://platform.openai.com/docs/api-reference/chat/object,
.../chat-streaming/streaming, .../embeddings/object).
"""

from __future__ import annotations

import base64
import sys
import time
from array import array
from typing import Any

from daytwo.core.tokens import estimate_input_tokens, estimate_text_tokens
from daytwo.core.types import Usage
from daytwo.providers.openai_wire import openai_usage


def tool_call(
    call_id: str, name: str, arguments: str, *, index: int | None = None
) -> dict[str, Any]:
    """One OpenAI tool call (in a stream, with the ``index`` its deltas are matched by)."""
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return call if index is None else {"index": index, **call}


def assistant_message(texts: list[str], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """An answer's message: its text (None when it only calls tools) and its tool calls."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return message


def completion_choice(message: dict[str, Any], finish: str, index: int = 0) -> dict[str, Any]:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def completion(
    *,
    completion_id: str,
    model: str,
    choices: list[dict[str, Any]],
    usage: Usage | None,
    created: int | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` (``usage`` included when the upstream reported it)."""
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out


def chunk(
    chunk_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish: str | None = None,
    *,
    index: int = 0,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` with one choice's delta."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def usage_chunk(chunk_id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The last chunk of a stream whose client asked for usage: no choices, the counts."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": openai_usage(usage),
    }


def estimate_usage(request: dict[str, Any], answer: dict[str, Any]) -> Usage:
    """Usage counted from a request and its ``chat.completion`` when the upstream reported
    none (flagged estimated): every choice's text and tool-call arguments."""
    out = 0
    for choice in answer.get("choices") or ():
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict):
            if isinstance(msg.get("content"), str):
                out += estimate_text_tokens(msg["content"])
            for call in msg.get("tool_calls") or ():
                fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                out += estimate_text_tokens(str(fn.get("arguments", "")))
    return Usage(input_tokens=estimate_input_tokens(request), output_tokens=out, estimated=True)


def usage_or_estimate(
    request: dict[str, Any], answer: dict[str, Any], usage: Usage | None
) -> Usage:
    """The usage the upstream reported, or (when it reported none) the estimate, which is
    then written into ``answer`` too."""
    if usage is None:
        usage = estimate_usage(request, answer)
        answer["usage"] = openai_usage(usage)
    return usage


def base64_floats(values: list[float]) -> str:
    """A vector as base64 little-endian float32, as OpenAI sends it (and its SDK's default
    asks for)."""
    vec = array("f", values)
    if sys.byteorder == "big":
        vec.byteswap()
    return base64.b64encode(vec.tobytes()).decode("ascii")


def embeddings_list(
    vectors: list[list[float]], *, model: str, input_tokens: int, base64_out: bool
) -> dict[str, Any]:
    """An embeddings answer: one ``embedding`` object per vector, in input order."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64_floats(vec) if base64_out else vec,
        }
        for i, vec in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    }

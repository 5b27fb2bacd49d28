"""Captured content: a call's messages and answer in the GenAI conventions' JSON shape.

``gen_ai.input.messages`` and ``gen_ai.output.messages`` are recorded on the call span as JSON
strings (the conventions allow that where structured attribute values are not supported, and
most trace backends read them so). The shape follows the conventions' message schemas::

    [{"role": "user", "parts": [{"type": "text", "content": "..."}]},
     {"role": "assistant", "parts": [{"type": "tool_call", "id": "...", "name": "...",
                                      "arguments": {...}}]},
     {"role": "tool", "parts": [{"type": "tool_call_response", "id": "...", "response": "..."}]}]

Media parts (images, audio, files) are recorded by their type only: their bytes are large and
not what a trace is for. Every string passes the redactor first; then strings are shortened,
and if the whole attribute is still over :data:`MAX_ATTRIBUTE_BYTES`, the oldest messages are
dropped (the conventions allow truncation; the order of what remains is kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson

#: The most one content attribute may hold, bytes of JSON.
MAX_ATTRIBUTE_BYTES = 16 * 1024
#: Successive per-string caps tried (characters) before messages are dropped.
_CAPS = (None, 4096, 1024, 256, 64)
_MARK = "…[truncated]"

Json = Any
Redact = Callable[[str], str]


def input_messages(request: dict[str, Any]) -> list[dict[str, Json]] | None:
    """The request's chat history in the conventions' shape (None: not a chat request)."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return None
    out = []
    for msg in messages:
        if isinstance(msg, dict):
            out.append({"role": str(msg.get("role", "user")), "parts": _parts(msg)})
    return out


def output_messages(answer: dict[str, Any]) -> list[dict[str, Json]] | None:
    """One message per choice of a ``chat.completion`` answer (None: not a chat answer)."""
    choices = answer.get("choices")
    if not isinstance(choices, list):
        return None
    out = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        msg = choice.get("message")
        msg = msg if isinstance(msg, dict) else {}
        out.append(
            {
                "role": str(msg.get("role") or "assistant"),
                "parts": _parts(msg),
                "finish_reason": str(choice.get("finish_reason") or ""),
            }
        )
    return out


def _parts(msg: dict[str, Any]) -> list[dict[str, Json]]:
    parts: list[dict[str, Json]] = []
    content = msg.get("content")
    if msg.get("role") == "tool":
        return [{"type": "tool_call_response", "id": msg.get("tool_call_id"), "response": content}]
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = str(part.get("type", ""))
            if kind == "text":
                parts.append({"type": "text", "content": part.get("text", "")})
            else:
                parts.append({"type": kind or "unknown"})
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "content": refusal})
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                parts.append(_tool_call(call))
    return parts


def _tool_call(call: dict[str, Any]) -> dict[str, Json]:
    fn = call.get("function")
    fn = fn if isinstance(fn, dict) else {}
    args = fn.get("arguments")
    if isinstance(args, str):
        # The conventions want the arguments as an object: parse the string OpenAI sends.
        with contextlib.suppress(orjson.JSONDecodeError):
            args = orjson.loads(args)
    return {"type": "tool_call", "id": call.get("id"), "name": fn.get("name"), "arguments": args}


def serialize(messages: list[dict[str, Json]], redact: Redact) -> tuple[str, bool]:
    """The redacted messages as one JSON string of at most :data:`MAX_ATTRIBUTE_BYTES`, and
    whether anything was cut to get there."""
    clean = _scrub(messages, redact)
    for cap in _CAPS:
        data = orjson.dumps(_shorten(clean, cap) if cap is not None else clean)
        if len(data) <= MAX_ATTRIBUTE_BYTES:
            return data.decode(), cap is not None
    # Still too big at the smallest cap: many messages. Keep the newest that fit.
    short = _shorten(clean, _CAPS[-1])
    while len(short) > 1:
        short = short[1:]
        data = orjson.dumps(short)
        if len(data) <= MAX_ATTRIBUTE_BYTES:
            return data.decode(), True
    return "[]", True


def _scrub(value: Json, redact: Redact) -> Json:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, redact) for v in value]
    return value


def _shorten(value: Json, cap: int) -> Json:
    if isinstance(value, str):
        return value if len(value) <= cap else value[:cap] + _MARK
    if isinstance(value, dict):
        return {k: _shorten(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, cap) for v in value]
    return value

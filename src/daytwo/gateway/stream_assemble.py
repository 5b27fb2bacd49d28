"""Between a streamed answer and a whole one, both OpenAI-shaped: :class:`Assembler` folds
``chat.completion.chunk`` events into the ``chat.completion`` they add up to (so a streamed
answer can fill the response cache), and :func:`chunks_of` plays a ``chat.completion`` back as
chunks (so a cached answer can serve a streaming client).

Only what a client sees is kept: text, refusals, tool calls (arguments concatenated by index),
finish reasons, the final usage. The played-back stream is short -- one chunk per choice for
the text, one per tool call, one with the finish reason, and the usage chunk when asked for --
because every client accumulates deltas, however they are cut.
"""

from __future__ import annotations

from typing import Any


class Assembler:
    """Feed every chunk; :meth:`result` is the completion they add up to."""

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        if not self._head:
            self._head = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            acc = self._choices.setdefault(index, {"text": [], "refusal": [], "tools": {}})
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                acc["text"].append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                acc["refusal"].append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                _fold_tool_call(acc["tools"], call)
            if choice.get("finish_reason"):
                acc["finish_reason"] = choice["finish_reason"]

    def result(self) -> dict[str, Any] | None:
        """The completion, or None when the stream never finished a choice."""
        if not self._choices or any("finish_reason" not in c for c in self._choices.values()):
            return None
        choices = []
        for index in sorted(self._choices):
            acc = self._choices[index]
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(acc["text"]) if acc["text"] or not acc["tools"] else None,
            }
            if acc["refusal"]:
                message["refusal"] = "".join(acc["refusal"])
            if acc["tools"]:
                message["tool_calls"] = [acc["tools"][i] for i in sorted(acc["tools"])]
            choices.append(
                {"index": index, "message": message, "finish_reason": acc["finish_reason"]}
            )
        out = {"object": "chat.completion", **self._head, "choices": choices}
        if self._usage is not None:
            out["usage"] = self._usage
        return out


def _fold_tool_call(tools: dict[int, dict[str, Any]], call: Any) -> None:
    if not isinstance(call, dict):
        return
    index = call.get("index", 0)
    fn = call.get("function") or {}
    have = tools.get(index)
    if have is None:
        tools[index] = {
            "id": call.get("id", ""),
            "type": call.get("type", "function"),
            "function": {"name": fn.get("name", ""), "arguments": fn.get("arguments") or ""},
        }
        return
    if call.get("id"):
        have["id"] = call["id"]
    if fn.get("name"):
        have["function"]["name"] = fn["name"]
    have["function"]["arguments"] += fn.get("arguments") or ""


def chunks_of(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """``completion`` as the chunks of a stream (the usage chunk only when asked for)."""
    head = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created", 0),
        "model": completion.get("model", ""),
    }
    out: list[dict[str, Any]] = []
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("refusal"):
            delta["refusal"] = message["refusal"]
        out.append({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        for i, call in enumerate(message.get("tool_calls") or ()):
            tool = {"index": i, **call}
            out.append(
                {
                    **head,
                    "choices": [
                        {"index": index, "delta": {"tool_calls": [tool]}, "finish_reason": None}
                    ],
                }
            )
        out.append(
            {
                **head,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if include_usage and isinstance(completion.get("usage"), dict):
        out.append({**head, "choices": [], "usage": completion["usage"]})
    return out

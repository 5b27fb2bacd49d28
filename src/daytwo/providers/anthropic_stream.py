"""Anthropic Messages stream events → OpenAI ``chat.completion.chunk`` dicts, as they arrive."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

from daytwo.core.errors import UpstreamProtocolError
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import Usage
from daytwo.providers.anthropic_wire import (
    error_from_event,
    finish_reason,
    usage_from_anthropic,
)
from daytwo.providers.chat_answers import chunk, tool_call, usage_chunk
from daytwo.providers.openai_wire import SSEDecoder, parse_json_object, token_count


class StreamTranslator:
    """Anthropic stream events in, OpenAI ``chat.completion.chunk`` dicts out.

    ``usage`` holds what the upstream reported so far (from ``message_start``, updated by
    ``message_delta``); :meth:`usage_so_far` is what a stream cut now is billed. ``done`` turns
    True on ``message_stop``. Unknown event and delta types are skipped, as Anthropic asks
    clients to. HTTP adapters hand the body's bytes to :meth:`feed_bytes` as they arrive and
    call :meth:`end` when it ends; anything malformed raises a ``ProviderError``.
    """

    def __init__(
        self, *, include_usage: bool, redact: Callable[[str], str], created: int | None = None
    ) -> None:
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.served_model: str | None = None
        self.done = False
        self._redact = redact
        self._created = int(time.time()) if created is None else created
        self._id = ""
        self._started = False
        self._finish: str | None = None
        #: content block index → tool call index (OpenAI numbers tool calls from 0)
        self._tools: dict[int, int] = {}
        self._sse = SSEDecoder()
        self._out_chars = 0  # text and tool arguments relayed, for a cut stream's estimate
        self._output_reported = False  # a message_delta gave the (cumulative) output count

    def feed_bytes(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Body bytes, split anywhere → OpenAI chunks; nothing after ``message_stop``."""
        for payload in self._sse.feed(data):
            if self.done:
                return
            yield from self.feed(parse_json_object(payload, "stream event"))

    def end(self) -> Iterator[dict[str, Any]]:
        """The body ended. A last event without its blank line still counts; a stream without
        ``message_stop`` was cut."""
        if not self.done:
            payload = self._sse.end()
            if payload is not None:
                yield from self.feed(parse_json_object(payload, "stream event"))
        if not self.done:
            raise UpstreamProtocolError("upstream stream ended before message_stop")

    def usage_so_far(self) -> Usage | None:
        """What to bill if the stream ended now. ``message_start`` reports the input and a
        placeholder output count; until a ``message_delta`` reports the real one, output is
        counted from the text relayed (at least the placeholder) and flagged estimated."""
        usage = self.usage
        if usage is None or self.done or self._output_reported:
            return usage
        guess = tokens_for_chars(self._out_chars)
        if guess <= usage.output_tokens:
            return usage
        return dataclasses.replace(usage, output_tokens=guess, estimated=True)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self._id, self._created, self.served_model or "", delta, finish)

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """One decoded event → the chunks it yields (often none or one)."""
        kind = data.get("type")
        if kind == "error":
            raise error_from_event(data, self._redact)
        if kind == "message_start":
            return self._message_start(data.get("message"))
        if not self._started:
            if kind == "ping":
                return []
            raise UpstreamProtocolError(f"upstream stream began with `{kind}`, not message_start")
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self.done = True
            if self.include_usage and self.usage is not None:
                model = self.served_model or ""
                return [usage_chunk(self._id, self._created, model, self.usage)]
            return []
        return []  # ping, content_block_stop, and event types added after this was written

    def _message_start(self, msg: Any) -> list[dict[str, Any]]:
        if not isinstance(msg, dict):
            raise UpstreamProtocolError("upstream message_start carries no message")
        self._started = True
        self._id = str(msg.get("id", ""))
        if isinstance(msg.get("model"), str):
            self.served_model = msg["model"]
        self.usage = usage_from_anthropic(msg.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            raise UpstreamProtocolError("upstream content_block_start is malformed")
        if block.get("type") == "tool_use":
            n = self._tools[index] = len(self._tools)
            call = tool_call(str(block.get("id", "")), str(block.get("name", "")), "", index=n)
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            text = str(block["text"])
            self._out_chars += len(text)
            return [self._chunk({"content": text})]
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise UpstreamProtocolError("upstream content_block_delta carries no delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):
                raise UpstreamProtocolError("upstream text_delta carries no text")
            self._out_chars += len(text)
            return [self._chunk({"content": text})] if text else []
        if kind == "thinking_delta":
            # Not translated (Chat Completions has no thinking), but billed as output: a stream
            # cut mid-thought is counted with it.
            thinking = delta.get("thinking")
            self._out_chars += len(thinking) if isinstance(thinking, str) else 0
            return []
        if kind == "input_json_delta":
            index = data.get("index")
            n = self._tools.get(index) if isinstance(index, int) else None
            part = delta.get("partial_json")
            if n is None or not isinstance(part, str):
                raise UpstreamProtocolError("upstream input_json_delta outside a tool_use block")
            if not part:
                return []
            self._out_chars += len(part)
            return [self._chunk({"tool_calls": [{"index": n, "function": {"arguments": part}}]})]
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        usage = data.get("usage")
        if isinstance(usage, dict) and self.usage is not None:
            # Counts in message_delta are cumulative; newer API versions repeat the input side.
            merged = {
                "input_tokens": self.usage.input_tokens
                - self.usage.cached_input_tokens
                - self.usage.cache_write_tokens,
                "cache_read_input_tokens": self.usage.cached_input_tokens,
                "cache_creation_input_tokens": self.usage.cache_write_tokens,
                "output_tokens": self.usage.output_tokens,
            }
            counts = {k: token_count(v) for k, v in usage.items() if k in merged}
            merged.update({k: v for k, v in counts.items() if v is not None})
            full: dict[str, Any] = dict(merged)
            if "output_tokens_details" in usage:
                full["output_tokens_details"] = usage["output_tokens_details"]
            elif self.usage.reasoning_tokens:
                full["output_tokens_details"] = {"thinking_tokens": self.usage.reasoning_tokens}
            self.usage = usage_from_anthropic(full)
        elif isinstance(usage, dict):
            self.usage = usage_from_anthropic(usage)
        if isinstance(usage, dict) and token_count(usage.get("output_tokens")) is not None:
            self._output_reported = True
        delta = data.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if reason is None or self._finish is not None:
            return []
        self._finish = finish_reason(reason)
        return [self._chunk({}, self._finish)]

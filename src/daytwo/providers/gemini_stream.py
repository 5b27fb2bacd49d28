"""Gemini's ``streamGenerateContent?alt=sse`` events → OpenAI ``chat.completion.chunk`` dicts.

Each SSE event (``data: {...}`` + a blank line, ``\\r\\n`` line ends) is a whole
``GenerateContentResponse`` holding the next piece of each candidate: text parts become content
deltas, a ``functionCall`` part (always whole, Gemini does not split arguments) one tool-call
delta carrying all its arguments. ``usageMetadata`` is cumulative; the last one seen counts, so a
cut stream still bills what was reported.

A Gemini stream has no end marker: it ends when the response does. Older models repeat
``finishReason`` on every event, so the finish chunks are sent only at the end, and a stream that
ends before every candidate gave a finish reason was cut: :class:`UpstreamProtocolError`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from daytwo.core.errors import UpstreamProtocolError
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import Usage
from daytwo.providers.chat_answers import chunk, usage_chunk
from daytwo.providers.gemini_wire import (
    blocked,
    candidate_index,
    candidate_parts,
    error_from_event,
    finish_reason,
    new_completion_id,
    usage_from_gemini,
)
from daytwo.providers.openai_wire import SSEDecoder, parse_json_object


@dataclass(slots=True)
class _Candidate:
    tools: int = 0
    reason: str | None = None


class StreamTranslator:
    """Decoded Gemini stream events in, OpenAI ``chat.completion.chunk`` dicts out.

    ``usage``, ``served_model`` (``modelVersion``) and ``response_id`` (``responseId``) hold what
    the upstream reported so far; :meth:`usage_so_far` is what a stream cut now is billed. HTTP
    adapters hand the body's bytes to :meth:`feed_bytes` as they arrive and call :meth:`end` when
    it ends; anything malformed raises a ``ProviderError``.
    """

    def __init__(
        self,
        *,
        include_usage: bool,
        redact: Callable[[str], str],
        model: str,
        created: int | None = None,
    ) -> None:
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.served_model: str | None = None
        self.response_id: str | None = None
        self.done = False
        self._redact = redact
        self._model = model
        self._created = int(time.time()) if created is None else created
        self._id = ""
        self._candidates: dict[int, _Candidate] = {}
        self._blocked = False
        self._sse = SSEDecoder()
        self._out_chars = 0  # text and tool arguments relayed, for a cut stream's estimate

    def feed_bytes(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Body bytes, split anywhere → OpenAI chunks."""
        for payload in self._sse.feed(data):
            yield from self.feed(parse_json_object(payload, "stream event"))

    def end(self) -> Iterator[dict[str, Any]]:
        """The body ended: a last event without its blank line still counts, then the finish."""
        payload = self._sse.end()
        if payload is not None:
            yield from self.feed(parse_json_object(payload, "stream event"))
        yield from self.finish()

    def usage_so_far(self) -> Usage | None:
        """What to bill if the stream ended now. Intermediate events may report fewer output
        tokens than were relayed (or none): then output is counted from the text relayed and
        flagged estimated."""
        usage = self.usage
        if usage is None or self.done:
            return usage  # none: the pipeline estimates input and output itself
        guess = tokens_for_chars(self._out_chars)
        if guess <= usage.output_tokens:
            return usage
        return dataclasses.replace(usage, output_tokens=guess, estimated=True)

    def _chunk(
        self, index: int, delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        model = self.served_model or self._model
        return chunk(self._id, self._created, model, delta, finish, index=index)

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """One decoded event → the chunks it yields."""
        if "error" in data and "candidates" not in data:
            raise error_from_event(data, self._redact)
        usage = usage_from_gemini(data.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        version = data.get("modelVersion")
        if isinstance(version, str) and version:
            self.served_model = version
        if not self._id:
            rid = data.get("responseId")
            self.response_id = rid if isinstance(rid, str) and rid else None
            self._id = self.response_id or new_completion_id()
        candidates = data.get("candidates")
        if candidates is None:
            self._blocked = self._blocked or blocked(data)
            return []
        if not isinstance(candidates, list):
            raise UpstreamProtocolError("upstream stream event `candidates` is not an array")
        out: list[dict[str, Any]] = []
        for cand in candidates:
            if not isinstance(cand, dict):
                raise UpstreamProtocolError("upstream stream candidate is not an object")
            index = candidate_index(cand)
            state = self._candidates.get(index)
            if state is None:
                state = self._candidates[index] = _Candidate()
                out.append(self._chunk(index, {"role": "assistant", "content": ""}))
            texts, calls = candidate_parts(cand)
            for text in texts:
                if text:
                    self._out_chars += len(text)
                    out.append(self._chunk(index, {"content": text}))
            for call in calls:
                self._out_chars += len(call["function"]["arguments"])
                out.append(self._chunk(index, {"tool_calls": [{"index": state.tools, **call}]}))
                state.tools += 1
            reason = cand.get("finishReason")
            if isinstance(reason, str):
                state.reason = reason
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The stream ended normally: the finish chunks, then usage when the client asked."""
        if self._blocked and not self._candidates:
            self._candidates[0] = _Candidate(reason="SAFETY")
            out = [self._chunk(0, {"role": "assistant", "content": ""})]
        else:
            out = []
        if not self._candidates or any(c.reason is None for c in self._candidates.values()):
            raise UpstreamProtocolError("upstream stream ended before its finishReason")
        for index in sorted(self._candidates):
            state = self._candidates[index]
            out.append(self._chunk(index, {}, finish_reason(state.reason, called=state.tools > 0)))
        self.done = True
        if self.include_usage and self.usage is not None:
            model = self.served_model or self._model
            out.append(usage_chunk(self._id, self._created, model, self.usage))
        return out

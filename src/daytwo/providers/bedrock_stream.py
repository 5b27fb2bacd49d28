"""ConverseStream: AWS event-stream frames → Converse events → OpenAI ``chat.completion.chunk``.

The body of a ``converse-stream`` answer (``application/vnd.amazon.eventstream``) is a run of
binary frames: a prelude (total length, headers length, CRC32 of both), typed headers, a JSON
payload and a CRC32 of the whole frame. botocore's :class:`~botocore.eventstream.EventStreamBuffer`
decodes them; every way it (or a frame) can fail becomes :class:`UpstreamProtocolError` here.

A frame's ``:message-type`` header says what it is: ``event`` (``:event-type`` names one of
``messageStart``, ``contentBlockStart``, ``contentBlockDelta``, ``contentBlockStop``,
``messageStop``, ``metadata``), ``exception`` (``:exception-type``: ``throttlingException``,
``modelStreamErrorException``, ...) or ``error`` (``:error-code``/``:error-message``). Text
blocks have no ``contentBlockStart``; a stream ends with ``messageStop`` then ``metadata``
(usage). Unknown event types and fields (AWS pads payloads with a ``p`` field) are skipped.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.eventstream import EventStreamBuffer, ParserError  # type: ignore[import-untyped]

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import Usage
from daytwo.providers.bedrock_wire import (
    error_from_exception_event,
    finish_reason,
    usage_from_converse,
)
from daytwo.providers.chat_answers import chunk, tool_call, usage_chunk
from daytwo.providers.openai_wire import parse_json_object

#: The header that names a frame, by ``:message-type``.
_NAME_HEADER = {"event": ":event-type", "exception": ":exception-type", "error": ":error-code"}
#: The smallest frame: prelude (12 bytes) and message CRC (4), no headers, no payload.
_MIN_FRAME = 16


class EventStreamDecoder:
    """Bytes split anywhere in, ``(message type, event type, headers, payload)`` out."""

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._fed = 0
        self._used = 0

    def feed(self, data: bytes) -> Iterator[tuple[str, str, dict[str, Any], bytes]]:
        self._buffer.add_data(data)
        self._fed += len(data)
        while True:
            try:
                message = next(self._buffer, None)
            except (ParserError, struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
                raise UpstreamProtocolError(
                    f"upstream sent a malformed event frame: {exc}"
                ) from exc
            if message is None:
                return
            prelude = message.prelude
            if prelude.total_length < _MIN_FRAME + prelude.headers_length:
                raise UpstreamProtocolError("upstream sent an event frame with impossible lengths")
            self._used += prelude.total_length
            headers: dict[str, Any] = message.headers
            kind = headers.get(":message-type")
            kind = kind if isinstance(kind, str) else ""
            name = headers.get(_NAME_HEADER.get(kind, ":event-type"))
            yield kind, name if isinstance(name, str) else "", headers, bytes(message.payload)

    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet (non-zero at the end: a cut)."""
        return self._fed - self._used


class StreamTranslator:
    """Converse stream events in, OpenAI ``chat.completion.chunk`` dicts out.

    ``usage`` holds what the upstream reported (the ``metadata`` event, after ``messageStop``);
    ``done`` turns True on ``messageStop``. With ``json_tool`` set (JSON mode, see
    :mod:`daytwo.providers.bedrock_wire`) that tool's input streams out as content.
    """

    def __init__(
        self,
        *,
        model: str,
        request_id: str,
        include_usage: bool,
        redact: Callable[[str], str],
        json_tool: str | None = None,
        created: int | None = None,
    ) -> None:
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.done = False
        self._model = model
        self._id = f"chatcmpl-{request_id}"
        self._redact = redact
        self._json_tool = json_tool
        self._created = int(time.time()) if created is None else created
        self._started = False
        #: content block index → tool call index (OpenAI numbers tool calls from 0), or -1 for
        #: the JSON-mode tool whose input is content
        self._tools: dict[int, int] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self._id, self._created, self._model, delta, finish)

    def feed_frame(
        self, kind: str, name: str, headers: dict[str, Any], payload: bytes
    ) -> list[dict[str, Any]]:
        """One decoded frame → the chunks it yields; exception frames raise their error."""
        if kind == "exception":
            raise error_from_exception_event(
                name or "internalServerException", payload, self._redact
            )
        if kind == "error":
            message = headers.get(":error-message")
            raise UpstreamStatusError(
                500,
                self._redact(f"upstream stream error ({name}): {message}"),
                code=name or None,
            )
        if kind != "event":
            raise UpstreamProtocolError(f"upstream sent a frame of message type `{kind}`")
        return self.feed(name, parse_json_object(payload, f"`{name}` event"))

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """One Converse event (its type and payload) → the chunks it yields."""
        if name == "messageStart":
            self._started = True
            return [self._chunk({"role": "assistant", "content": ""})]
        if name not in _HANDLED:
            return []  # event types added after this was written
        if not self._started:
            raise UpstreamProtocolError(f"upstream stream began with `{name}`, not messageStart")
        if name == "contentBlockStart":
            return self._block_start(data)
        if name == "contentBlockDelta":
            return self._block_delta(data)
        if name == "messageStop":
            if self.done:
                return []
            self.done = True
            return [self._chunk({}, finish_reason(data.get("stopReason"), self._json_tool))]
        if name == "metadata":
            usage = usage_from_converse(data.get("usage"))
            if usage is None:
                return []
            self.usage = usage
            if self.include_usage:
                return [usage_chunk(self._id, self._created, self._model, usage)]
        return []  # contentBlockStop

    def _block_start(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        start = data.get("start")
        index = data.get("contentBlockIndex")
        if not isinstance(start, dict) or type(index) is not int:
            raise UpstreamProtocolError("upstream contentBlockStart is malformed")
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return []
        if self._json_tool is not None and use.get("name") == self._json_tool:
            self._tools[index] = -1
            return []
        n = self._tools[index] = sum(1 for v in self._tools.values() if v >= 0)
        call = tool_call(str(use.get("toolUseId", "")), str(use.get("name", "")), "", index=n)
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta")
        index = data.get("contentBlockIndex")
        if not isinstance(delta, dict) or type(index) is not int:
            raise UpstreamProtocolError("upstream contentBlockDelta is malformed")
        if "text" in delta:
            text = delta["text"]
            if not isinstance(text, str):
                raise UpstreamProtocolError("upstream text delta carries no text")
            return [self._chunk({"content": text})] if text else []
        use = delta.get("toolUse")
        if isinstance(use, dict):
            part = use.get("input")
            n = self._tools.get(index)
            if n is None or not isinstance(part, str):
                raise UpstreamProtocolError("upstream toolUse delta outside a toolUse block")
            if not part:
                return []
            if n < 0:
                return [self._chunk({"content": part})]
            return [self._chunk({"tool_calls": [{"index": n, "function": {"arguments": part}}]})]
        return []  # reasoningContent, citations, and delta types added later


_HANDLED = frozenset(
    {"contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
)


def translate_body(
    body: bytes, translator: StreamTranslator, *, split: int = 0
) -> list[dict[str, Any]]:
    """A whole ConverseStream body → its chunks (tests, the fuzzer); ``split`` feeds it in
    pieces of that size (0: at once). Raises only ``ProviderError`` subclasses."""
    decoder = EventStreamDecoder()
    out: list[dict[str, Any]] = []
    step = split or max(len(body), 1)
    for i in range(0, len(body), step):
        for frame in decoder.feed(body[i : i + step]):
            out.extend(translator.feed_frame(*frame))
    finish(decoder, translator)
    return out


def finish(decoder: EventStreamDecoder, translator: StreamTranslator) -> None:
    """The body ended: a partial frame or a missing ``messageStop`` is a cut stream."""
    if decoder.pending():
        raise UpstreamProtocolError(
            f"upstream stream ended inside an event frame ({decoder.pending()} bytes left over)"
        )
    if not translator.done:
        raise UpstreamProtocolError("upstream stream ended before messageStop")

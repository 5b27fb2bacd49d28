"""Pieces of OpenAI's wire format shared by every adapter that speaks it (OpenAI and the many
OpenAI-compatible servers): usage both ways, error bodies, SSE decoding. The translating
adapters (Anthropic, Gemini, Bedrock) use :func:`openai_usage` to write their answers' usage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import StreamChunk, Usage

#: Upstream response headers worth passing on to the client (rate-limit state, retry hints).
PASS_HEADERS = ("retry-after", "retry-after-ms")

#: A usage count above this is not believed: no call is that large, and a count from a broken
#: upstream must not overflow the ledger's 64-bit integers once priced in nano-dollars.
MAX_TOKEN_COUNT = 2**32

#: The largest SSE event (or line) held in memory while it arrives. Real events are a few KiB;
#: a longer one is a broken upstream (an HTML page on an event stream, no newlines at all).
MAX_EVENT_BYTES = 8 * 2**20

_DONE = b"[DONE]"


def token_count(value: Any) -> int | None:
    """A usage count as an upstream reports it: a non-negative int (a bool is not a count)."""
    if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def usage_from_openai(data: Any) -> Usage | None:
    """OpenAI ``usage`` object → :class:`Usage`; None when absent, not an object, or its counts
    are not counts."""
    if not isinstance(data, dict):
        return None
    prompt = token_count(data.get("prompt_tokens"))
    completion = token_count(data.get("completion_tokens", 0))
    if prompt is None or completion is None:
        return None
    pdet = data.get("prompt_tokens_details") or {}
    cdet = data.get("completion_tokens_details") or {}
    cached = written = None
    if isinstance(pdet, dict):
        cached = token_count(pdet.get("cached_tokens"))
        written = token_count(pdet.get("cache_write_tokens"))
    reasoning = token_count(cdet.get("reasoning_tokens")) if isinstance(cdet, dict) else None
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=cached or 0,
        cache_write_tokens=written or 0,
        reasoning_tokens=reasoning or 0,
    )


def openai_usage(usage: Usage) -> dict[str, Any]:
    """:class:`Usage` → an OpenAI ``usage`` object, for adapters that translate answers.

    OpenAI reports no cache writes; they go in ``prompt_tokens_details.cache_write_tokens``
    (which :func:`usage_from_openai` reads back), so the usage chunk of a translated stream
    carries them to the other doors' encoders instead of losing them.
    """
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def error_from_response(
    status: int, body: bytes, headers: dict[str, str], redact: Any
) -> UpstreamStatusError:
    """An upstream error response → :class:`UpstreamStatusError` keeping its class and hints.

    ``redact`` scrubs secrets from the upstream's message (some upstreams echo the key back).
    """
    upstream_type = code = param = None
    parsed = error_json(body)
    message = status_message(status, body if parsed is None else b"")
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        if isinstance(err.get("message"), str) and err["message"]:
            message = err["message"]
        upstream_type = err.get("type") if isinstance(err.get("type"), str) else None
        code = str(err["code"]) if err.get("code") is not None else None
        param = err.get("param") if isinstance(err.get("param"), str) else None
    elif isinstance(err, str):
        message = err
    return UpstreamStatusError(
        status,
        redact(message),
        upstream_type=upstream_type,
        code=code,
        param=param,
        headers=passed_headers(headers),
    )


def error_json(body: bytes) -> Any:
    """An error response's body parsed; None when it is empty or not JSON."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def status_message(status: int, unread: bytes = b"") -> str:
    """What an error says when its body names no message: the status, and the start of
    ``unread`` (a body that is not the JSON error it should be) when there is one."""
    message = f"upstream returned HTTP {status}"
    return f"{message}: {unread[:200].decode('utf-8', 'replace')}" if unread else message


def passed_headers(
    headers: dict[str, str], names: tuple[str, ...] = PASS_HEADERS
) -> dict[str, str]:
    """The retry hints among an error's (lower-cased) headers, passed on to the client."""
    return {k: headers[k] for k in names if k in headers}


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"upstream sent an invalid JSON {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise UpstreamProtocolError(f"upstream sent a {what} that is not a JSON object")
    return data


def parse_completion(body: bytes) -> dict[str, Any]:
    """A ``chat.completion`` body, checked where daytwo (and the client's SDK) reads it."""
    data = parse_json_object(body, "completion")
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise UpstreamProtocolError("upstream sent a completion without a `choices` list")
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise UpstreamProtocolError("upstream sent a completion choice without a message")
        _check_message(message, "completion message")
    return data


def parse_embeddings(body: bytes) -> dict[str, Any]:
    data = parse_json_object(body, "embeddings response")
    if not isinstance(data.get("data"), list):
        raise UpstreamProtocolError("upstream sent an embeddings response without a `data` list")
    return data


def check_chunk(data: dict[str, Any]) -> None:
    """A ``chat.completion.chunk`` must have the shape the pipeline and clients read (choices,
    deltas, content, tool-call arguments) before it is relayed."""
    choices = data.get("choices")
    if choices is None:
        return
    if not isinstance(choices, list):
        raise UpstreamProtocolError("upstream stream chunk has a `choices` that is not a list")
    for choice in choices:
        if not isinstance(choice, dict):
            raise UpstreamProtocolError("upstream stream chunk has a choice that is not an object")
        delta = choice.get("delta")
        if delta is not None:
            if not isinstance(delta, dict):
                raise UpstreamProtocolError("upstream stream chunk has a non-object delta")
            _check_message(delta, "stream delta")


def _check_message(msg: dict[str, Any], what: str) -> None:
    content = msg.get("content")
    if content is not None and not isinstance(content, str | list):
        raise UpstreamProtocolError(f"upstream {what} has a content that is not text")
    calls = msg.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise UpstreamProtocolError(f"upstream {what} has `tool_calls` that is not a list")
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else False
        if fn is None:  # a delta may carry only the call's id
            continue
        if not isinstance(fn, dict) or not isinstance(fn.get("arguments"), str | None):
            raise UpstreamProtocolError(f"upstream {what} has a malformed tool call")


class SSEDecoder:
    """Incremental Server-Sent Events decoder: bytes as they arrive in, ``data`` payloads out.

    Follows the event-stream rules of the HTML standard, which OpenAI and Anthropic both emit:
    lines end with LF, CRLF or a lone CR (a CRLF split across two reads is one line end);
    ``data:`` with or without its space; several ``data`` lines of one event are joined by LF;
    comments (``:``) and the other fields (``event``, ``id``, ``retry``) are ignored -- OpenAI
    uses only ``data``, and Anthropic repeats the event type inside it. A leading BOM is
    dropped. An event or line longer than :data:`MAX_EVENT_BYTES` is a protocol error.

    :meth:`feed` splits the bytes itself: a reader's own line splitting has limits of its own
    (aiohttp raises its ``LineTooLong``, not a ``ClientError``, past 2 x ``read_bufsize``).
    """

    __slots__ = ("_cr", "_data", "_partial", "_size", "_started")

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._partial: list[bytes] = []
        self._size = 0  # bytes held: the data lines of this event plus the partial line
        self._cr = False  # the last read ended with CR: a LF starting the next one belongs to it
        self._started = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Bytes split anywhere → the payloads of the events they complete, in order."""
        if not chunk:
            return []
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if lines and self._partial:
            lines[0] = self._take_partial() + lines[0]
        out: list[bytes] = []
        for line in lines:
            payload = self._line(line)
            if payload is not None:
                out.append(payload)
        if rest:
            self._partial.append(rest)
            self._grow(len(rest))
        return out

    def end(self) -> bytes | None:
        """The stream ended: a last line without its line end, and a last event without its
        blank line, still count (servers that close right after the final event exist)."""
        if self._partial:
            self._line(self._take_partial())
        return self._line(b"")

    def feed_line(self, line: bytes) -> bytes | None:
        """One line (its line end optional) → the payload of the event it completes, if any."""
        return self._line(line.rstrip(b"\r\n"))

    def pending(self) -> bool:
        return bool(self._data or self._partial)

    def _take_partial(self) -> bytes:
        line = b"".join(self._partial)
        self._partial = []
        self._size -= len(line)
        return line

    def _line(self, line: bytes) -> bytes | None:
        if not self._started:
            self._started = True
            line = line.removeprefix(b"\xef\xbb\xbf")
        if len(line) > MAX_EVENT_BYTES:  # also a comment: held whole when it came in pieces
            self._grow(len(line))
        if not line:
            self._size = 0
            if not self._data:
                return None
            payload = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            self._data = []
            return payload
        if line.startswith(b"data"):
            if len(line) == 4:  # a field name alone: the value is empty
                value = b""
            elif line[4:5] == b":":
                value = line[6:] if line[5:6] == b" " else line[5:]
            else:
                return None  # another field whose name starts with "data"
            self._data.append(value)
            self._grow(len(value))
        return None

    def _grow(self, n: int) -> None:
        self._size += n
        if self._size > MAX_EVENT_BYTES:
            self._data = []
            self._partial = []
            raise UpstreamProtocolError(
                f"upstream sent a stream event longer than {MAX_EVENT_BYTES} bytes"
            )


def served_by(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(served model, fingerprint) as an OpenAI answer or chunk names them: its ``model`` and
    ``system_fingerprint`` (OpenAI, Azure, and the OpenAI-compatible servers that send one:
    vLLM, Ollama, Groq). Each is None when absent, empty or not a string: Azure's opening
    prompt-filter chunk says ``"model": ""``."""
    model, fingerprint = data.get("model"), data.get("system_fingerprint")
    return (
        model if isinstance(model, str) and model else None,
        fingerprint if isinstance(fingerprint, str) and fingerprint else None,
    )


def client_wants_usage(body: dict[str, Any]) -> bool:
    """Did the client itself ask for the final usage chunk (``stream_options.include_usage``)?"""
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


def _keep(text: str) -> str:
    return text


class ChunkStreamState:
    """What an OpenAI ``chat.completion.chunk`` stream tells about the call as it passes.

    Adapters always ask the upstream for usage (exact billing); the usage-only final chunk is
    hidden from clients that did not ask for it themselves. HTTP adapters hand the body's bytes
    to :meth:`feed` as they arrive and call :meth:`end` when the body ends; ``done`` turns True
    at ``[DONE]``. Anything malformed raises :class:`UpstreamProtocolError`.
    """

    def __init__(
        self,
        *,
        drop_usage_chunk: bool,
        upstream_request_id: str | None,
        redact: Callable[[str], str] = _keep,
    ) -> None:
        self._drop_usage_chunk = drop_usage_chunk
        self._redact = redact
        self.usage: Usage | None = None
        self.served_model: str | None = None
        self.fingerprint: str | None = None
        self.upstream_request_id = upstream_request_id
        self.rate_headers: dict[str, str] | None = None
        self.done = False
        self._sse = SSEDecoder()

    def _observe(self, data: dict[str, Any]) -> bool:
        """Record model, fingerprint and usage from one chunk; False when the chunk is not for
        the client. Both are read from the first chunk that names a model (every OpenAI chunk
        carries both): a stream from a server that sends no fingerprint pays nothing more."""
        if self.served_model is None:
            self.served_model, self.fingerprint = served_by(data)
        usage = usage_from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
            if self._drop_usage_chunk and not data.get("choices"):
                return False
        return True

    def feed(self, data: bytes) -> Iterator[StreamChunk]:
        """Body bytes, split anywhere → the chunks for the client; nothing after ``[DONE]``."""
        for payload in self._sse.feed(data):
            if self.done:
                return
            chunk = self.event(payload)
            if chunk is not None:
                yield chunk

    def end(self) -> Iterator[StreamChunk]:
        """The body ended. A last event without its blank line still counts; a stream without
        ``[DONE]`` was cut."""
        if not self.done:
            payload = self._sse.end()
            chunk = self.event(payload) if payload is not None else None
            if chunk is not None:
                yield chunk
        if not self.done:
            raise UpstreamProtocolError("upstream stream ended before [DONE]")

    def event(self, payload: bytes) -> StreamChunk | None:
        """One event's ``data`` → the chunk to relay (None: ``[DONE]`` or a hidden usage chunk)."""
        if payload.strip() == _DONE:
            self.done = True
            return None
        data = parse_json_object(payload, "stream event")
        err = data.get("error")
        if err and "choices" not in data:
            msg = err.get("message") if isinstance(err, dict) else err
            raise UpstreamProtocolError(self._redact(f"upstream stream error: {msg}"))
        check_chunk(data)
        if not self._observe(data):
            return None
        # The bytes are relayed as they came, unless the data spanned several lines (rejoining
        # them under one `data: ` would hand the client half an event).
        raw = b"data: " + payload + b"\n\n" if b"\n" not in payload else None
        return StreamChunk(data=data, raw=raw)

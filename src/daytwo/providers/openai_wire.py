"""Pieces of OpenAI's wire format shared by every adapter that speaks it (OpenAI and the many
OpenAI-compatible servers): usage extraction, error bodies, SSE decoding."""

from __future__ import annotations

from typing import Any

import orjson

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import Usage

#: Upstream response headers worth passing on to the client (rate-limit state, retry hints).
PASS_HEADERS = ("retry-after", "retry-after-ms")


def usage_from_openai(data: Any) -> Usage | None:
    """OpenAI ``usage`` object → :class:`Usage`; None when absent or not an object."""
    if not isinstance(data, dict):
        return None
    prompt = data.get("prompt_tokens")
    completion = data.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    pdet = data.get("prompt_tokens_details") or {}
    cdet = data.get("completion_tokens_details") or {}
    cached = pdet.get("cached_tokens") if isinstance(pdet, dict) else None
    reasoning = cdet.get("reasoning_tokens") if isinstance(cdet, dict) else None
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cached_input_tokens=cached if isinstance(cached, int) else 0,
        reasoning_tokens=reasoning if isinstance(reasoning, int) else 0,
    )


def error_from_response(
    status: int, body: bytes, headers: dict[str, str], redact: Any
) -> UpstreamStatusError:
    """An upstream error response → :class:`UpstreamStatusError` keeping its class and hints.

    ``redact`` scrubs secrets from the upstream's message (some upstreams echo the key back).
    """
    message = f"upstream returned HTTP {status}"
    upstream_type = code = param = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        if isinstance(err.get("message"), str) and err["message"]:
            message = err["message"]
        upstream_type = err.get("type") if isinstance(err.get("type"), str) else None
        code = str(err["code"]) if err.get("code") is not None else None
        param = err.get("param") if isinstance(err.get("param"), str) else None
    elif isinstance(err, str):
        message = err
    elif body and parsed is None:
        message = f"{message}: {body[:200].decode('utf-8', 'replace')}"
    passed = {k: headers[k] for k in PASS_HEADERS if k in headers}
    return UpstreamStatusError(
        status,
        redact(message),
        upstream_type=upstream_type,
        code=code,
        param=param,
        headers=passed,
    )


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamProtocolError(f"upstream sent an invalid JSON {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise UpstreamProtocolError(f"upstream sent a {what} that is not a JSON object")
    return data


class SSEDecoder:
    """Incremental Server-Sent Events decoder: feed lines, get complete ``data`` payloads.

    Handles multi-line ``data:`` fields, comments (``:``) and ignores ``event:``/``id:`` for the
    OpenAI format, which only uses ``data``.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[bytes] = []

    def feed_line(self, line: bytes) -> bytes | None:
        line = line.rstrip(b"\r\n")
        if not line:
            if not self._data:
                return None
            payload = b"\n".join(self._data)
            self._data = []
            return payload
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value)
        return None

    def pending(self) -> bool:
        return bool(self._data)


def client_wants_usage(body: dict[str, Any]) -> bool:
    """Did the client itself ask for the final usage chunk (``stream_options.include_usage``)?"""
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


class ChunkStreamState:
    """What an OpenAI ``chat.completion.chunk`` stream tells about the call as it passes.

    Adapters always ask the upstream for usage (exact billing); the usage-only final chunk is
    hidden from clients that did not ask for it themselves.
    """

    def __init__(self, *, drop_usage_chunk: bool, upstream_request_id: str | None) -> None:
        self._drop_usage_chunk = drop_usage_chunk
        self.usage: Usage | None = None
        self.served_model: str | None = None
        self.upstream_request_id = upstream_request_id

    def _observe(self, data: dict[str, Any]) -> bool:
        """Record model and usage from one chunk; False when the chunk is not for the client."""
        if self.served_model is None and isinstance(data.get("model"), str):
            self.served_model = data["model"]
        usage = usage_from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
            if self._drop_usage_chunk and not data.get("choices"):
                return False
        return True

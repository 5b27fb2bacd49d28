"""One simulated HTTP exchange, decided before a byte is sent, played by the server and the
in-process adapter alike (one code path, so both behave identically).

An :class:`Exchange` says what the wire carries and when: wait ``delay_s``; then either close the
connection with no answer (``status == 0``: a hang or a reset), or send ``status`` and ``headers``
and then ``body`` -- or, for a stream, each :class:`Frame` after its ``delay_s`` -- and finally end
the response normally, or cut the connection (``cut``).

:class:`Simulator` builds exchanges from the format-neutral :class:`SimEngine` and one
:class:`WireFormat` encoder (today OpenAI's; Anthropic, Gemini and Bedrock slot in beside it).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from daytwo.config.schema import SimSettings
from daytwo.core.errors import InvalidRequest
from daytwo.providers.sim.engine import STATUS_FAULTS, Fault, SimEmbeddings, SimEngine, SimReply

Headers = list[tuple[bytes, bytes]]
FrameKind = Literal["event", "done", "garbage"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One streamed event: its wire bytes and, for a well-formed event, its decoded data."""

    delay_s: float
    raw: bytes
    data: dict[str, Any] | None
    kind: FrameKind = "event"


@dataclass(slots=True)
class Exchange:
    request_id: str
    #: 0: no answer at all; the connection closes after ``delay_s``.
    status: int
    delay_s: float = 0.0
    headers: Headers = field(default_factory=list)
    #: The whole body when not streaming (possibly cut short: see ``data``).
    body: bytes = b""
    #: ``body`` decoded, or None when the body is not valid JSON (a malformed fault).
    data: dict[str, Any] | None = None
    stream: bool = False
    frames: tuple[Frame, ...] = ()
    #: The connection closes after the last frame instead of ending the stream.
    cut: bool = False

    def header_dict(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}


class WireFormat(Protocol):
    """An encoder from the engine's neutral answers to one provider's wire format."""

    def completion(self, reply: SimReply) -> dict[str, Any]: ...

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        """Stream events, each with the token step it belongs to (pacing: ``per_token_ms`` per
        step)."""
        ...

    def frame(self, chunk: dict[str, Any]) -> bytes: ...

    #: The frame that ends a stream (OpenAI's ``data: [DONE]``), or None.
    end_frame: bytes | None

    def embeddings(self, emb: SimEmbeddings) -> dict[str, Any]: ...

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]: ...

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        """(status, message, type, code) of a status fault."""
        ...

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers: ...

    def dumps(self, data: dict[str, Any]) -> bytes: ...


class Simulator:
    """The engine plus one wire format: request bodies in, :class:`Exchange` out."""

    def __init__(
        self,
        settings: SimSettings,
        fmt: WireFormat,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.fmt = fmt
        self.engine = SimEngine(settings, clock=clock, wall_clock=wall_clock)
        self._ttft_s = settings.ttft_ms / 1000
        self._per_token_s = settings.per_token_ms / 1000

    def chat(self, body: dict[str, Any]) -> Exchange:
        return self._counted(body, self._chat)

    def embeddings(self, body: dict[str, Any]) -> Exchange:
        return self._counted(body, self._embeddings)

    def _counted(
        self, body: dict[str, Any], answer: Callable[[dict[str, Any]], Exchange]
    ) -> Exchange:
        """Apply the request quota: refuse past it, else report what is left."""
        quota = self.engine.take_quota()
        if quota is None:
            return answer(body)
        left, limit, reset_s = quota
        if left < 0:
            ex = self._fault(f"req_{os.urandom(16).hex()}", "429", str(body.get("model")))
            retry = str(max(1, math.ceil(reset_s))).encode()
            headers = [(k, retry if k == b"retry-after" else v) for k, v in ex.headers]
            return replace(ex, headers=_quota_headers(headers, 0, limit, reset_s))
        ex = answer(body)
        return replace(ex, headers=_quota_headers(ex.headers, left, limit, reset_s))

    def _chat(self, body: dict[str, Any]) -> Exchange:
        try:
            turn = self.engine.chat(body)
        except InvalidRequest as exc:
            return self.invalid(exc)
        fault, rid = turn.fault, turn.request_id
        if fault in STATUS_FAULTS or fault == "timeout" or (fault == "reset" and not turn.stream):
            return self._fault(rid, fault, str(body.get("model")))
        reply = turn.reply
        assert reply is not None
        fmt = self.fmt
        if not turn.stream:
            delay = self._ttft_s + self._per_token_s * reply.steps
            return self._answer(rid, delay, fmt.completion(reply), fault)
        include_usage = turn.include_usage and self.settings.stream_usage
        if include_usage and self.engine.drops_stream_usage():
            include_usage = False
        frames: list[Frame] = []
        prev = 0
        chunks = fmt.chunks(reply, include_usage=include_usage)
        if turn.continuous_usage and self.settings.stream_usage:
            chunks = running_usage(chunks, reply)
        for step, chunk in chunks:
            frames.append(Frame(self._per_token_s * (step - prev), fmt.frame(chunk), chunk))
            prev = step
        if fmt.end_frame is not None:
            frames.append(Frame(0.0, fmt.end_frame, None, "done"))
        cut = fault in ("malformed", "reset")
        if cut:
            keep = max(1, len(frames) // 2)
            tail = frames[keep]
            frames = frames[:keep]
            if fault == "malformed":  # an event whose JSON stops half-way, then the line ends
                garbage = tail.raw[: max(7, len(tail.raw) // 2)].rstrip(b"\n") + b"\n\n"
                frames.append(Frame(tail.delay_s, garbage, None, "garbage"))
        headers = fmt.headers(rid, stream=True, processing_ms=int(self._ttft_s * 1000), fault=None)
        return Exchange(rid, 200, self._ttft_s, headers, stream=True, frames=tuple(frames), cut=cut)

    def _embeddings(self, body: dict[str, Any]) -> Exchange:
        try:
            turn = self.engine.embeddings(body)
        except InvalidRequest as exc:
            return self.invalid(exc)
        fault, rid = turn.fault, turn.request_id
        if fault is not None and fault != "malformed":
            return self._fault(rid, fault, str(body.get("model")))
        assert turn.embeddings is not None
        return self._answer(rid, self._ttft_s, self.fmt.embeddings(turn.embeddings), fault)

    def invalid(self, exc: InvalidRequest) -> Exchange:
        return self.error(exc.status, exc.message, type=exc.type, param=exc.param, code=exc.code)

    def error(
        self,
        status: int,
        message: str,
        *,
        type: str,
        param: str | None = None,
        code: str | None = None,
    ) -> Exchange:
        """An error answer for a request that never reached the engine (or was refused by it)."""
        rid = f"req_{os.urandom(16).hex()}"
        data = self.fmt.error(message, type=type, param=param, code=code)
        headers = self.fmt.headers(rid, stream=False, processing_ms=0, fault=None)
        return Exchange(rid, status, 0.0, headers, self.fmt.dumps(data), data)

    def _answer(
        self, rid: str, delay: float, payload: dict[str, Any], fault: Fault | None
    ) -> Exchange:
        raw = self.fmt.dumps(payload)
        headers = self.fmt.headers(rid, stream=False, processing_ms=int(delay * 1000), fault=None)
        if fault == "malformed":  # the body stops half-way: not valid JSON
            return Exchange(rid, 200, delay, headers, raw[: len(raw) // 2], None)
        return Exchange(rid, 200, delay, headers, raw, payload)

    def _fault(self, rid: str, fault: Fault | None, model: str) -> Exchange:
        if fault == "timeout":
            return Exchange(rid, 0, self.settings.faults.hang_s)
        if fault == "reset":
            return Exchange(rid, 0, self._ttft_s)
        assert fault is not None
        status, message, kind, code = self.fmt.fault_error(fault, model=model)
        data = self.fmt.error(message, type=kind, code=code)
        headers = self.fmt.headers(rid, stream=False, processing_ms=0, fault=fault)
        return Exchange(rid, status, 0.0, headers, self.fmt.dumps(data), data)


def _quota_headers(headers: Headers, left: int, limit: int, reset_s: float) -> Headers:
    """``headers`` with the request-quota figures (OpenAI's and Anthropic's names) set."""
    stamp = datetime.fromtimestamp(time.time() + reset_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {
        b"x-ratelimit-remaining-requests": str(left).encode(),
        b"x-ratelimit-limit-requests": str(limit).encode(),
        b"x-ratelimit-reset-requests": f"{reset_s:.3f}s".encode(),
        b"anthropic-ratelimit-requests-remaining": str(left).encode(),
        b"anthropic-ratelimit-requests-limit": str(limit).encode(),
        b"anthropic-ratelimit-requests-reset": stamp.encode(),
    }
    return [(k, values.get(k, v)) for k, v in headers]


def running_usage(
    chunks: list[tuple[int, dict[str, Any]]], reply: SimReply
) -> list[tuple[int, dict[str, Any]]]:
    """OpenAI-shaped chunks with the usage counted so far on each (vLLM's
    ``continuous_usage_stats``): every content, refusal or tool-call delta is one token."""
    out: list[tuple[int, dict[str, Any]]] = []
    done = 0
    for step, chunk in chunks:
        choices = chunk.get("choices")
        if choices:
            delta = choices[0].get("delta") or {}
            if delta.get("content") or delta.get("refusal") or delta.get("tool_calls"):
                done += 1
            chunk = {
                **chunk,
                "usage": {
                    "prompt_tokens": reply.input_tokens,
                    "completion_tokens": done,
                    "total_tokens": reply.input_tokens + done,
                },
            }
        out.append((step, chunk))
    return out

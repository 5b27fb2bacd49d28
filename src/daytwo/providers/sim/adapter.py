"""The simulator in-process: an :class:`~daytwo.providers.base.Adapter` with no sockets.

It plays the same :class:`~daytwo.providers.sim.exchange.Exchange` the HTTP server would send and
reads it the way the HTTP OpenAI adapter reads a real response (the same ``openai_wire`` helpers),
so a fault surfaces as exactly the error the gateway would see from ``daytwo sim serve``:

* 429 / 500 / 503 → :class:`UpstreamStatusError` with the upstream type and ``retry-after``;
* a hang → waits ``hang_s`` (the caller's timeout cancels it), then the connection "closes":
  :class:`UpstreamUnavailable`; a reset of a non-streamed call → :class:`UpstreamUnavailable`;
* a malformed body or stream event, or a stream cut before ``[DONE]`` →
  :class:`UpstreamProtocolError`.

Like the HTTP adapter, a stream always asks the simulated upstream for usage and hides the usage
chunk from callers that did not ask for it; ``SimSettings.stream_usage = false`` simulates an
upstream that never reports it (``usage`` stays None).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from daytwo.config.schema import SimSettings
from daytwo.core.errors import UpstreamProtocolError, UpstreamUnavailable
from daytwo.core.secrets import redact_key_shapes
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.http import quota_headers
from daytwo.providers.openai_wire import (
    ChunkStreamState,
    client_wants_usage,
    error_from_response,
    parse_json_object,
    served_by,
    usage_from_openai,
)
from daytwo.providers.sim.exchange import Exchange, Simulator
from daytwo.providers.sim.openai_format import OpenAIFormat


class SimAdapter:
    """The built-in simulator as an adapter. ``clock`` (monotonic seconds) drives scheduled
    outages, ``wall_clock`` the ``created`` timestamps; both are injectable for tests."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.simulator = Simulator(
            settings, OpenAIFormat(settings), clock=clock, wall_clock=wall_clock
        )

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        body = _with_model(req, target)
        body.pop("stream", None)
        body.pop("stream_options", None)
        ex = self.simulator.chat(body)
        await _arrive(ex)
        resp = _response(ex, "completion")
        if self.settings.quota_requests is not None:
            resp.rate_headers = quota_headers(ex.header_dict())
        return resp

    async def stream(self, req: LLMRequest, target: Target) -> SimStream:
        body = _with_model(req, target)
        body["stream"] = True
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        ex = self.simulator.chat(body)
        await _arrive(ex)
        if not ex.stream:
            raise UpstreamProtocolError("upstream answered a stream request with application/json")
        stream = SimStream(ex, drop_usage_chunk=not client_wants_usage(req.body))
        if self.settings.quota_requests is not None:
            stream.rate_headers = quota_headers(ex.header_dict())
        return stream

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        ex = self.simulator.embeddings(_with_model(req, target))
        await _arrive(ex)
        return _response(ex, "embeddings response", embeddings=True)

    async def aclose(self) -> None:
        return None


class SimStream(ChunkStreamState):
    """An open simulated stream (implements ``providers.base.UpstreamStream``)."""

    def __init__(self, ex: Exchange, *, drop_usage_chunk: bool) -> None:
        super().__init__(drop_usage_chunk=drop_usage_chunk, upstream_request_id=ex.request_id)
        self._ex = ex
        self._closed = False

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StreamChunk]:
        loop = asyncio.get_running_loop()
        due = loop.time()
        for frame in self._ex.frames:
            if self._closed:
                return
            if frame.delay_s > 0:
                due += frame.delay_s
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if frame.kind == "done":
                return
            data = frame.data
            if data is None:  # decode the wire bytes, as the HTTP adapter would, and fail alike
                data = parse_json_object(frame.raw.removeprefix(b"data: ").strip(), "stream event")
            if self._observe(data):
                yield StreamChunk(data=data, raw=frame.raw)
        if self._ex.cut and not self._closed:
            raise UpstreamProtocolError("upstream stream ended before [DONE]")

    async def aclose(self) -> None:
        self._closed = True


def _with_model(req: LLMRequest, target: Target) -> dict[str, Any]:
    body = dict(req.body)
    body["model"] = target.model
    return body


async def _arrive(ex: Exchange) -> None:
    """Wait for the status line, then fail the way an HTTP client would on an error answer."""
    if ex.delay_s > 0:
        await asyncio.sleep(ex.delay_s)
    if ex.status == 0:
        raise UpstreamUnavailable("upstream connection failed: server disconnected")
    if ex.status >= 400:
        raise error_from_response(ex.status, ex.body, ex.header_dict(), redact_key_shapes)


def _response(ex: Exchange, what: str, *, embeddings: bool = False) -> LLMResponse:
    data = ex.data if ex.data is not None else parse_json_object(ex.body, what)
    raw_usage = data.get("usage")
    if embeddings and isinstance(raw_usage, dict):  # embeddings usage has no completion count
        raw_usage = {"completion_tokens": 0, **raw_usage}
    usage = usage_from_openai(raw_usage) or Usage(estimated=True)
    model, fingerprint = served_by(data)
    return LLMResponse(
        body=data,
        usage=usage,
        served_model=model,
        fingerprint=fingerprint,
        upstream_request_id=ex.request_id,
        raw=ex.body,
    )

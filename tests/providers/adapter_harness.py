"""What the egress adapter tests share (tests/providers/test_*_adapter.py): each drives one real
adapter against daytwo's simulator on a loopback port, in a fresh event loop per call.

* :func:`simulator` starts a simulator and yields the root its doors hang off (a module's
  ``sim_root`` fixture: :func:`sim_root_fixture`);
* :func:`with_adapter` runs one coroutine with an adapter built inside the loop (aiohttp binds
  its session to it) and closed afterwards; each test module wraps it in its own ``call``;
* the requests (:func:`chat`, :func:`embeddings`) and the checks of what comes back, which are
  the same for every translating adapter: an OpenAI ``chat.completion``, chunks reassembling
  into text with exact usage, a tool call, and a stream cut or garbled part-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import pytest

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.sim.run import running_sim_server

T = TypeVar("T")
USER = [{"role": "user", "content": "Say something."}]
#: OpenAI's function-calling example tool, as the SDK sends it.
WEATHER_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
]
#: AWS's Converse tool-use example (the Bedrock user guide's "top_song" tool), and the question
#: it answers.
RADIO_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "top_song",
            "description": "Get the most popular song played on a radio station.",
            "parameters": {
                "type": "object",
                "properties": {"sign": {"type": "string"}},
                "required": ["sign"],
            },
        },
    }
]
RADIO_QUESTION = "What is the most popular song on WZPZ?"
#: AWS's documented example key pair.
AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: An address where nothing listens: a request refused before any upstream call proves it.
NOWHERE = "http://127.0.0.1:9"


class Closable(Protocol):
    async def aclose(self) -> None: ...


A = TypeVar("A", bound=Closable)
#: A test module's ``call(root, fn)``: ``fn`` run with that module's adapter at ``root``.
Call = Callable[[str, Callable[[Any], Awaitable[Any]]], Any]


class Stream(Protocol):
    """What the adapters' streams have in common."""

    usage: Usage | None
    served_model: str | None
    upstream_request_id: str | None

    def __aiter__(self) -> Any: ...


@contextmanager
def simulator(settings: SimSettings | None = None, require_key: str | None = None) -> Iterator[str]:
    """A simulator on a loopback port, as the root URL of its doors (no ``/v1``)."""
    with running_sim_server(settings or SimSettings(seed=5), require_key=require_key) as url:
        yield url.removesuffix("/v1")


def sim_root_fixture(settings: SimSettings | None = None, require_key: str | None = None) -> Any:
    """A test module's ``sim_root`` fixture: one :func:`simulator` for the whole module."""

    @pytest.fixture(scope="module")
    def sim_root() -> Iterator[str]:
        with simulator(settings, require_key) as root:
            yield root

    return sim_root


def with_adapter(build: Callable[[], A], fn: Callable[[A], Awaitable[T]]) -> T:
    """``fn(adapter)`` in a fresh event loop, the adapter built inside it and closed after."""

    async def run() -> T:
        adapter = build()
        try:
            return await fn(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def chat(body: dict[str, Any], stream: bool = False) -> LLMRequest:
    return LLMRequest(operation="chat", model="alias", body=body, stream=stream)


def embeddings(body: dict[str, Any]) -> LLMRequest:
    return LLMRequest(operation="embeddings", model="alias", body=body)


async def drain(stream: AsyncIterable[StreamChunk]) -> list[StreamChunk]:
    return [chunk async for chunk in stream]


def streamed(
    call: Call, root: str, target: Target, body: dict[str, Any]
) -> tuple[Any, list[StreamChunk]]:
    """The stream of a chat request and every chunk it yielded."""

    async def run(a: Any) -> tuple[Any, list[StreamChunk]]:
        s = await a.stream(chat(body, stream=True), target)
        return s, await drain(s)

    result: tuple[Any, list[StreamChunk]] = call(root, run)
    return result


def tool_call_deltas(chunks: list[StreamChunk]) -> list[dict[str, Any]]:
    return [
        tc
        for c in chunks
        if c.data["choices"]
        for tc in c.data["choices"][0]["delta"].get("tool_calls", [])
    ]


def assert_text_completion(resp: LLMResponse, served: str) -> dict[str, Any]:
    """A plain answer: a ``chat.completion`` that stopped, its usage reported and in the body.
    Returns its choice."""
    assert resp.body["object"] == "chat.completion"
    choice: dict[str, Any] = resp.body["choices"][0]
    assert choice["message"]["content"] and choice["finish_reason"] == "stop"
    assert resp.served_model == served
    assert resp.usage.output_tokens == resp.body["usage"]["completion_tokens"] > 0
    assert resp.usage.input_tokens > 0 and not resp.usage.estimated
    return choice


def assert_text_stream(s: Stream, chunks: list[StreamChunk], served: str) -> None:
    """A streamed answer asked with ``include_usage``: a role delta, one token per content
    piece, one ``stop``, then the usage chunk with the exact output count."""
    deltas = [c.data["choices"][0]["delta"] for c in chunks if c.data["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    pieces = [d["content"] for d in deltas[1:] if d.get("content")]
    assert s.usage is not None and s.usage.output_tokens == len(pieces)
    finishes = [c.data["choices"][0]["finish_reason"] for c in chunks if c.data["choices"]]
    assert [f for f in finishes if f] == ["stop"]
    usage_chunk = chunks[-1].data
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == len(pieces)
    assert s.served_model == served and s.upstream_request_id


def only_tool_call(resp: LLMResponse) -> dict[str, Any]:
    """The one tool call of an answer that called a tool instead of answering."""
    choice = resp.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (tc,) = choice["message"]["tool_calls"]
    assert isinstance(tc, dict)
    return tc


def status_error(
    call: Call, fn: Callable[[Any], Awaitable[Any]], **faults: Any
) -> UpstreamStatusError:
    """The error an adapter raises when the simulator answers every request with ``faults``."""
    settings = SimSettings(faults=SimFaults(**faults))
    with simulator(settings) as root, pytest.raises(UpstreamStatusError) as info:
        call(root, fn)
    return info.value


def broken_stream(
    call: Call, target: Target, fault: str, messages: list[Any] = USER
) -> tuple[Any, list[StreamChunk]]:
    """A 20-token stream the simulator cuts (``reset``) or garbles (``malformed``) part-way:
    reading it must end in :class:`UpstreamProtocolError`. The stream, and what arrived."""
    faults = SimFaults(rate_reset=1.0) if fault == "reset" else SimFaults(rate_malformed=1.0)
    settings = SimSettings(faults=faults, min_output_tokens=20, max_output_tokens=20)
    seen: list[StreamChunk] = []

    async def consume(s: AsyncIterable[StreamChunk]) -> None:
        async for chunk in s:
            seen.append(chunk)

    async def run(a: Any) -> Any:
        s = await a.stream(chat({"messages": messages}, stream=True), target)
        with pytest.raises(UpstreamProtocolError):
            await consume(s)
        return s

    with simulator(settings) as root:
        stream = call(root, run)
    return stream, seen


stream_faults = pytest.mark.parametrize("fault", ["reset", "malformed"])

"""The outage itself: how a provider fails, and how the drill makes it fail.

Where the upstream is daytwo's simulator, the simulator plays the outage (a scheduled
``SimOutage``: real 503s, 429s or hanging requests on the wire). Elsewhere -- a refused
connection, or a real provider from the user's config -- the provider's adapter in the running
gateway is swapped for a :class:`FailingAdapter` for the outage phase: every call fails the way
a real outage of that kind reaches the pipeline, and the real adapter is put back afterwards.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal, NoReturn, get_args

from daytwo.core.errors import ProviderError, UpstreamStatusError, UpstreamUnavailable

if TYPE_CHECKING:
    from daytwo.core.types import LLMRequest, LLMResponse
    from daytwo.gateway.app import Gateway
    from daytwo.providers.base import Adapter, Target, UpstreamStream

Mode = Literal["refused", "503", "429", "hang"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: What a 429 asks the caller to wait, seconds (the simulator's default too).
RETRY_AFTER_S = 1


def outage_error(mode: Mode, provider: str) -> ProviderError:
    """The error a call meets during an outage of ``mode`` (not ``hang``: that one never
    answers)."""
    if mode == "refused":
        return UpstreamUnavailable(f"cannot connect to {provider}: connection refused (drill)")
    if mode == "429":
        return UpstreamStatusError(
            429,
            f"{provider} is rate limiting every request (drill)",
            upstream_type="rate_limit_error",
            headers={"retry-after": str(RETRY_AFTER_S)},
        )
    if mode == "503":
        return UpstreamStatusError(
            503, f"{provider} is unavailable (drill)", upstream_type="service_unavailable"
        )
    raise ValueError(f"mode {mode} has no error: it hangs")


class FailingAdapter:
    """An adapter whose every call fails like ``mode``; ``hang`` waits until the pipeline's
    per-try timeout cancels it. ``inner`` is the real adapter it stands in for."""

    def __init__(self, inner: Adapter, mode: Mode, provider: str) -> None:
        self.inner = inner
        self.mode = mode
        self.provider = provider

    async def _fail(self) -> NoReturn:
        if self.mode == "hang":
            await asyncio.Event().wait()  # nothing sets it: only a cancellation ends this
        raise outage_error(self.mode, self.provider)

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        await self._fail()

    async def stream(self, req: LLMRequest, target: Target) -> UpstreamStream:
        await self._fail()

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        await self._fail()

    async def aclose(self) -> None:
        await self.inner.aclose()


class AdapterSwap:
    """Puts a :class:`FailingAdapter` in place of one provider's adapter in a running gateway,
    and the real one back. Both run on the gateway's own event loop: the pipeline reads the
    adapter table there."""

    def __init__(self, gateway: Gateway, provider: str, mode: Mode) -> None:
        self.gateway = gateway
        self.provider = provider
        self.mode = mode
        self._real: Adapter | None = None

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self.gateway.loop
        if loop is None:
            raise RuntimeError("the gateway is not running")
        return loop

    async def begin(self) -> None:
        async def swap() -> None:
            adapters = self.gateway.runtime.adapters
            self._real = adapters[self.provider]
            adapters[self.provider] = FailingAdapter(self._real, self.mode, self.provider)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(swap(), self._loop()))

    async def end(self) -> None:
        async def restore() -> None:
            adapters = self.gateway.runtime.adapters
            if self._real is not None and isinstance(adapters.get(self.provider), FailingAdapter):
                adapters[self.provider] = self._real

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(restore(), self._loop()))

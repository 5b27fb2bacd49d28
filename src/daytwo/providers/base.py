"""The seam between the pipeline and upstreams: one small protocol every adapter implements.

An adapter is built once per configured provider (it owns its connection pool and its resolved
credential) and serves every deployment of that provider. It translates the normalized,
OpenAI-shaped request into its wire format and back, and reports usage exactly as the upstream
gave it. It raises only :class:`daytwo.core.errors.ProviderError` subclasses; foreign exceptions
are mapped at this boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the provider's name and the model name the upstream knows."""

    provider: str
    model: str
    deployment: str


class UpstreamStream(Protocol):
    """An open streamed answer. Attributes fill in while iterating; ``usage`` is the upstream's
    own final count, or None when it reported none (the pipeline then estimates)."""

    usage: Usage | None
    served_model: str | None
    #: The provider's fingerprint of the serving system (see ``LLMResponse.fingerprint``).
    fingerprint: str | None
    upstream_request_id: str | None
    #: The rate-limit headers the upstream sent with the stream (see ``LLMResponse``).
    rate_headers: dict[str, str] | None

    def __aiter__(self) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None: ...


class Adapter(Protocol):
    """One upstream wire format."""

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        """A non-streamed chat completion."""
        ...

    async def stream(self, req: LLMRequest, target: Target) -> UpstreamStream:
        """Open a streamed chat completion. Errors before the first chunk raise here."""
        ...

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        """Embeddings."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

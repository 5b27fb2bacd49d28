"""The plain data that travels through the pipeline: one normalized request, usage, attribution.

The normalized request body is OpenAI-shaped (Chat Completions / Embeddings): it is the lingua
franca that every ingress decodes into and every egress adapter encodes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Operation = Literal["chat", "embeddings"]

#: Attribution fields, in the order reports show them.
ATTRIBUTION_FIELDS = ("project", "workflow", "feature", "agent", "session", "user", "environment")
DEFAULT_PROJECT = "default"
#: Every field a spend-control scope may name (attribution + key, model, provider), in the
#: order scope keys list them.
SCOPE_FIELDS = (*ATTRIBUTION_FIELDS, "key", "model", "provider")

#: A JSON value's type as JSON Schema names it, with the article OpenAI's errors put before it.
_JSON_TYPES: tuple[tuple[type, str, str], ...] = (
    (bool, "boolean", "a boolean"),  # before int: a bool is an int in Python
    (int, "integer", "an integer"),
    (float, "number", "a number"),
    (str, "string", "a string"),
    (list, "array", "an array"),
)


def json_type_name(value: Any, *, article: bool = False) -> str:
    """The JSON Schema name of a decoded JSON value's type (``"an integer"`` with ``article``).

    Error messages that say what a field got instead of what it wanted use this, so the prompt
    renderer and the OpenAI door name types the same way.
    """
    if value is None:
        return "null"
    for kind, name, with_article in _JSON_TYPES:
        if isinstance(value, kind):
            return with_article if article else name
    return "an object" if article else "object"


@dataclass(slots=True)
class Attribution:
    """Who and what caused a call. ``attributed`` is False when no project was given."""

    project: str = DEFAULT_PROJECT
    workflow: str | None = None
    feature: str | None = None
    agent: str | None = None
    session: str | None = None
    user: str | None = None
    environment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    attributed: bool = False


@dataclass(slots=True)
class Usage:
    """Token counts of one call, in OpenAI's convention whatever the provider:

    * ``input_tokens`` is *all* input, including cached reads and cache writes;
      ``cached_input_tokens`` and ``cache_write_tokens`` say which part of it was which.
    * ``output_tokens`` is all output, including ``reasoning_tokens``.
    * ``estimated`` is True when daytwo counted instead of the upstream reporting.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Cost:
    """The priced outcome of a call: ``nanousd`` is None when no price is known."""

    nanousd: int | None
    price_ref: str | None


@dataclass(frozen=True, slots=True)
class NativeRequest:
    """The client's own request body, kept beside the normalized one: an upstream that speaks
    the same wire format gets it nearly as-is (only ``model`` and the output cap change), so
    features the normalized shape has no words for -- Anthropic's ``cache_control``,
    ``thinking``, ``output_config`` -- reach it unchanged."""

    #: The wire format of ``body`` (``anthropic``).
    wire: str
    body: dict[str, Any]
    #: Client beta flags (``anthropic-beta``), before each provider's allowlist filters them.
    beta: tuple[str, ...] = ()
    #: The first field of ``body`` only an upstream of this wire format can honour (routing
    #: then keeps only such deployments); None when any upstream can answer.
    requires: str | None = None


@dataclass(slots=True)
class LLMRequest:
    """One normalized request. ``body`` is OpenAI-shaped; ``model`` is the alias asked for."""

    operation: Operation
    model: str
    body: dict[str, Any]
    stream: bool = False
    #: The client's own body, when its door keeps it for a same-format upstream.
    native: NativeRequest | None = None
    #: The retrieved context the application reported (``daytwo_context``): taken out of the
    #: body by the door, never forwarded, kept in memory for the online evaluators only.
    context: tuple[str, ...] | None = None
    #: The variables of the prompt the call named, as the client sent them: taken out of the
    #: body by stage 3, never forwarded, kept for the audit capture.
    variables: dict[str, Any] | None = None


@dataclass(slots=True)
class LLMResponse:
    """A complete (non-streamed) answer, OpenAI-shaped, with what the ledger needs to know."""

    body: dict[str, Any]
    usage: Usage
    served_model: str | None = None
    upstream_request_id: str | None = None
    #: The provider's fingerprint of the system that served the answer (OpenAI's
    #: ``system_fingerprint``); None when its wire format has none or it sent none.
    fingerprint: str | None = None
    #: The upstream's bytes when they already are the client's format (saves a re-encode).
    raw: bytes | None = None
    #: The wire format of ``raw``: a door relays it only when it speaks that format.
    wire: str = "openai"
    #: The rate-limit headers of the answer (``x-ratelimit-*``, ``anthropic-ratelimit-*``):
    #: routing shifts traffic before the upstream's quota runs out.
    rate_headers: dict[str, str] | None = None


@dataclass(slots=True)
class StreamChunk:
    """One streamed event, OpenAI ``chat.completion.chunk``-shaped, plus its wire bytes."""

    data: dict[str, Any]
    raw: bytes | None = None
    #: The wire format of ``raw`` (see ``LLMResponse.wire``); an ``anthropic`` chunk's
    #: ``data`` may be empty (an event with no Chat Completions counterpart, e.g. ``ping``).
    wire: str = "openai"

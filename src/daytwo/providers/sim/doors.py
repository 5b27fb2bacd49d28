"""The provider APIs the simulator's HTTP server speaks, one :class:`Door` each.

A door says which POST paths it answers, how its API authenticates, what its error bodies look
like, and turns a decoded request body into an :class:`Exchange`. All doors of one server share
one engine (one request counter, one fault sequence, one outage clock), so a scheduled outage
hits every format at once, as a real provider outage would.

Adding a format: a ``WireFormat`` encoder, a ``Door`` (usually in the same module), and one line
in :data:`DOORS`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, Protocol

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.anthropic_format import (
    AnthropicFormat,
    count_exchange,
    messages_exchange,
)
from daytwo.providers.sim.azure_format import AzureDoor, AzureFormat
from daytwo.providers.sim.bedrock_format import BedrockDoor, BedrockFormat
from daytwo.providers.sim.engine import SimEngine
from daytwo.providers.sim.exchange import Exchange, Simulator
from daytwo.providers.sim.gemini_format import GeminiDoor, GeminiFormat

Headers = list[tuple[bytes, bytes]]


def header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def bearer_matches(headers: Headers, key: bytes) -> bool:
    given = header(headers, b"authorization")
    return given is not None and hmac.compare_digest(given, b"Bearer " + key)


class Door(Protocol):
    sim: Simulator

    def match(self, path: str) -> Any | None:
        """What this door needs to know from a POST path it answers (e.g. the operation and a
        model named in the path), or None for a path that is not this door's."""
        ...

    def answer(self, route: Any, body: dict[str, Any], query: bytes) -> Exchange: ...

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool: ...

    def unauthorized(self, headers: Headers) -> Exchange: ...

    def bad_body(self, status: int, message: str) -> Exchange:
        """413 (too large) or 400 (not a JSON object), in this API's error shape."""
        ...


_OPENAI_PATHS = {
    "/v1/chat/completions": "chat",
    "/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/embeddings": "embeddings",
}


class OpenAIDoor:
    """OpenAI Chat Completions and Embeddings (with or without the ``/v1`` prefix)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def match(self, path: str) -> str | None:
        return _OPENAI_PATHS.get(path)

    def answer(self, route: str, body: dict[str, Any], query: bytes) -> Exchange:
        return self.sim.chat(body) if route == "chat" else self.sim.embeddings(body)

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool:
        return bearer_matches(headers, key)

    def unauthorized(self, headers: Headers) -> Exchange:
        auth = header(headers, b"authorization")
        # Like several OpenAI-compatible servers, the sim echoes the key it was given, in full:
        # it is how daytwo's tests prove that upstream messages are redacted before they travel.
        if auth is not None:
            shown = auth.decode("latin-1").removeprefix("Bearer ")
            message = (
                f"Incorrect API key provided: {shown}. (daytwo sim was started with --require-key)"
            )
            return self.sim.error(
                401, message, type="invalid_request_error", code="invalid_api_key"
            )
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        return self.sim.error(401, message, type="invalid_request_error")

    def bad_body(self, status: int, message: str) -> Exchange:
        return self.sim.error(status, message, type="invalid_request_error")


_ANTHROPIC_PATHS = {"/v1/messages": "messages", "/v1/messages/count_tokens": "count_tokens"}


class AnthropicDoor:
    """Anthropic Messages (``POST /v1/messages``, ``/v1/messages/count_tokens``; key in
    ``x-api-key``)."""

    def __init__(self, sim: Simulator, fmt: AnthropicFormat) -> None:
        self.sim = sim
        self.fmt = fmt

    def match(self, path: str) -> str | None:
        return _ANTHROPIC_PATHS.get(path)

    def answer(self, route: str, body: dict[str, Any], query: bytes) -> Exchange:
        if route == "count_tokens":
            return count_exchange(self.sim, body)
        return messages_exchange(self.sim, self.fmt, body)

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool:
        given = header(headers, b"x-api-key")
        if given is not None:
            return hmac.compare_digest(given, key)
        return bearer_matches(headers, key)

    def unauthorized(self, headers: Headers) -> Exchange:
        return self.sim.error(401, "invalid x-api-key", type="authentication_error")

    def bad_body(self, status: int, message: str) -> Exchange:
        kind = "request_too_large" if status == 413 else "invalid_request_error"
        return self.sim.error(status, message, type=kind)


DoorFactory = Callable[[SimSettings, SimEngine], Door]


def _anthropic_door(settings: SimSettings, engine: SimEngine) -> AnthropicDoor:
    fmt = AnthropicFormat(settings)
    return AnthropicDoor(_shared(Simulator(settings, fmt), engine), fmt)


def _shared(sim: Simulator, engine: SimEngine) -> Simulator:
    sim.engine = engine
    return sim


#: Every door the server opens, in match order. The first one's engine is the shared one.
DOORS: list[DoorFactory] = [
    lambda s, e: _anthropic_door(s, e),
    lambda s, e: BedrockDoor(_shared(Simulator(s, BedrockFormat(s)), e)),
    lambda s, e: AzureDoor(_shared(Simulator(s, AzureFormat(s)), e)),
    lambda s, e: GeminiDoor(_shared(Simulator(s, GeminiFormat(s)), e)),
]


def open_doors(settings: SimSettings, openai: Simulator) -> list[Door]:
    """The OpenAI door (over ``openai``, whose engine all doors share) and every other door."""
    engine = openai.engine
    return [OpenAIDoor(openai), *(build(settings, engine) for build in DOORS)]

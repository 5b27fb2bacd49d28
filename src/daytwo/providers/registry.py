"""Builds one adapter per configured provider, dispatching on the provider's ``type``.

Adding a wire format means adding one module and one line to :data:`FACTORIES`. Every adapter
built here is wrapped in :class:`~daytwo.providers.guard.GuardedAdapter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daytwo.config.schema import ProviderConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.providers.base import Adapter
from daytwo.providers.guard import GuardedAdapter


def _openai(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.openai import OpenAIAdapter

    return OpenAIAdapter(cfg, secrets)


def _anthropic(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.anthropic import AnthropicAdapter

    return AnthropicAdapter(cfg, secrets)


def _gemini(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.gemini import GeminiAdapter

    return GeminiAdapter(cfg, secrets)


def _azure_openai(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.azure import AzureOpenAIAdapter

    return AzureOpenAIAdapter(cfg, secrets)


def _bedrock(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.bedrock import BedrockAdapter

    return BedrockAdapter(cfg, secrets)


def _sim(cfg: Any, secrets: SecretRegistry) -> Adapter:
    from daytwo.providers.sim.adapter import SimAdapter

    return SimAdapter(cfg.sim)


#: provider ``type`` → factory(config, secrets) → adapter
FACTORIES: dict[str, Callable[[Any, SecretRegistry], Adapter]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
    "azure_openai": _azure_openai,
    "bedrock": _bedrock,
    "sim": _sim,
}


def build_adapter(cfg: ProviderConfig, secrets: SecretRegistry) -> Adapter:
    """The adapter for ``cfg``, behind the guard every upstream-derived string passes
    (:mod:`daytwo.providers.guard`)."""
    return GuardedAdapter(FACTORIES[cfg.type](cfg, secrets), secrets)

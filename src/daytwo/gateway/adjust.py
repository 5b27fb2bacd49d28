"""Per-deployment adjustments of a request (``models.ALIAS.deployments[].params``,
``drop_params``, ``system_prefix``): what a route author sets so that one call fits every
deployment it may fail over to -- a lower temperature for one model, a parameter another
provider refuses, a system prompt a weaker model needs.

Adjustments work on the normalized (OpenAI-shaped) body, before the adapter translates it, and
never change the original: a failover to another deployment starts from the client's request.
``max_tokens`` / ``max_completion_tokens`` in ``params`` only ever lower the client's value (a
budget reservation was sized on it).

A request that keeps the client's own body for a same-format upstream (the Anthropic door's
:class:`~daytwo.core.types.NativeRequest`) gets the same adjustments there, in that format's
words: ``temperature``, ``top_p``, ``top_k`` and ``stop`` (``stop_sequences``) are set,
``drop_params`` removed, ``system_prefix`` put before ``system``; the output cap travels in the
normalized body, which the relay reads it from. Parameters with no Anthropic name are not set
on the relayed body (Anthropic refuses unknown fields).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from daytwo.config.schema import DeploymentConfig
from daytwo.core.types import LLMRequest, NativeRequest

_CAPS = ("max_tokens", "max_completion_tokens")


def adjust(req: LLMRequest, dep: DeploymentConfig) -> LLMRequest:
    """``req`` as it goes to ``dep`` (``req`` itself when ``dep`` adjusts nothing)."""
    if not dep.adjusts:
        return req
    body = dict(req.body)
    for name in dep.drop_params:
        body.pop(name, None)
    for name, value in dep.params.items():
        if name in _CAPS:
            asked = body.get(name)
            if isinstance(asked, int) and isinstance(value, int) and asked < value:
                continue
        body[name] = value
    if dep.system_prefix and isinstance(body.get("messages"), list):
        body["messages"] = _with_system_prefix(body["messages"], dep.system_prefix)
    if req.native is not None:
        return replace(req, body=body, native=_adjust_native(req.native, dep))
    return replace(req, body=body)


#: Normalized parameter names → the relayed Anthropic body's (the others have none).
_NATIVE_NAMES = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}
_NATIVE_NAMES["stop"] = "stop_sequences"


def _adjust_native(native: NativeRequest, dep: DeploymentConfig) -> NativeRequest:
    body = dict(native.body)
    for name in dep.drop_params:
        body.pop(_NATIVE_NAMES.get(name, name), None)
    for name, value in dep.params.items():
        key = _NATIVE_NAMES.get(name)
        if key == "stop_sequences":
            body[key] = [value] if isinstance(value, str) else value
        elif key is not None:
            body[key] = value
    prefix = dep.system_prefix
    if prefix:
        system = body.get("system")
        if isinstance(system, str) and system:
            body["system"] = f"{prefix}\n\n{system}"
        elif isinstance(system, list) and system:
            body["system"] = [{"type": "text", "text": prefix}, *system]
        else:
            body["system"] = prefix
    return replace(native, body=body)


def _with_system_prefix(messages: list[Any], prefix: str) -> list[Any]:
    first = messages[0] if messages else None
    if not isinstance(first, dict) or first.get("role") not in ("system", "developer"):
        return [{"role": "system", "content": prefix}, *messages]
    content = first.get("content")
    if isinstance(content, str):
        merged: Any = f"{prefix}\n\n{content}"
    elif isinstance(content, list):
        merged = [{"type": "text", "text": prefix}, *content]
    else:
        merged = prefix
    return [{**first, "content": merged}, *messages[1:]]

"""Per-deployment adjustments of a request (``models.ALIAS.deployments[].params``,
``drop_params``, ``system_prefix``): what a route author sets so that one call fits every
deployment it may fail over to -- a lower temperature for one model, a parameter another
provider refuses, a system prompt a weaker model needs.

Adjustments work on the normalized (OpenAI-shaped) body, before the adapter translates it, and
never change the original: a failover to another deployment starts from the client's request.
``max_tokens`` / ``max_completion_tokens`` in ``params`` only ever lower the client's value (a
budget reservation was sized on it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from daytwo.config.schema import DeploymentConfig
from daytwo.core.types import LLMRequest

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
    return replace(req, body=body)


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

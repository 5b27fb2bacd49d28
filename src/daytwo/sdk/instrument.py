"""``instrument(client)``: an ``openai`` / ``anthropic`` client whose requests carry the
application's context to the gateway.

It installs one request event hook on the client's HTTP client (the httpx client both SDKs send
through), run before every attempt, retries included. The hook adds, to each request:

- the attribution of the innermost :func:`daytwo.sdk.attribution` scope, for the headers the
  request does not already have (tags merge, the request's own winning by name);
- the current OpenTelemetry context, through the global propagator (W3C ``traceparent`` and
  ``tracestate`` unless ``OTEL_PROPAGATORS`` says otherwise), unless the request already has a
  ``traceparent`` (the ``anthropic`` SDK's own client span injects one). The gateway's call span
  then joins the application's trace, and its ledger row carries the trace id.

The hook is installed on the HTTP client, so copies made by ``with_options`` or
:func:`daytwo.sdk.attribute`, which share it, are instrumented too; instrumenting twice is
harmless. The SDKs themselves are never imported here: any client whose ``_client`` is an httpx
client with ``event_hooks`` will do.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from opentelemetry import propagate

from daytwo.sdk.attribution import TAGS_HEADER, current_attribution, decode_tags, encode_tags

C = TypeVar("C")

TRACEPARENT = "traceparent"


def prepare(headers: Any) -> None:
    """Add the attribution in effect and the trace context to ``headers`` (an httpx
    ``Headers``, or any mapping with case-insensitive ``in``), leaving what is there."""
    scope = current_attribution()
    for name, value in scope.headers().items():
        if name == TAGS_HEADER and name in headers:
            headers[name] = encode_tags({**scope.tags, **decode_tags(headers[name])})
        elif name not in headers:
            headers[name] = value
    if TRACEPARENT not in headers:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        for name, value in carrier.items():
            if name not in headers:
                headers[name] = value


def _hook(request: Any) -> None:
    prepare(request.headers)


async def _async_hook(request: Any) -> None:
    prepare(request.headers)


def instrument(client: C) -> C:
    """Install daytwo's request hook on ``client`` (``openai.OpenAI`` / ``AsyncOpenAI``,
    ``anthropic.Anthropic`` / ``AsyncAnthropic``) and return the same client.

    Raises TypeError for anything else."""
    http = getattr(client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if http is None or not isinstance(hooks, dict) or not isinstance(hooks.get("request"), list):
        raise TypeError(
            "instrument() takes an openai or anthropic client (OpenAI, AsyncOpenAI, Anthropic, "
            f"AsyncAnthropic), not {type(client).__name__}."
        )
    hook = _async_hook if inspect.iscoroutinefunction(getattr(http, "send", None)) else _hook
    if hook not in hooks["request"]:
        # The setter, not an in-place append: httpx copies the lists it is given.
        http.event_hooks = {**hooks, "request": [*hooks["request"], hook]}
    return client

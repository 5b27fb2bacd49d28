"""daytwo for applications: attribution headers and RAG/agent spans, one import.

::

    import openai
    from daytwo import sdk

    client = sdk.attribute(
        sdk.instrument(openai.OpenAI(base_url="http://localhost:4000/v1", api_key=key)),
        project="helpdesk",
        environment="prod",
    )

    with sdk.attribution(workflow="rag", session=session_id), sdk.agent("help-bot"):
        with sdk.retrieval("help-center", k=4) as r:
            hits = index.search(question, k=4)
            r.record([h.id for h in hits], [h.score for h in hits])
        answer = client.chat.completions.create(      # the gateway's span joins this trace
            ..., extra_body=sdk.context([h.text for h in hits])  # for the faithfulness judge
        )

Modules: ``attribution`` (the ``X-Daytwo-*`` headers: per client, per scope), ``instrument``
(the request hook that sends the scope's attribution and the ``traceparent``), ``spans`` (the
GenAI-convention steps), ``retrieved`` (``context``: the retrieved chunks sent for the gateway's
judges), ``feedback`` (the application's verdict on an answer, by its call id). Needs only the
OpenTelemetry API; the ``openai`` / ``anthropic`` packages are never imported here, only the
clients handed in are used. See ``docs/sdk.md``.
"""

from __future__ import annotations

from daytwo.sdk.attribution import (
    MAX_TAGS,
    MAX_VALUE_LEN,
    Attribution,
    AttributionScope,
    attribute,
    attribution,
    current_attribution,
)
from daytwo.sdk.feedback import FeedbackError, feedback
from daytwo.sdk.instrument import instrument
from daytwo.sdk.retrieved import context
from daytwo.sdk.spans import (
    Agent,
    ContextAssembly,
    Retrieval,
    Step,
    ToolCall,
    agent,
    context_assembly,
    current_trace_id,
    retrieval,
    tool_call,
)

__all__ = [
    "MAX_TAGS",
    "MAX_VALUE_LEN",
    "Agent",
    "Attribution",
    "AttributionScope",
    "ContextAssembly",
    "FeedbackError",
    "Retrieval",
    "Step",
    "ToolCall",
    "agent",
    "attribute",
    "attribution",
    "context",
    "context_assembly",
    "current_attribution",
    "current_trace_id",
    "feedback",
    "instrument",
    "retrieval",
    "tool_call",
]

"""The simulator's Azure OpenAI: OpenAI's wire format behind Azure's URLs, key and habits.

``POST /openai/deployments/{deployment}/chat/completions|embeddings?api-version=...`` with the
key in ``api-key`` (or an Entra token as ``Authorization: Bearer``). What differs from OpenAI,
as Azure does it (Azure OpenAI REST reference,
https://learn.microsoft.com/azure/ai-services/openai/reference):

* without ``api-version`` the answer is HTTP 404 ``{"error": {"code": "404", "message":
  "Resource not found"}}`` -- Azure's answer, not a 400 (MicrosoftDocs/azure-docs#114602);
* ``model`` in answers is the model the deployment serves, dated (``gpt-4o-mini-2024-07-18``),
  whatever the deployment is called: a deployment named after a model (or containing its name,
  ``prod-gpt-4o-mini``) serves that model, any other name serves itself;
* answers carry ``prompt_filter_results`` and per-choice ``content_filter_results``; a stream
  opens with a chunk holding only the prompt filter results (``"id": ""``, ``"model": ""``,
  ``"choices": []``); a user message containing :data:`CONTENT_FILTER_TRIGGER` is refused as a
  filtered prompt (HTTP 400, ``code: "content_filter"``) so clients can test that path;
* a 429 is ``{"error": {"code": "429", "message": ...}}`` with ``retry-after`` and
  ``retry-after-ms``; answers carry ``apim-request-id`` and ``x-ms-region``.
"""

from __future__ import annotations

import hmac
import re
from typing import Any
from urllib.parse import parse_qs

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.engine import Fault, SimReply
from daytwo.providers.sim.exchange import Exchange, Headers, Simulator
from daytwo.providers.sim.openai_format import OpenAIFormat

#: Put this in a user message to have the prompt refused by the (simulated) content filter.
CONTENT_FILTER_TRIGGER = "[daytwo-sim:content_filter]"
#: Model name → the dated model Azure reports serving it.
SERVED_MODELS = {
    "gpt-4o": "gpt-4o-2024-11-20",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "text-embedding-3-small": "text-embedding-3-small",
    "text-embedding-3-large": "text-embedding-3-large",
    "text-embedding-ada-002": "text-embedding-ada-002",
}
_SAFE = {"filtered": False, "severity": "safe"}
_FILTERS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
_PATH = re.compile(
    r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<op>chat/completions|embeddings)$"
)


def served_model(deployment: str) -> str:
    """The model a deployment serves (see the module docstring)."""
    if deployment in SERVED_MODELS:
        return SERVED_MODELS[deployment]
    known = [name for name in SERVED_MODELS if name in deployment]
    return SERVED_MODELS[max(known, key=len)] if known else deployment


class AzureFormat(OpenAIFormat):
    """OpenAI's encoder with Azure's additions (implements ``exchange.WireFormat``)."""

    def __init__(self, settings: SimSettings) -> None:
        super().__init__(settings)
        self._retry_ms = str(settings.faults.retry_after_s * 1000).encode()

    def completion(self, reply: SimReply) -> dict[str, Any]:
        out = super().completion(reply)
        out["prompt_filter_results"] = _PROMPT_FILTERS
        for choice in out["choices"]:
            choice["content_filter_results"] = _FILTERS
        return out

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        filters = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": _PROMPT_FILTERS,
        }
        return [(0, filters), *super().chunks(reply, include_usage=include_usage)]

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        if code is not None and code.isdigit():  # Azure's own errors: a status code and text
            return {"error": {"code": code, "message": message}}
        return super().error(message, type=type, param=param, code=code)

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        if fault == "429":
            return (
                429,
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have "
                "exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry "
                f"after {self._retry_after_s} seconds. (simulated by daytwo sim)",
                "rate_limit_error",
                "429",
            )
        return super().fault_error(fault, model=model)

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers:
        out = super().headers(request_id, stream=stream, processing_ms=processing_ms, fault=fault)
        out.append((b"apim-request-id", request_id.removeprefix("req_").encode()))
        out.append((b"x-ms-region", b"East US"))
        if fault == "429":
            out.append((b"retry-after-ms", self._retry_ms))
        return out


class AzureDoor:
    """Azure OpenAI chat completions and embeddings, per deployment."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def match(self, path: str) -> tuple[str, str] | None:
        found = _PATH.match(path)
        return (found["deployment"], found["op"]) if found else None

    def answer(self, route: tuple[str, str], body: dict[str, Any], query: bytes) -> Exchange:
        deployment, op = route
        if not parse_qs(query.decode("latin-1")).get("api-version"):
            return self._azure_error(404, "Resource not found", "404")
        body = {**body, "model": served_model(deployment)}  # Azure ignores the body's model
        if op == "embeddings":
            return self.sim.embeddings(body)
        if _asks_for_filter(body.get("messages")):
            return self._content_filtered()
        return self.sim.chat(body)

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool:
        for name, value in headers:
            if name == b"api-key":
                return hmac.compare_digest(value, key)
            if name == b"authorization":
                return hmac.compare_digest(value, b"Bearer " + key)
        return False

    def unauthorized(self, headers: Headers) -> Exchange:
        return self._azure_error(
            401,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
            "401",
        )

    def bad_body(self, status: int, message: str) -> Exchange:
        return self.sim.error(status, message, type="invalid_request_error")

    def _azure_error(self, status: int, message: str, code: str) -> Exchange:
        return self.sim.error(status, message, type="", code=code)

    def _content_filtered(self) -> Exchange:
        ex = self.sim.error(
            400,
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy. Please modify your prompt and retry. (simulated by daytwo sim)",
            type="invalid_request_error",
            param="prompt",
            code="content_filter",
        )
        assert ex.data is not None
        filtered = {**_FILTERS, "violence": {"filtered": True, "severity": "medium"}}
        ex.data["error"]["status"] = 400
        ex.data["error"]["innererror"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": filtered,
        }
        ex.body = self.sim.fmt.dumps(ex.data)
        return ex


def _asks_for_filter(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            text = content if isinstance(content, str) else str(content)
            if CONTENT_FILTER_TRIGGER in text:
                return True
    return False

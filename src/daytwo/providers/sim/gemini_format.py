"""The simulator's Gemini API: engine answers → Google's wire format, and the door that serves
``POST /{version}/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``,
``:embedContent``, ``:batchEmbedContents``), key in ``x-goog-api-key`` or ``?key=``.

Shapes follow the Gemini API as Google's SDKs parse it: a ``GenerateContentResponse``
(``candidates[].content.parts`` with text and ``functionCall`` parts, ``finishReason``, ``index``;
``usageMetadata`` with ``promptTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``;
``modelVersion``; ``responseId``). A stream is a series of such responses, one per SSE event framed
``data: {...}\\r\\n\\r\\n`` as Google frames them; each carries the cumulative ``usageMetadata``
(none when ``stream_usage`` is off), function calls arrive whole, and a last event gives every
candidate its ``finishReason``. Embeddings answer ``{"embedding": {"values"}}`` or
``{"embeddings": [...]}`` with no token counts, as Google does. Errors are
``{"error": {"code", "message", "status", "details"}}``; a 429 is ``RESOURCE_EXHAUSTED`` with a
``google.rpc.RetryInfo`` detail and no ``retry-after`` header.

The engine is OpenAI-shaped: requests go through :mod:`daytwo.providers.gemini_inbound` first.
Not simulated: ``streamGenerateContent`` without ``alt=sse`` (Google then streams a JSON array).
"""

from __future__ import annotations

import hmac
import os
import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from daytwo.config.schema import SimSettings
from daytwo.core.errors import InvalidRequest
from daytwo.providers.gemini_inbound import (
    openai_embeddings_from_gemini,
    openai_request_from_gemini,
)
from daytwo.providers.gemini_wire import GEMINI_FINISH
from daytwo.providers.sim.engine import Fault, SimChoice, SimEmbeddings, SimReply
from daytwo.providers.sim.exchange import Exchange, Headers, Simulator

#: ``/v1beta/models/gemini-2.5-flash:generateContent`` → (version, model, method)
_PATH = re.compile(
    r"^/(v1(?:alpha|beta)?\d*)/(?:models|tunedModels)/([^/:]+)"
    r":(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$"
)
#: Google's canonical status → the HTTP status and numeric ``code`` it travels with.
_CODES = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: daytwo's error types (the engine's InvalidRequest) → Google's canonical status.
_STATUS_OF_TYPE = {
    "invalid_request_error": "INVALID_ARGUMENT",
    "authentication_error": "UNAUTHENTICATED",
    "permission_error": "PERMISSION_DENIED",
    "not_found_error": "NOT_FOUND",
}
_RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"


class GeminiFormat:
    """Encoder for the Gemini API's wire format (implements ``exchange.WireFormat``).
    ``single``: embeddings answer as ``embedContent`` (one ``embedding``) rather than a batch."""

    #: The stream simply ends; there is no sentinel frame.
    end_frame: bytes | None = None

    def __init__(self, settings: SimSettings, *, single: bool = False) -> None:
        self._retry_after_s = settings.faults.retry_after_s
        self._single = single

    # ------------------------------------------------------------------ chat

    def completion(self, reply: SimReply) -> dict[str, Any]:
        candidates = []
        for c in reply.choices:
            parts: list[dict[str, Any]] = []
            if c.pieces or not c.tool_calls:
                parts.append({"text": c.text})
            parts.extend({"functionCall": _call(name, args)} for name, args in _calls(c))
            candidates.append(_candidate(c, parts, finish=True))
        return {
            "candidates": candidates,
            "usageMetadata": _usage(reply.input_tokens, reply.output_tokens),
            **_head(reply),
        }

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        events: list[tuple[int, SimChoice, dict[str, Any]]] = []
        for c in reply.choices:
            events.extend((step, c, {"text": piece}) for step, piece in enumerate(c.pieces))
            end = len(c.pieces)
            for call, (name, args) in zip(c.tool_calls, _calls(c), strict=True):
                end += len(call.pieces)  # a call arrives whole, once its tokens are generated
                events.append((max(end - 1, 0), c, {"functionCall": _call(name, args)}))
        events.sort(key=lambda e: e[0])
        if not events:  # nothing generated: one empty text part, then the finish
            events = [(0, c, {"text": ""}) for c in reply.choices]
        head = _head(reply)

        def usage(step: int) -> dict[str, Any]:
            if not include_usage:
                return {}
            done = sum(min(step + 1, c.tokens) for c in reply.choices)
            return {"usageMetadata": _usage(reply.input_tokens, done)}

        out = [
            (step, {"candidates": [_candidate(c, [part])], **usage(step), **head})
            for step, c, part in events
        ]
        last = max(reply.steps - 1, 0)
        final = [_candidate(c, [{"text": ""}], finish=True) for c in reply.choices]
        out.append((last, {"candidates": final, **usage(last), **head}))
        return out

    def frame(self, chunk: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"

    def embeddings(self, emb: SimEmbeddings) -> dict[str, Any]:
        items = [{"values": vec.tolist()} for vec in emb.vectors]
        if self._single:
            return {"embedding": items[0]}
        return {"embeddings": items}

    # ---------------------------------------------------------------- errors

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        status = type if type in _CODES else _STATUS_OF_TYPE.get(type, "INTERNAL")
        err: dict[str, Any] = {"code": _CODES[status], "message": message, "status": status}
        if status == "RESOURCE_EXHAUSTED":
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_paid_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": _RATE_LIMITS_URL,
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{self._retry_after_s}s",
                },
            ]
        return {"error": err}

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        if fault == "429":
            return (
                429,
                "You exceeded your current quota, please check your plan and billing details. "
                f"For more information on this error, head to: {_RATE_LIMITS_URL}. "
                "(simulated by daytwo sim)",
                "RESOURCE_EXHAUSTED",
                None,
            )
        if fault == "503":
            return 503, "The model is overloaded. Please try again later.", "UNAVAILABLE", None
        return 500, "An internal error has occurred. Please retry.", "INTERNAL", None

    # --------------------------------------------------------------- headers

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers:
        ctype = b"text/event-stream" if stream else b"application/json; charset=UTF-8"
        return [
            (b"content-type", ctype),
            (b"vary", b"Origin, X-Origin, Referer"),
            (b"server", b"scaffolding on HTTPServer2"),
            (b"server-timing", f"gfet4t7; dur={processing_ms}".encode()),
            (b"x-xss-protection", b"0"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"x-content-type-options", b"nosniff"),
        ]

    def dumps(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)


def _head(reply: SimReply) -> dict[str, Any]:
    return {"modelVersion": reply.model, "responseId": reply.id.removeprefix("chatcmpl-")[:23]}


def _usage(prompt: int, output: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }


def _candidate(
    c: SimChoice, parts: list[dict[str, Any]], *, finish: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        out["finishReason"] = GEMINI_FINISH[c.finish_reason]
    out["index"] = c.index
    return out


def _calls(c: SimChoice) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for call in c.tool_calls:
        # A call cut by max_tokens has partial JSON; Gemini's args are always whole: {} here.
        try:
            args = orjson.loads(call.arguments)
        except orjson.JSONDecodeError:
            args = {}
        out.append((call.name, args if isinstance(args, dict) else {}))
    return out


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args}


class GeminiDoor:
    """The Gemini API's door of the simulator's HTTP server (see the module docstring)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        # embedContent answers one `embedding`, not a batch: its own encoder, the same engine.
        self._single = Simulator(sim.settings, GeminiFormat(sim.settings, single=True))
        self._single.engine = sim.engine

    def match(self, path: str) -> tuple[str, str] | None:
        m = _PATH.match(path)
        return (m.group(3), m.group(2)) if m else None

    def answer(self, route: tuple[str, str], body: dict[str, Any], query: bytes) -> Exchange:
        method, model = route
        try:
            if method == "embedContent":
                emb = openai_embeddings_from_gemini(body, model=model, batch=False)
                return self._single.embeddings(emb)
            if method == "batchEmbedContents":
                emb = openai_embeddings_from_gemini(body, model=model, batch=True)
                return self.sim.embeddings(emb)
            stream = method == "streamGenerateContent"
            if stream and parse_qs(query.decode("latin-1")).get("alt") != ["sse"]:
                return self._error(
                    400,
                    "daytwo sim serves streamGenerateContent only with alt=sse.",
                    "INVALID_ARGUMENT",
                )
            chat = openai_request_from_gemini(body, model=model, stream=stream)
        except InvalidRequest as exc:
            return self._error(400, exc.message, "INVALID_ARGUMENT")
        return self.sim.chat(chat)

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool:
        given = _header(headers, b"x-goog-api-key")
        if given is None:
            keys = parse_qs(query.decode("latin-1")).get("key")
            given = keys[0].encode("latin-1") if keys else None
        return given is not None and hmac.compare_digest(given, key)

    def unauthorized(self, headers: Headers) -> Exchange:
        given = _header(headers, b"x-goog-api-key")
        if given is None:
            return self._error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
                "PERMISSION_DENIED",
            )
        # Google's message names no key; the sim adds the one it was given, so that daytwo's
        # tests can prove upstream messages are redacted before they travel.
        shown = given.decode("latin-1")
        return self._error(
            400,
            f"API key not valid. Please pass a valid API key. (daytwo sim got: {shown})",
            "INVALID_ARGUMENT",
        )

    def bad_body(self, status: int, message: str) -> Exchange:
        if status == 400:
            message = "Invalid JSON payload received. Expected an object at the top level."
        return self._error(status, message, "INVALID_ARGUMENT")

    def _error(self, status: int, message: str, google_status: str) -> Exchange:
        fmt = self.sim.fmt
        data = fmt.error(message, type=google_status)
        data["error"]["code"] = status
        rid = f"req_{os.urandom(16).hex()}"
        headers = fmt.headers(rid, stream=False, processing_ms=0, fault=None)
        return Exchange(rid, status, 0.0, headers, fmt.dumps(data), data)


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None

"""The simulator's Amazon Bedrock Runtime: Converse, ConverseStream and InvokeModel (embeddings).

Shapes follow the ``bedrock-runtime`` service model that ships with botocore: a Converse answer
(``output.message`` with ``text`` and ``toolUse`` blocks, ``stopReason``, ``usage``,
``metrics``), and the ConverseStream events ``messageStart`` → ``contentBlockDelta`` (text; a
``toolUse`` block opens with ``contentBlockStart``) → ``contentBlockStop`` per block →
``messageStop`` → ``metadata`` (usage), each an AWS event-stream frame (:func:`encode_frame`)
whose JSON payload carries AWS's ``p`` padding field. Errors are ``{"message": ...}`` with the
exception name in ``x-amzn-ErrorType``: a 429 fault is a ``ThrottlingException``, a 503 a
``ServiceUnavailableException``, a 500 an ``InternalServerException``; a malformed fault cuts a
frame in half and closes the connection. Answers carry ``x-amzn-RequestId``.

InvokeModel is simulated for the embedding families daytwo calls: Amazon Titan Text Embeddings
(``{"inputText", "dimensions"}`` → ``{"embedding", "inputTextTokenCount"}``) and Cohere Embed
(``{"texts", "input_type"}`` → ``{"embeddings"}``, token count in the
``X-Amzn-Bedrock-Input-Token-Count`` header).

Authentication: the door checks that the request carries a SigV4 ``Authorization`` header for
the ``bedrock`` service and, when the server has a required key, that its access key id is that
key. It does not recompute the signature: a door's ``authorized`` sees the headers, not the
method, path and body a signature covers.
"""

from __future__ import annotations

import binascii
import hmac
import re
import struct
from collections.abc import Callable
from typing import Any, Literal

import orjson

from daytwo.config.schema import SimSettings
from daytwo.core.errors import InvalidRequest
from daytwo.core.tokens import estimate_input_tokens
from daytwo.providers.bedrock_wire import STOP_REASONS
from daytwo.providers.sim.engine import Fault, SimEmbeddings, SimReply
from daytwo.providers.sim.exchange import Exchange, Headers, Simulator

EmbeddingStyle = Literal["titan", "cohere"]

#: HTTP status → the exception name Bedrock reports with it (``x-amzn-ErrorType``).
EXCEPTION_BY_STATUS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    413: "ValidationException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TITAN_DIMENSIONS = (256, 512, 1024)
_COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
_COHERE_MAX_TEXTS = 96


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One AWS event-stream frame: prelude (total length, headers length, CRC32), string
    headers (name length, name, type 7, value length, value), payload, CRC32 of it all.

    The format is AWS's "Event stream encoding" (e.g. the Amazon Transcribe and Lex developer
    guides); ``tests/providers/sim/test_sim_bedrock.py`` checks it against published bytes.
    """
    encoded = b"".join(
        struct.pack("!B", len(n)) + n + struct.pack("!BH", 7, len(v)) + v
        for n, v in ((name.encode(), value.encode()) for name, value in headers)
    )
    prelude = struct.pack("!II", 16 + len(encoded) + len(payload), len(encoded))
    head = prelude + struct.pack("!I", binascii.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack("!I", binascii.crc32(body))


class BedrockFormat:
    """Encoder for Bedrock Runtime's wire format (implements ``exchange.WireFormat``)."""

    end_frame: bytes | None = None

    def __init__(self, settings: SimSettings, embeddings: EmbeddingStyle = "titan") -> None:
        self._style = embeddings
        self._ttft_ms = settings.ttft_ms
        self._per_token_ms = settings.per_token_ms

    # ------------------------------------------------------------------ chat

    def _latency_ms(self, reply: SimReply) -> int:
        return int(self._ttft_ms + self._per_token_ms * reply.steps)

    def completion(self, reply: SimReply) -> dict[str, Any]:
        c = reply.choices[0]
        content: list[dict[str, Any]] = []
        if c.pieces or not c.tool_calls:
            content.append({"text": c.text})
        for call in c.tool_calls:
            use = {
                "toolUseId": _tool_id(call.id),
                "name": call.name,
                "input": _input(call.arguments),
            }
            content.append({"toolUse": use})
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": STOP_REASONS[c.finish_reason],
            "usage": _usage(reply, c.tokens),
            "metrics": {"latencyMs": self._latency_ms(reply)},
        }

    def chunks(self, reply: SimReply, *, include_usage: bool) -> list[tuple[int, dict[str, Any]]]:
        c = reply.choices[0]
        out: list[tuple[int, dict[str, Any]]] = [(0, _event("messageStart", role="assistant"))]
        index = step = 0
        if c.pieces or not c.tool_calls:
            for piece in c.pieces:
                out.append(
                    (
                        step,
                        _event("contentBlockDelta", delta={"text": piece}, contentBlockIndex=index),
                    )
                )
                step += 1
            out.append((max(step - 1, 0), _event("contentBlockStop", contentBlockIndex=index)))
            index += 1
        for call in c.tool_calls:
            begin = step
            start = {"toolUse": {"toolUseId": _tool_id(call.id), "name": call.name}}
            out.append((step, _event("contentBlockStart", start=start, contentBlockIndex=index)))
            for piece in call.pieces:
                delta = {"toolUse": {"input": piece}}
                out.append(
                    (step, _event("contentBlockDelta", delta=delta, contentBlockIndex=index))
                )
                step += 1
            out.append((max(step - 1, begin), _event("contentBlockStop", contentBlockIndex=index)))
            index += 1
        last = max(reply.steps - 1, 0)
        out.append((last, _event("messageStop", stopReason=STOP_REASONS[c.finish_reason])))
        if include_usage:
            metrics = {"latencyMs": self._latency_ms(reply)}
            out.append((last, _event("metadata", usage=_usage(reply, c.tokens), metrics=metrics)))
        return out

    def frame(self, chunk: dict[str, Any]) -> bytes:
        payload = {**chunk["payload"], "p": _PADDING[: 8 + len(chunk["payload"]) * 7 % 40]}
        headers = [
            (":event-type", str(chunk["event"])),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ]
        return encode_frame(headers, orjson.dumps(payload))

    # ------------------------------------------------------------ embeddings

    def embeddings(self, emb: SimEmbeddings) -> dict[str, Any]:
        if self._style == "cohere":
            return {
                "id": f"{emb.input_tokens:08x}-0000-4000-8000-000000000000",
                "embeddings": [vec.tolist() for vec in emb.vectors],
                "response_type": "embeddings_floats",
            }
        (vec,) = emb.vectors
        return {"embedding": vec.tolist(), "inputTextTokenCount": emb.input_tokens}

    # ---------------------------------------------------------------- errors

    def error(
        self, message: str, *, type: str, param: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        return {"message": message}

    def fault_error(self, fault: Fault, *, model: str) -> tuple[int, str, str, str | None]:
        if fault == "429":
            return (
                429,
                "Too many requests, please wait before trying again. (simulated by daytwo sim)",
                "ThrottlingException",
                None,
            )
        if fault == "503":
            return (
                503,
                "Bedrock is unable to process your request.",
                "ServiceUnavailableException",
                None,
            )
        return 500, "The server encountered an internal error.", "InternalServerException", None

    # --------------------------------------------------------------- headers

    def headers(
        self, request_id: str, *, stream: bool, processing_ms: int, fault: Fault | None
    ) -> Headers:
        ctype = b"application/vnd.amazon.eventstream" if stream else b"application/json"
        return [
            (b"content-type", ctype),
            (b"x-amzn-RequestId", aws_request_id(request_id).encode()),
        ]

    def dumps(self, data: dict[str, Any]) -> bytes:
        return orjson.dumps(data)


def aws_request_id(request_id: str) -> str:
    """The engine's ``req_<32 hex>`` as AWS writes request ids (a UUID)."""
    h = (request_id.removeprefix("req_") + "0" * 32)[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _event(name: str, **payload: Any) -> dict[str, Any]:
    return {"event": name, "payload": payload}


def _usage(reply: SimReply, output_tokens: int) -> dict[str, Any]:
    return {
        "inputTokens": reply.input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": reply.input_tokens + output_tokens,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }


def _tool_id(call_id: str) -> str:
    return "tooluse_" + call_id.removeprefix("call_")


def _input(arguments: str) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}  # a call cut by maxTokens: Bedrock sends what it parsed
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ Converse → engine request


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, param=None)


def openai_request_from_converse(
    body: dict[str, Any], model: str, *, stream: bool
) -> dict[str, Any]:
    """A Converse request body → the OpenAI-shaped body the engine answers. Raises
    :class:`InvalidRequest` with Bedrock's wording for what Bedrock refuses."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _invalid("The model returned the following errors: messages: field required")
    if not isinstance(raw[0], dict) or raw[0].get("role") != "user":
        raise _invalid(
            "A conversation must start with a user message. Try again with a conversation "
            "that starts with a user message."
        )
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, list) and system:
        text = "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
        messages.append({"role": "system", "content": text})
    uses_tools = False
    for i, msg in enumerate(raw):
        role = msg.get("role") if isinstance(msg, dict) else None
        content = msg.get("content") if isinstance(msg, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, list) or not content:
            raise _invalid(f"messages.{i}: expected a role (user or assistant) and content blocks")
        converted, tools_here = _message(role, content, i)
        uses_tools = uses_tools or tools_here
        messages.extend(converted)
    out: dict[str, Any] = {"model": model, "messages": messages}
    inference = body.get("inferenceConfig")
    if isinstance(inference, dict):
        for ours, theirs in (
            ("max_tokens", "maxTokens"),
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("stop", "stopSequences"),
        ):
            if inference.get(theirs) is not None:
                out[ours] = inference[theirs]
    config = body.get("toolConfig")
    if uses_tools and not isinstance(config, dict):
        raise _invalid(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    if isinstance(config, dict):
        out.update(_tools(config))
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _message(role: str, content: list[Any], i: int) -> tuple[list[dict[str, Any]], bool]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            raise _invalid(f"messages.{i}.content.{j}: expected a content block")
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif "image" in block:
            image = block["image"]
            if not (isinstance(image, dict) and isinstance(image.get("source"), dict)):
                raise _invalid(f"messages.{i}.content.{j}.image: format and source are required")
        elif isinstance(block.get("toolUse"), dict) and role == "assistant":
            use = block["toolUse"]
            arguments = orjson.dumps(use.get("input") or {}).decode()
            calls.append(
                {
                    "id": str(use.get("toolUseId", "")),
                    "type": "function",
                    "function": {"name": str(use.get("name", "")), "arguments": arguments},
                }
            )
        elif isinstance(block.get("toolResult"), dict) and role == "user":
            result = block["toolResult"]
            parts = [
                p["text"]
                if isinstance(p.get("text"), str)
                else orjson.dumps(p.get("json")).decode()
                for p in result.get("content") or ()
                if isinstance(p, dict)
            ]
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": str(result.get("toolUseId", "")),
                    "content": "\n".join(parts),
                }
            )
        elif "cachePoint" in block:
            continue
        else:
            raise _invalid(f"messages.{i}.content.{j}: this content block is not simulated")
    out: list[dict[str, Any]] = list(results)
    if role == "assistant":
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    elif texts or not results:
        out.append({"role": "user", "content": "\n".join(texts)})
    return out, bool(calls or results)


def _tools(config: dict[str, Any]) -> dict[str, Any]:
    tools = []
    for k, tool in enumerate(config.get("tools") or ()):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        schema = spec.get("inputSchema") if isinstance(spec, dict) else None
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("name"), str)
            or not isinstance(schema, dict)
        ):
            raise _invalid(f"toolConfig.tools.{k}: toolSpec with name and inputSchema is required")
        fn = {"name": spec["name"], "parameters": schema.get("json") or {"type": "object"}}
        tools.append({"type": "function", "function": fn})
    out: dict[str, Any] = {"tools": tools}
    choice = config.get("toolChoice")
    if isinstance(choice, dict):
        if "any" in choice:
            out["tool_choice"] = "required"
        elif isinstance(choice.get("tool"), dict):
            out["tool_choice"] = {
                "type": "function",
                "function": {"name": choice["tool"].get("name")},
            }
        elif "auto" in choice:
            out["tool_choice"] = "auto"
    return out


def _malformed(detail: str) -> InvalidRequest:
    return _invalid(f"Malformed input request: {detail}, please reformat your input and try again.")


def _titan_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise _malformed("#: required key [inputText] not found")
    dims = body.get("dimensions", 1024)
    if dims not in _TITAN_DIMENSIONS:
        raise _malformed(f"#/dimensions: {dims} is not a valid enum value")
    return {"model": model, "input": text, "dimensions": dims}


def _cohere_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    texts = body.get("texts")
    if (
        not isinstance(texts, list)
        or not (0 < len(texts) <= _COHERE_MAX_TEXTS)
        or not all(isinstance(t, str) for t in texts)
    ):
        raise _malformed("#/texts: expected an array of 1 to 96 strings")
    if body.get("input_type") not in _COHERE_INPUT_TYPES:
        raise _malformed("#: required key [input_type] not found")
    return {"model": model, "input": texts, "dimensions": 1024}


#: Model id prefix → (embedding style, InvokeModel body → the engine's embeddings body).
_INVOKE: tuple[tuple[str, EmbeddingStyle, Callable[[dict[str, Any], str], dict[str, Any]]], ...] = (
    ("amazon.titan-embed-text", "titan", _titan_body),
    ("amazon.titan-embed-g1-text", "titan", _titan_body),
    ("cohere.embed", "cohere", _cohere_body),
)

_PATH = re.compile(r"^/model/(?P<model>.+)/(?P<op>converse|converse-stream|invoke)$")
_SIGV4 = re.compile(
    rb"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/\d{8}/[a-z0-9-]+/bedrock/aws4_request,\s*"
    rb"SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=[0-9a-f]{64}$"
)


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class BedrockDoor:
    """Bedrock Runtime: ``POST /model/{modelId}/converse|converse-stream|invoke``, SigV4."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._embedders: dict[EmbeddingStyle, Simulator] = {}
        for style in ("titan", "cohere"):
            embedder = Simulator(sim.settings, BedrockFormat(sim.settings, style))
            embedder.engine = sim.engine  # one engine for every door and route
            self._embedders[style] = embedder

    def match(self, path: str) -> tuple[str, str] | None:
        found = _PATH.match(path)
        return (found["model"], found["op"]) if found else None

    def answer(self, route: tuple[str, str], body: dict[str, Any], query: bytes) -> Exchange:
        model, op = route
        try:
            if op == "invoke":
                return _typed(self._invoke(model, body))
            openai_body = openai_request_from_converse(body, model, stream=op == "converse-stream")
        except InvalidRequest as exc:
            return _typed(self.sim.invalid(exc))
        return _typed(self.sim.chat(openai_body))

    def _invoke(self, model: str, body: dict[str, Any]) -> Exchange:
        base = model.rsplit("/", 1)[-1]
        for prefix, style, convert in _INVOKE:
            if base.startswith(prefix):
                openai_body = convert(body, model)
                ex = self._embedders[style].embeddings(openai_body)
                if ex.status == 200:
                    tokens = estimate_input_tokens({"input": openai_body["input"]})
                    ex.headers.append((b"x-amzn-bedrock-input-token-count", str(tokens).encode()))
                return ex
        raise _invalid(
            f"daytwo sim: InvokeModel is simulated for embedding models only, not {model}."
        )

    def authorized(self, headers: Headers, query: bytes, key: bytes) -> bool:
        found = _SIGV4.match(_header(headers, b"authorization") or b"")
        if found is None or _header(headers, b"x-amz-date") is None:
            return False
        signed = found["signed"].split(b";")
        return b"host" in signed and hmac.compare_digest(found["key"], key)

    def unauthorized(self, headers: Headers) -> Exchange:
        auth = _header(headers, b"authorization")
        if auth is None:
            return _error(
                self.sim, 403, "Missing Authentication Token", "MissingAuthenticationTokenException"
            )
        if _SIGV4.match(auth) is None or _header(headers, b"x-amz-date") is None:
            return _error(
                self.sim,
                403,
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                "parameters, and an X-Amz-Date header.",
                "IncompleteSignatureException",
            )
        return _error(
            self.sim,
            403,
            "The security token included in the request is invalid.",
            "UnrecognizedClientException",
        )

    def bad_body(self, status: int, message: str) -> Exchange:
        return _typed(self.sim.error(status, message, type="ValidationException"))


def _error(sim: Simulator, status: int, message: str, name: str) -> Exchange:
    ex = sim.error(status, message, type=name)
    ex.headers.append((b"x-amzn-ErrorType", (name + _ERROR_TYPE_SUFFIX).encode()))
    return ex


def _typed(ex: Exchange) -> Exchange:
    """Name the exception of an error answer in ``x-amzn-ErrorType``, as Bedrock does."""
    if ex.status >= 400:
        name = EXCEPTION_BY_STATUS.get(ex.status, "InternalServerException")
        ex.headers.append((b"x-amzn-ErrorType", (name + _ERROR_TYPE_SUFFIX).encode()))
    return ex

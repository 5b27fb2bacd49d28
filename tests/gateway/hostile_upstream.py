"""A hostile provider for the secrets tests: :class:`HostileUpstream`, a loopback HTTP server
that speaks all five upstream wire formats (OpenAI, Azure OpenAI, Anthropic, Gemini, Bedrock,
told apart by the request path) and echoes the credential it received in every field it can:
error type, code, param and message, ``retry-after``, request-id and rate-limit headers, the
answer's model, id, fingerprint, finish reason and text, a stream's events, and a non-JSON error
body whose 200th byte falls inside the key. Or it answers with a redirect to
:class:`Recorder`, a second server that records whatever reaches it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from daytwo.providers.sim.bedrock_format import encode_frame

#: What the hostile upstream plays (set ``HostileUpstream.mode``).
ANSWER, STREAM, ERROR, TEXT_ERROR, REDIRECT = "answer", "stream", "error", "text_error", "redirect"
#: Where in a non-JSON error body the key starts: it straddles the 200-byte cut.
STRADDLE_AT = 200 - 18


def _credential(headers: Any) -> str:
    """The credential the gateway sent, whichever header the format puts it in."""
    for name in ("x-api-key", "api-key", "x-goog-api-key"):
        if headers.get(name):
            return str(headers[name])
    auth = str(headers.get("authorization", ""))
    if auth.startswith("Bearer "):
        return auth.removeprefix("Bearer ")
    found = re.search(r"Credential=([^/]+)/", auth)  # SigV4: the access key id
    return found.group(1) if found else ""


def _wire(path: str) -> str:
    if path.startswith("/openai/deployments/"):
        return "azure"
    if path.startswith("/v1/chat/") or path.startswith("/v1/embeddings"):
        return "openai"
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/model/"):
        return "bedrock"
    return "gemini"


def _sse(events: list[dict[str, Any]], *, typed: bool = False) -> bytes:
    out = b""
    for e in events:
        if typed:
            out += b"event: " + e["type"].encode() + b"\n"
        out += b"data: " + orjson.dumps(e) + b"\n\n"
    return out


def _frame(name: str, **payload: Any) -> bytes:
    headers = [(":event-type", name), (":content-type", "application/json")]
    return encode_frame([*headers, (":message-type", "event")], orjson.dumps(payload))


def answer(wire: str, k: str) -> tuple[dict[str, str], bytes]:
    """A non-streamed answer in ``wire``'s format with ``k`` in every string field."""
    text = f"echo {k}"
    if wire in ("openai", "azure"):
        body: dict[str, Any] = {
            "id": k,
            "object": "chat.completion",
            "created": 1,
            "model": k,
            "system_fingerprint": k,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": k,
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        return {"x-request-id": k}, orjson.dumps(body)
    if wire == "anthropic":
        body = {
            "id": k,
            "type": "message",
            "role": "assistant",
            "model": k,
            "content": [{"type": "text", "text": text}],
            "stop_reason": k,
            "stop_sequence": k,
            "usage": {"input_tokens": 5, "output_tokens": 3},
        }
        return {"request-id": k}, orjson.dumps(body)
    if wire == "gemini":
        return {}, orjson.dumps(_gemini(k, text))
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": k,
        "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
    }
    return {"x-amzn-requestid": k}, orjson.dumps(body)


def _gemini(k: str, text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": k}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
        "modelVersion": k,
        "responseId": k,
    }


def stream(wire: str, k: str) -> tuple[str, dict[str, str], bytes]:
    """A streamed answer: (content type, headers, body) with ``k`` in every event's fields."""
    text = f"echo {k}"
    if wire in ("openai", "azure"):
        base = {"id": k, "object": "chat.completion.chunk", "created": 1, "model": k}
        base["system_fingerprint"] = k
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            {**base, "choices": [{"index": 0, "delta": {"content": text}}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": k}]},
            {**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
        ]
        return "text/event-stream", {"x-request-id": k}, _sse(events) + b"data: [DONE]\n\n"
    if wire == "anthropic":
        start = {
            "id": k,
            "type": "message",
            "role": "assistant",
            "model": k,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
        events = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": k, "stop_sequence": k},
                "usage": {"output_tokens": 3},
            },
            {"type": "message_stop"},
        ]
        return "text/event-stream", {"request-id": k}, _sse(events, typed=True)
    if wire == "gemini":
        return "text/event-stream", {}, b"data: " + orjson.dumps(_gemini(k, text)) + b"\r\n\r\n"
    frames = b"".join(
        [
            _frame("messageStart", role="assistant"),
            _frame("contentBlockDelta", delta={"text": text}, contentBlockIndex=0),
            _frame("contentBlockStop", contentBlockIndex=0),
            _frame("messageStop", stopReason=k),
            _frame("metadata", usage={"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}),
        ]
    )
    return "application/vnd.amazon.eventstream", {"x-amzn-requestid": k}, frames


def error(wire: str, k: str) -> tuple[dict[str, str], bytes]:
    """A 400 error body in ``wire``'s format, ``k`` in each of its fields and hint headers."""
    hints = {"retry-after": k, "retry-after-ms": k}
    message = f"Incorrect API key provided: {k}"
    if wire in ("openai", "azure"):
        err = {"message": message, "type": k, "code": k, "param": k}
        return {**hints, "x-request-id": k}, orjson.dumps({"error": err})
    if wire == "anthropic":
        err = {"type": k, "message": message}
        return {**hints, "request-id": k}, orjson.dumps({"type": "error", "error": err})
    if wire == "gemini":
        err = {"code": 400, "message": message, "status": k}
        return hints, orjson.dumps({"error": err})
    return {**hints, "x-amzn-errortype": k, "x-amzn-requestid": k}, orjson.dumps(
        {"message": message, "__type": k}
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Recorder:
    """Records every request that reaches it (path, headers, body) and answers a valid OpenAI
    completion, so a followed redirect would show as a 200."""

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.Lock()
        self._seen: list[tuple[str, dict[str, str], bytes]] = []

    def seen(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self._lock:
            return list(self._seen)

    @contextmanager
    def running(self) -> Iterator[Recorder]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with recorder._lock:
                    recorder._seen.append((self.path, dict(self.headers.items()), body))
                _, payload = answer("openai", "followed")
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        with _serving(Handler) as url:
            self.url = url
            yield self


class HostileUpstream:
    """Plays ``mode`` for every request: an echoing answer, stream, JSON or text error, or a
    ``redirect_status`` to ``redirect_to``. Counts the requests it got."""

    def __init__(self) -> None:
        self.url = ""
        self.mode = ANSWER
        self.redirect_status = 307
        self.redirect_to = ""
        #: The status of an ``ERROR`` answer.
        self.error_status = 400
        self._lock = threading.Lock()
        self.paths: list[str] = []

    def requests(self) -> int:
        with self._lock:
            return len(self.paths)

    @contextmanager
    def running(self) -> Iterator[HostileUpstream]:
        up = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with up._lock:
                    up.paths.append(self.path)
                k = _credential(self.headers)
                wire = _wire(self.path)
                mode = up.mode
                if mode == REDIRECT:
                    self.send_response(up.redirect_status)
                    self.send_header("location", f"{up.redirect_to}{self.path}")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if mode == ANSWER:
                    status, ctype, (headers, body) = 200, "application/json", answer(wire, k)
                elif mode == STREAM:
                    status = 200
                    ctype, headers, body = stream(wire, k)
                elif mode == ERROR:
                    status, ctype = up.error_status, "application/json"
                    headers, body = error(wire, k)
                else:  # TEXT_ERROR: the key straddles the 200-byte cut of a non-JSON body
                    status, ctype = 400, "text/plain"
                    headers = {"retry-after": k}
                    body = ("x" * STRADDLE_AT + k + " (see the logs)").encode()
                quota = {
                    "x-ratelimit-limit-requests": k,
                    "x-ratelimit-remaining-requests": k,
                    "x-ratelimit-reset-requests": k,
                    "anthropic-ratelimit-requests-remaining": k,
                }
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                for name, value in {**quota, **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        with _serving(Handler) as url:
            self.url = url
            yield self

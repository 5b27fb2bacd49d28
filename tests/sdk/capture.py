"""A loopback HTTP server that answers chat completions with a fixed answer and keeps every
request's headers: to see exactly what an instrumented client put on the wire."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = {
    "id": "chatcmpl-capture",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class Capture:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.requests: list[dict[str, str]] = []
        #: Answer this many requests with 429 (retry at once) before answering normally.
        self.refuse = 0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def last(self) -> dict[str, str]:
        with self.lock:
            return self.requests[-1]


@contextmanager
def capture_server() -> Iterator[Capture]:
    capture: Capture

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with capture.lock:
                capture.requests.append({k.lower(): v for k, v in self.headers.items()})
                refuse = capture.refuse > 0
                capture.refuse -= refuse
            if refuse:
                body = b'{"error": {"message": "slow down", "type": "rate_limit"}}'
                self.send_response(429)
                self.send_header("retry-after-ms", "1")
            else:
                body = json.dumps(ANSWER).encode()
                self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture = Capture(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
